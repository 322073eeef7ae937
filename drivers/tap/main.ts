// SPDX-License-Identifier: MIT
// drivers/tap/main.ts — the TAP driver: a Linux TAP device behind the driver channel (hosts without XDP).
//
// Usage: node drivers/tap/main.(ts|js) --channel PATH --pool PATH --ifname NAME [--netns NS]
//          [--up 1|0] [--budget N] [--spin-us N] [--tick-ms N] [--stats-ms N]
// with the kick/notify eventfds at fds 3 and 4 (docs/driver-channel.md). It imports only the
// driver channel (src/driver/channel.ts) and src/native.
//
// Start-up: open (or create) the TAP in this process's namespace; with --netns, move it there
// (`ip link set NAME netns NS`: the fd stays attached to the device wherever it lives) and bring
// it up there; then publish state=polling — net_uk's "ready". When this process exits the fd
// closes and the kernel removes the (non-persistent) TAP, wherever it is. Adaptive polling:
// passes back to back while there is work and for spinUs after the last; then the rings' events
// are armed and the loop sleeps on fd 3 and, if it holds free frames, on the TAP's readability.
// A tick (tickMs) keeps the heartbeat going and is the lost-wake-up net; the kernel's statistics
// of the interface are read every statsMs (`ip -s -j link`, asynchronously).
import { execFile, execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ControlWord, stopWithParent } from '../common/lifecycle.js';
import { DRIVER_FD_KICK, DRIVER_FD_NOTIFY, DriverState, mapPool, openChannel } from '../../src/driver/channel.js';
import { EventFd, openTap, type NativeTap } from '../../src/native/index.js';
import { TapEngine } from './engine.js';

const { values: v } = parseArgs({
  options: {
    channel: { type: 'string' },
    pool: { type: 'string' },
    ifname: { type: 'string' },
    netns: { type: 'string' },
    up: { type: 'string', default: '1' },
    budget: { type: 'string', default: '64' },
    'spin-us': { type: 'string', default: '50' },
    'tick-ms': { type: 'string', default: '10' },
    'stats-ms': { type: 'string', default: '1000' },
  },
});

function die(msg: string): never {
  process.stderr.write(`tap driver: ${msg}\n`);
  process.exit(1);
}
if (v.channel === undefined || v.pool === undefined || v.ifname === undefined) die('--channel PATH, --pool PATH and --ifname NAME are required');
const ifname = v.ifname;
if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) die(`--ifname ${JSON.stringify(ifname)}: 1 to 15 letters, digits, '_', '.', '-'`);
if (v.netns !== undefined && !/^[A-Za-z0-9_.-]{1,200}$/.test(v.netns)) die(`--netns ${JSON.stringify(v.netns)}: not a namespace name`);
if (v.up !== '0' && v.up !== '1') die(`--up ${v.up}: 1 or 0`);
const num = (name: string, s: string, min: number): number => {
  const n = Number(s);
  if (!Number.isFinite(n) || n < min) die(`--${name} ${s}: a number ≥ ${min}`);
  return n;
};
const budget = num('budget', v.budget, 1);
const spinMs = num('spin-us', v['spin-us'], 0) / 1000;
const tickMs = num('tick-ms', v['tick-ms'], 1);
const statsMs = num('stats-ms', v['stats-ms'], 0);

const ch = openChannel(v.channel);
const poolRegion = mapPool(v.pool, ch.nFrames, ch.frameBytes);
const kick = EventFd.fromFd(DRIVER_FD_KICK);
const notify = EventFd.fromFd(DRIVER_FD_NOTIFY);
ch.set('pid', process.pid);
ch.set('generation', ch.generation);
ch.set('state', DriverState.starting);

const ipArgs = (args: string[]): string[] => (v.netns !== undefined ? ['-n', v.netns, ...args] : args);
function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

let tap: NativeTap;
let ifindex = 0;
try {
  tap = openTap(ifname);
  try {
    if (v.netns !== undefined) ip(['link', 'set', 'dev', ifname, 'netns', v.netns]);
    if (v.up === '1') ip(ipArgs(['link', 'set', 'dev', ifname, 'up']));
    const m = /^(\d+):/.exec(ip(ipArgs(['-o', 'link', 'show', 'dev', ifname])));
    ifindex = m !== null ? Number(m[1]) : 0;
  } catch (e) {
    tap.close();
    throw e;
  }
} catch (e) {
  ch.set('state', DriverState.stopping);
  die(`${ifname}${v.netns !== undefined ? ` (netns ${v.netns})` : ''}: ${(e as Error).message}`);
}
const engine = new TapEngine(ch, tap, poolRegion.buffer, ifindex);
process.stdout.write(`tap: ${ifname} (ifindex ${ifindex})${v.netns !== undefined ? ` in netns ${v.netns}` : ''}${v.up === '1' ? ', up' : ''}\n`);
ch.set('state', DriverState.polling);

const control = new ControlWord(ch, (c) => engine.control(c));

let scheduled = false;
let asleep = false;
let watchingTap = false;
let stopping = false;
let lastWork = performance.now();

function schedule(delayMs = -1): void {
  if (scheduled || stopping) return;
  scheduled = true;
  if (control.slow) setTimeout(run, 1);
  else if (delayMs >= 0) setTimeout(run, delayMs);
  else setImmediate(run);
}

function wake(): void {
  if (watchingTap) {
    watchingTap = false;
    tap.unwatch();
  }
  if (!asleep) return;
  asleep = false;
  ch.bump('wakeups');
  schedule();
}

function run(): void {
  scheduled = false;
  if (stopping) return;
  if (control.read()) {
    // Hung: no progress, no heartbeat; look at the control word now and then so a test can resume us.
    scheduled = true;
    setTimeout(run, 20);
    return;
  }
  ch.bump('heartbeat');
  ch.set('state', DriverState.polling);
  const now = performance.now();
  const work = engine.pass(control.slow ? 1 : budget);
  if (engine.push()) notify.signal();
  if (work > 0) {
    ch.bump('busyPasses');
    lastWork = now;
    schedule();
    return;
  }
  if (now - lastWork < spinMs) {
    schedule();
    return;
  }
  if (engine.txAgain || engine.deviceStopped) {
    // The kernel refused a write for now (or the device is "stopped"): no event will come; nap.
    schedule(1);
    return;
  }
  // Idle: arm every event we sleep on, then re-check (ring.h's final check).
  if (ch.tx.finalCheckForRequests() || ch.rx.finalCheckForRequests()) {
    schedule();
    return;
  }
  asleep = true;
  ch.set('state', DriverState.sleeping);
  ch.bump('sleeps');
  if (engine.postedRx > 0) {
    watchingTap = true;
    tap.watch(wake); // level-triggered: fires at once if frames arrived meanwhile
  }
}

let statsBusy = false;
let lastStats = 0;
function readStats(): void {
  if (statsBusy || statsMs === 0) return;
  statsBusy = true;
  execFile('ip', ipArgs(['-s', '-j', 'link', 'show', 'dev', ifname]), { encoding: 'utf8' }, (err, out) => {
    statsBusy = false;
    if (err !== null || stopping) return;
    try {
      const s = (JSON.parse(out) as { stats64?: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } } }[])[0]?.stats64;
      if (s !== undefined) engine.publishKernelStats(s);
    } catch {
      // an ip without -j: no kernel statistics
    }
  });
}

kick.watch(() => wake());
// Tick: heartbeat while asleep, kernel statistics, and a net against a lost wake-up.
setInterval(() => {
  const now = performance.now();
  if (statsMs > 0 && now - lastStats >= statsMs) {
    lastStats = now;
    readStats();
  }
  if (!asleep || stopping) return;
  ch.bump('heartbeat');
  wake();
}, tickMs).unref();

function stop(): void {
  if (stopping) return;
  stopping = true;
  ch.set('state', DriverState.stopping);
  if (watchingTap) tap.unwatch();
  tap.close(); // the kernel removes the TAP with its last fd
  engine.returnAll();
  if (engine.push()) notify.signal();
  kick.close();
  process.exit(0);
}
stopWithParent(stop);
schedule();
readStats();
