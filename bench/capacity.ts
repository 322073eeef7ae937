// SPDX-License-Identifier: MIT
// bench/capacity.ts — what the backend itself carries into AF_XDP on a veth, next to what raw AF_XDP carries there.
//
//   ours: phoenix netfront (generator mode, no TAP: 64-byte frames to the peer's MAC as fast as its
//         ring takes them) → shm rings → phoenix serve → driver channel → drivers/afxdp on `up0`
//   raw:  tools/xdp-raw-tx (C, one AF_XDP socket, batches of 64) on the same `up0`, after serve
//         has let go of it
//   both: ══ veth ══ `eth0` in the peer namespace, whose kernel stack drops the frames (EtherType
//         0x88B5, nobody listens); "delivered" is eth0's rx_packets, read from /proc/<pid>/net/dev
//         of a process parked in that namespace (no command per sample).
// The rate is taken over the middle of the sending time (the first and last ~10–20% are left out:
// start-up and drain). Namespaces `<prefix>-<pid>-<n>-be|-peer`, the shm run directory and every
// process are removed by close(), by a process 'exit' hook, or by the next sweepStale(prefix).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { destroyNetns, inNs, ip, sweepStale } from '../src/sandbox/netns.js';
import { ShmWorld } from '../src/sandbox/shmworld.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the source (bench/) or the build (dist/bench/). */
export const REPO_ROOT = import.meta.url.endsWith('.ts') ? resolve(here, '..') : resolve(here, '../..');

/** Build tools/xdp-raw-tx.c into build/xdp-raw-tx unless an up-to-date binary is there. */
export function ensureRawTx(): string {
  const src = resolve(REPO_ROOT, 'tools/xdp-raw-tx.c');
  const bin = resolve(REPO_ROOT, 'build/xdp-raw-tx');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  try {
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { code?: string; stderr?: Buffer };
    throw new Error(`cannot build ${bin} from ${src}: ${err.code === 'ENOENT' ? 'no C compiler (apt-get install gcc)' : (err.stderr?.toString() ?? err.message)}`);
  }
  return bin;
}

export interface CapacityRun {
  /** Frames/s delivered to the peer over the measured window. */
  pps: number;
  /** What the sender says it sent (netfront: frames; raw: its own completion rate). */
  sender: string;
  /** Share of one CPU each process used over the window (ours: netfront, serve, driver). */
  cpu?: Record<string, number>;
}

const CLK_TCK = 100;

/** User + system CPU seconds of a process (0 once it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** eth0's rx_packets in a namespace, read through a process parked there. */
class RxCounter {
  private constructor(readonly proc: ChildProcess) {}

  static async open(netns: string): Promise<RxCounter> {
    const proc = spawn('ip', ['netns', 'exec', netns, 'sleep', 'infinity'], { stdio: 'ignore' });
    const c = new RxCounter(proc);
    // `ip netns exec` enters the namespace, then execs sleep under the same pid.
    for (let i = 0; i < 200; i++) {
      try {
        if (readFileSync(`/proc/${proc.pid}/comm`, 'utf8').trim() === 'sleep') return c;
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    proc.kill('SIGKILL');
    throw new Error(`could not park a process in ${netns} to read its counters`);
  }

  rxPackets(ifname: string): number {
    for (const line of readFileSync(`/proc/${this.proc.pid}/net/dev`, 'utf8').split('\n')) {
      const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
      if (m !== null && m[1] === ifname) return Number(m[2]!.trim().split(/\s+/)[1]);
    }
    throw new Error(`no ${ifname} in /proc/${this.proc.pid}/net/dev`);
  }

  close(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Rate of `count()` between t0+warm and t0+seconds-tail (performance.now() times), and the CPU
 * share each of `pids` used over the same window.
 */
async function windowRate(t0: number, seconds: number, count: () => number, pids: Record<string, number> = {}): Promise<{ pps: number; cpu: Record<string, number> }> {
  const warm = Math.min(1000, seconds * 200);
  const tail = Math.min(500, seconds * 100);
  await sleep(Math.max(0, t0 + warm - performance.now()));
  const a = count();
  const ca = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  const ta = performance.now();
  await sleep(Math.max(0, t0 + seconds * 1000 - tail - performance.now()));
  const b = count();
  const tb = performance.now();
  const cpu = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, Math.round(((cpuSeconds(p) - ca[k]!) / ((tb - ta) / 1000)) * 100) / 100]));
  return { pps: ((b - a) / (tb - ta)) * 1000, cpu };
}

let serial = 0;

export interface CapacityBench {
  /** The backend carrying 64-byte frames from a generating netfront into afxdp. */
  ours(seconds: number): Promise<CapacityRun>;
  /** tools/xdp-raw-tx on the same veth. */
  raw(seconds: number): Promise<CapacityRun>;
  close(): Promise<void>;
}

export const CAPACITY_FRAME = 64;

export async function openCapacityBench(prefix = 'phxcap', niceGenerator = true): Promise<CapacityBench> {
  const rawTx = ensureRawTx();
  await sweepStale(prefix);
  const p = `${prefix}-${process.pid}-${serial++}`;
  const beNs = `${p}-be`;
  const peerNs = `${p}-peer`;
  const made: string[] = [];
  const cleanup = (): void => {
    for (const ns of made) destroyNetns(ns);
  };
  process.on('exit', cleanup);
  let counter: RxCounter | undefined;
  try {
    for (const ns of [beNs, peerNs]) {
      made.push(ns);
      ip(['netns', 'add', ns]);
      inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    ip(['link', 'add', 'name', 'up0', 'netns', beNs, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peerNs, 'numtxqueues', '1', 'numrxqueues', '1']);
    ip(['link', 'set', 'dev', 'up0', 'up'], beNs);
    ip(['link', 'set', 'dev', 'eth0', 'up'], peerNs);
    const peerMac = /link\/ether (\S+)/.exec(ip(['link', 'show', 'dev', 'eth0'], peerNs))?.[1];
    if (peerMac === undefined) throw new Error(`no MAC on eth0 in ${peerNs}`);
    counter = await RxCounter.open(peerNs);
    const rx = counter;
    const delivered = (): number => rx.rxPackets('eth0');
    const bench: CapacityBench = {
      async ours(seconds) {
        const world = await ShmWorld.create(p);
        try {
          // Generous timeouts: on a loaded 2-core machine serve and its driver may take a while to start.
          const be = world.spawn(['serve', '--xenstore', world.socket, '--uplink', `afxdp:ifname=up0,queue=0,netns=${beNs}`, '--uplink-timeout-ms', '120000']);
          await be.waitEvent('ready', 150_000);
          const driverPid = Number((be.lines.find((l) => l.event === 'ready')?.uplink as { pid?: number } | undefined)?.pid ?? 0);
          const s = String(CAPACITY_FRAME);
          const g = await world.startGuest(1, '00:16:3e:99:ca:01', ['--send-to', peerMac, '--duration-s', String(seconds), '--min', s, '--max', s, '--no-scatter', '--no-verify', '--idle-ms', '3000']);
          // The generator polls its TX ring flat out when it is full; on 2 cores that takes the CPU
          // serve and the driver need. It is a test artifact, not part of what is measured: it
          // runs at the lowest priority (niceGenerator false: as it is).
          if (niceGenerator) setPriority(g.pid, 19);
          const t0 = performance.now();
          g.proc.stdin!.write('go\n');
          const { pps, cpu } = await windowRate(t0, seconds, delivered, { netfront: g.pid, serve: be.pid, ...(driverPid > 0 ? { driver: driverPid } : {}) });
          const done = await g.waitEvent('done', (seconds + 60) * 1000);
          return { pps, cpu, sender: `phoenix netfront sent ${String(done.sent)} frames in ${Number(done.elapsed_s).toFixed(2)} s` };
        } finally {
          await world.close();
        }
      },
      async raw(seconds) {
        const c = spawn('ip', ['netns', 'exec', beNs, rawTx, '-i', 'up0', '-s', String(CAPACITY_FRAME), '-t', String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<number | null>((r) => c.on('exit', r));
        try {
          const { pps, cpu } = await windowRate(performance.now(), seconds, delivered, c.pid !== undefined ? { 'xdp-raw-tx': c.pid } : {});
          const code = await exited;
          if (code !== 0) throw new Error(`${rawTx} -i up0 (in ${beNs}) exited with ${code}: ${out.slice(-500)}`);
          return { pps, cpu, sender: out.trim().split('\n').pop() ?? '' };
        } finally {
          if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        }
      },
      async close() {
        rx.close();
        cleanup();
        process.off('exit', cleanup);
      },
    };
    return bench;
  } catch (e) {
    counter?.close();
    cleanup();
    process.off('exit', cleanup);
    throw e;
  }
}
