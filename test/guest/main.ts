// SPDX-License-Identifier: MIT
// main.ts — `phoenix netfront`: run a test guest as its own process, send and check traffic.
//
// The process is its own toolstack (it creates its shm domain and vif nodes through dom0's
// xenstore socket, as `xl create` would), then talks to xenstore as the guest. It prints one JSON
// line per event on stdout: {"event":"connected",...}, then waits for "go" on stdin if --wait-go,
// sends --count frames to --send-to, and exits after printing {"event":"done",...} once it has
// received --expect frames (or --idle-ms passed without any). With --tap NAME it instead bridges
// a TAP device (in --netns NS) to the vif (tapmode.ts, tapbridge.ts): Linux is the guest's stack.
import { parseArgs } from 'node:util';
import { unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseMac } from '../../src/switch/l2switch.js';
import { XenstoreClient } from '../../src/transport/xenstore/client.js';
import { createShmDomain, createVif, setShmDomainPid } from '../../src/transport/shm/toolstack.js';
import { TestNetfront } from './netfront.js';
import { openGuestTap, runTapBridge } from './tapmode.js';
import { buildFrame, MAX_FRAME, sizeFor, stampSeq, TrafficChecker } from './traffic.js';

export const NETFRONT_HELP = `phoenix netfront — a test guest (netfront) on the shm transport

Usage: phoenix netfront --xenstore SOCK --domid N --mac MAC --run-dir DIR [options]

  --xenstore SOCK   dom0 socket of phoenix xenstored (the guest connects through its own socket)
  --domid N         this guest's domain id (1..65535)
  --devid N         vif device id (default 0)
  --mac MAC         this vif's MAC, e.g. 00:16:3e:00:00:01
  --run-dir DIR     where the domain's memory file goes (e.g. /dev/shm/phoenix-XYZ)
  --send-to MAC     destination of generated frames
  --count N         frames to send (default 0)
  --min B --max B   frame sizes, 60..1514 (default 60..1514, deterministic mix)
  --flow N          flow id stamped in frames (default = domid)
  --expect N        frames to receive before exiting (default 0)
  --idle-ms MS      give up after this long without progress (default 10000)
  --no-verify       skip payload checksums at the receiver (benchmarks)
  --no-scatter      keep each frame in one slot
  --wait-go         after connecting, wait for a line "go" on stdin before sending
  --duration-s S    send for S seconds instead of --count (benchmark mode)
  --spin-us US      keep polling US microseconds after the last work before sleeping on events (default 50)
  -h, --help        this text

TAP mode (real Linux programs send through the vif; needs root/CAP_NET_ADMIN):
  --tap NAME        create TAP interface NAME and bridge it to the vif: frames Linux sends on it
                    become TX requests, frames the backend delivers are written to it. It gets
                    the vif's MAC (--mac) and is brought up. --send-to/--count/--expect do not
                    apply. Runs until SIGTERM/SIGINT, EOF on a piped stdin, or the parent's
                    death; then prints {"event":"done","tap":{counters}} (frames the kernel
                    refused are counted in tapWriteDropped, TX-ring-full pauses in txRingFull).
  --netns NS        move the TAP into network namespace NS (/run/netns/NS, \`ip netns add NS\`)
  --addr CIDR       give the TAP this IPv4 address, e.g. 10.0.0.10/24

  Example: ip netns add g1; phoenix netfront --xenstore S --domid 1 --mac 00:16:3e:00:00:01 \\
             --run-dir D --tap g1tap --netns g1 --addr 10.0.0.10/24
           ip netns exec g1 ping 10.0.0.1
`;

export async function runNetfront(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      xenstore: { type: 'string' },
      domid: { type: 'string' },
      devid: { type: 'string', default: '0' },
      mac: { type: 'string' },
      'run-dir': { type: 'string' },
      'send-to': { type: 'string' },
      count: { type: 'string', default: '0' },
      min: { type: 'string', default: '60' },
      max: { type: 'string', default: '1514' },
      flow: { type: 'string' },
      expect: { type: 'string', default: '0' },
      'idle-ms': { type: 'string', default: '10000' },
      'no-verify': { type: 'boolean', default: false },
      'no-scatter': { type: 'boolean', default: false },
      'wait-go': { type: 'boolean', default: false },
      'duration-s': { type: 'string' },
      'spin-us': { type: 'string', default: '50' },
      tap: { type: 'string' },
      netns: { type: 'string' },
      addr: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(NETFRONT_HELP);
    return;
  }
  const need = (k: string, x: string | undefined): string => {
    if (x === undefined) throw new Error(`phoenix netfront: --${k} is required (see --help)`);
    return x;
  };
  const domid = Number(need('domid', v.domid));
  if (!Number.isInteger(domid) || domid < 1 || domid > 65535) throw new Error(`phoenix netfront: --domid must be 1..65535, got ${v.domid}`);
  const devid = Number(v.devid);
  const mac = need('mac', v.mac);
  parseMac(mac);
  const runDir = need('run-dir', v['run-dir']);
  const memPath = `${runDir}/dom${domid}`;
  const min = Math.max(60, Number(v.min));
  const max = Math.min(MAX_FRAME, Number(v.max));
  const count = Number(v.count);
  const expect = Number(v.expect);
  const idleMs = Number(v['idle-ms']);
  const flow = Number(v.flow ?? domid);
  const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
  if (v.tap === undefined && (v.netns !== undefined || v.addr !== undefined)) throw new Error('phoenix netfront: --netns and --addr go with --tap NAME');
  if (v.tap !== undefined && (v['send-to'] !== undefined || count > 0 || expect > 0 || v['duration-s'] !== undefined)) throw new Error('phoenix netfront: --tap bridges Linux traffic; --send-to/--count/--expect/--duration-s do not apply');
  // Before any xenstore work, so a bad name or a missing namespace fails fast.
  const tap = v.tap !== undefined ? openGuestTap({ name: v.tap, mac, ...(v.netns !== undefined ? { netns: v.netns } : {}), ...(v.addr !== undefined ? { addr: v.addr } : {}) }) : null;

  // --- toolstack part, as dom0
  const xs0 = await XenstoreClient.connect(need('xenstore', v.xenstore));
  const img = await createShmDomain(xs0, { domid, memPath, nrPages: 600, name: `netfront${domid}` });
  img.close();
  await setShmDomainPid(xs0, domid, process.pid);
  await createVif(xs0, { frontDomid: domid, devid, mac });
  const guestSocket = await xs0.introduce(domid);
  await xs0.close();

  // --- guest part
  const nf = await TestNetfront.connect({ xenstoreSocket: guestSocket, domid, devid, memPath, scatter: !v['no-scatter'] });
  const checker = new TrafficChecker();
  checker.verifyPayload = !v['no-verify'];
  let lastProgress = performance.now();
  nf.onFrame = (buf, off, len) => {
    checker.check(buf, off, len);
    lastProgress = performance.now();
  };
  out({ event: 'connected', domid, devid, mac, pid: process.pid, ...(tap !== null ? { tap: tap.name } : {}) });
  if (v['wait-go']) await waitGo();
  if (tap !== null) {
    const bridge = await runTapBridge(nf, tap, { spinUs: Number(v['spin-us']), out });
    out({ event: 'done', domid, tx: nf.stats, tap: bridge.counters });
    await nf.close();
    rmMem(memPath);
    return;
  }

  const dst = v['send-to'] !== undefined ? parseMac(v['send-to']) : null;
  const src = parseMac(mac);
  const frame = new Uint8Array(2048);
  let seq = 0;
  const t0 = performance.now();
  const durationMs = v['duration-s'] !== undefined ? Number(v['duration-s']) * 1000 : Infinity;
  // With --no-verify and one size, build the frame once and only restamp its sequence number.
  const fast = v['no-verify'] && min === max;
  let fastLen = -1;
  const sendMore = (): boolean => {
    if (dst === null) return false;
    let n = 0;
    let timeUp = false;
    while ((durationMs !== Infinity || seq < count) && n < 256) {
      if (durationMs !== Infinity && (seq & 1023) === 0 && performance.now() - t0 > durationMs) {
        timeUp = true;
        break;
      }
      const len = sizeFor(seq, min, max);
      if (fast && len === fastLen) stampSeq(frame, 0, seq);
      else {
        buildFrame(frame, 0, dst, src, flow, seq, len);
        fastLen = len;
      }
      if (!nf.send(frame, 0, len)) break;
      seq++;
      n++;
    }
    if (n > 0) {
      nf.flushTx();
      lastProgress = performance.now();
    }
    if (timeUp) return false;
    return durationMs !== Infinity ? true : seq < count;
  };

  const spinMs = Number(v['spin-us']) / 1000;
  await new Promise<void>((resolve) => {
    let sending = true;
    let lastWork = performance.now();
    let spinScheduled = false;
    // A notification means traffic: poll now and go back to spinning (without spinning: just poll).
    if (spinMs > 0) nf.onWake = () => {
      lastWork = performance.now();
      if (!spinScheduled) {
        spinScheduled = true;
        setImmediate(tick);
      }
    };
    const tick = (): void => {
      spinScheduled = false;
      const now = performance.now();
      // Adaptive polling: busy for --spin-us after the last work, then sleep on events.
      const spinning = now - lastWork < spinMs;
      if (nf.poll(!spinning && !sending)) lastWork = now;
      if (sending) {
        sending = sendMore();
        lastWork = now;
      }
      const got = checker.total().received;
      const txDone = !sending && nf.stats.txOk + nf.stats.txErr >= nf.stats.txSent;
      if (txDone && got >= expect) return resolve();
      if (now - lastProgress > idleMs) return resolve();
      if (sending || spinning) {
        if (!spinScheduled) {
          spinScheduled = true;
          setImmediate(tick);
        }
      } else setTimeout(tick, 20); // events drive us; this is only a safety net
    };
    nf.onTxSpace = () => undefined;
    tick();
  });
  const elapsed = (performance.now() - t0) / 1000;
  const t = checker.total();
  out({ event: 'done', domid, sent: seq, tx: nf.stats, rx: t, other: checker.other, flows: Object.fromEntries(checker.flows), elapsed_s: elapsed });
  await nf.close();
  rmMem(memPath);
}

function rmMem(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

function waitGo(): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      if (l.trim() === 'go') {
        rl.close();
        resolve();
      }
    });
  });
}
