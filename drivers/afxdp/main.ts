// SPDX-License-Identifier: MIT
// drivers/afxdp/main.ts — the AF_XDP driver: any Linux NIC (a veth in tests) behind the driver channel.
//
// Usage: node drivers/afxdp/main.(ts|js) --channel PATH --pool PATH --ifname IF [--queue N]
//          [--netns NAME] [--xdp auto|native|generic] [--zero-copy auto|force|never]
//          [--fill N] [--budget N] [--spin-us N] [--tick-ms N] [--stats-ms N]
// with the kick/notify eventfds at fds 3 and 4 (docs/driver-channel.md). It imports only the
// driver channel (src/driver/channel.ts), src/xsk, src/ring (through the channel) and src/native.
//
// The pool file is registered as the socket's UMEM (engine.ts moves requests and completions;
// docs/afxdp.md has the whole story). On start it prints one line saying which modes it got
// ("veth0 q0: copy mode, native XDP (prog 42)") and publishes them in the counters page
// (counters.ts). Adaptive polling: passes back to back while there is work and for spinUs
// after the last; then it arms the rings' events and sleeps on fd 3 and on the socket's
// readability (RX); with completions outstanding it also sets a 1 ms timer (the kernel signals
// no event for completions) — a frame received meanwhile still wakes it at once.
// A tick (tickMs) keeps the heartbeat going while asleep and is the lost-wake-up net. SIGTERM:
// close the socket (the kernel lets go of every frame), hand every frame back, exit 0.
import { parseArgs } from 'node:util';
import { ControlWord, stopWithParent } from '../common/lifecycle.js';
import { DRIVER_FD_KICK, DRIVER_FD_NOTIFY, DriverState, mapPool, openChannel } from '../../src/driver/channel.js';
import { EventFd, XSK_POLL_IN, XSK_MIN_FILL, type XdpMode, type ZeroCopyMode } from '../../src/native/index.js';
import { XskSocket } from '../../src/xsk/socket.js';
import { AfxdpEngine } from './engine.js';

const { values: v } = parseArgs({
  options: {
    channel: { type: 'string' },
    pool: { type: 'string' },
    ifname: { type: 'string' },
    queue: { type: 'string', default: '0' },
    netns: { type: 'string' },
    xdp: { type: 'string', default: 'auto' },
    'zero-copy': { type: 'string', default: 'auto' },
    fill: { type: 'string', default: String(XSK_MIN_FILL) },
    budget: { type: 'string', default: '64' },
    'spin-us': { type: 'string', default: '50' },
    'tick-ms': { type: 'string', default: '10' },
    'stats-ms': { type: 'string', default: '50' },
  },
});

function die(msg: string): never {
  process.stderr.write(`afxdp driver: ${msg}\n`);
  process.exit(1);
}
if (v.channel === undefined || v.pool === undefined || v.ifname === undefined) die('--channel PATH, --pool PATH and --ifname IF are required');
const xdp = v.xdp as XdpMode;
if (!['auto', 'native', 'generic'].includes(xdp)) die(`--xdp ${xdp}: auto, native or generic`);
const zeroCopy = v['zero-copy'] as ZeroCopyMode;
const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

const ch = openChannel(v.channel);
const poolRegion = mapPool(v.pool, ch.nFrames, ch.frameBytes);
const kick = EventFd.fromFd(DRIVER_FD_KICK);
const notify = EventFd.fromFd(DRIVER_FD_NOTIFY);
const budget = Number(v.budget);
const spinMs = Number(v['spin-us']) / 1000;
const tickMs = Number(v['tick-ms']);
const statsMs = Number(v['stats-ms']);

ch.set('pid', process.pid);
ch.set('generation', ch.generation);
ch.set('state', DriverState.starting);

let xsk: XskSocket;
try {
  // TX and completion rings hold every frame net_uk can have in flight; fill ≥ 8K (and ≥ what
  // net_uk may post) so the device never runs dry while this process is off the CPU.
  const txSize = Math.max(2048, pow2(ch.tx.size));
  xsk = await XskSocket.openWhenFree({
    ifname: v.ifname,
    queue: Number(v.queue),
    ...(v.netns !== undefined ? { netns: v.netns } : {}),
    umem: poolRegion.buffer,
    frames: ch.nFrames,
    frameSize: ch.frameBytes,
    fillSize: Math.max(Number(v.fill), pow2(ch.rx.size)),
    completionSize: txSize,
    rxSize: Math.max(4096, pow2(ch.rx.size)),
    txSize,
    xdp,
    zeroCopy,
  });
} catch (e) {
  ch.set('state', DriverState.stopping);
  die((e as Error).message);
}
const engine = new AfxdpEngine(ch, xsk, poolRegion.buffer);
process.stdout.write(`afxdp: ${xsk.describe()}${xsk.xdpFallback ? ` (native XDP failed: ${xsk.xdpFallback})` : ''}\n`);
ch.set('state', DriverState.polling);

const control = new ControlWord(ch, (c) => engine.control(c));

let scheduled = false;
let asleep = false;
let stopping = false;
let lastWork = performance.now();
let lastStats = 0;
let nap: NodeJS.Timeout | null = null;

function schedule(delayMs = -1): void {
  if (scheduled || stopping) return;
  scheduled = true;
  if (control.slow) setTimeout(run, 1);
  else if (delayMs >= 0) setTimeout(run, delayMs);
  else setImmediate(run);
}

function wake(): void {
  if (!asleep) return;
  asleep = false;
  if (nap !== null) {
    clearTimeout(nap);
    nap = null;
  }
  xsk.unwatch();
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
  if (now - lastStats >= statsMs) {
    lastStats = now;
    engine.publishStats();
  }
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
  // Idle: arm every event we sleep on, then re-check (ring.h's final check).
  if (ch.tx.finalCheckForRequests() || ch.rx.finalCheckForRequests()) {
    schedule();
    return;
  }
  asleep = true;
  ch.set('state', DriverState.sleeping);
  ch.bump('sleeps');
  xsk.watch(XSK_POLL_IN, wake); // level-triggered: fires at once if frames arrived meanwhile
  // Completions still owed: the kernel will not wake us for them, so look again in 1 ms (a
  // received frame or a kick wakes us sooner: napping blind would delay a reply by up to 1 ms).
  if (engine.pendingTx > 0) nap = setTimeout(wake, 1);
}

kick.watch(() => wake());
// Tick: heartbeat and statistics while asleep, and a net against a lost wake-up.
setInterval(() => {
  if (!asleep || stopping) return;
  ch.bump('heartbeat');
  engine.publishStats();
  engine.publishRings();
  wake();
}, tickMs).unref();

function stop(): void {
  if (stopping) return;
  stopping = true;
  ch.set('state', DriverState.stopping);
  xsk.close(); // detaches the XDP program; the kernel no longer touches any pool frame
  engine.returnAll();
  if (engine.push()) notify.signal();
  kick.close();
  process.exit(0);
}
stopWithParent(stop);
schedule();
