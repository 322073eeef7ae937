// SPDX-License-Identifier: MIT
// bench/path.ts — `phoenix bench path`: our whole path next to the kernel bridge path, same generators, one run.
//
//   ours:   guest ns ─ TAP ─ phoenix netfront ─ shm rings ─ phoenix serve ─ drivers/afxdp ═ veth ═ peer ns
//           (src/sandbox/path.ts)
//   kernel: guest ns ═ veth ═ Linux bridge ═ veth ═ peer ns (src/sandbox/kernel-path.ts)
// Both sandboxes exist at once with the same addresses and MACs; every measurement runs on one,
// then at once on the other (the order alternates from run to run, so a drift in the machine's
// load does not favour either side). With --runs N each figure is the median of N, and the JSON
// keeps every sample (`samples`) so the noise can be judged. backend_capacity is bench/capacity.ts.
// The result is data only: nothing here asserts a goal; `goals` says whether each one was met.
import { loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { buildKernelPath, type KernelPath } from '../src/sandbox/kernel-path.js';
import { buildPathSandbox, type PathSandbox } from '../src/sandbox/path.js';
import type { Logger } from '../src/util/log.js';
import { CAPACITY_FRAME, openCapacityBench } from './capacity.js';
import {
  type Endpoints,
  iperf3Tcp,
  iperf3TcpArgs,
  iperf3Udp,
  iperf3UdpArgs,
  sockperfArgs,
  sockperfPingPong,
  startIperf3Server,
  startSockperfServer,
  udpPayloadFor,
} from './generators.js';

export interface PathBenchOptions {
  /** Seconds per measurement (default 5). */
  durationS?: number;
  /** Repetitions; figures are medians (default 1). */
  runs?: number;
  /** Name prefix of the sandboxes (default 'phxbench'). */
  prefix?: string;
  log?: Logger;
  /** Progress lines (e.g. to stderr). */
  progress?: (line: string) => void;
}

export interface Compared {
  ours: number;
  kernel: number;
  ratio: number;
  unit: string;
}

export interface PathBenchResult {
  bench: 'path';
  tcp: Compared;
  udp64: Compared;
  udp1514: Compared;
  latency_p50: Compared;
  latency_p99: Compared;
  latency_p999: Compared;
  backend_capacity: { ours: number; raw_afxdp: number; ratio: number; unit: 'pps' };
  generators: Record<string, string>;
  paths: { ours: string; kernel: string };
  params: Record<string, unknown>;
  goals: Record<string, { goal: string; met: boolean }>;
  samples: Record<string, { ours: number[]; kernel: number[] } | { ours: number[]; raw_afxdp: number[] }>;
  elapsed_s: number;
}

const FIGURES = ['tcp', 'udp64', 'udp1514', 'latency_p50', 'latency_p99', 'latency_p999'] as const;
type Figure = (typeof FIGURES)[number];
const UNITS: Record<Figure, string> = { tcp: 'Gbit/s', udp64: 'pps', udp1514: 'pps', latency_p50: 'us', latency_p99: 'us', latency_p999: 'us' };

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;
/** Three significant digits at least, no float noise. */
const sig = (x: number): number => (Math.abs(x) >= 1000 ? Math.round(x) : round(x, 3));

function toolVersion(cmd: string, args: string[], re: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[1] ?? '?';
  } catch (e) {
    throw new Error(`${cmd} is needed for bench path: apt-get install ${cmd} (${(e as Error).message.split('\n')[0]})`);
  }
}

function endpoints(x: PathSandbox | KernelPath): Endpoints {
  return { guestNs: x.guests[0]!.netns, peerNs: x.peer.netns, peerIp: x.peer.ip, exec: (ns, cmd, args, opts) => x.exec(ns, cmd, args, opts) };
}

export async function benchPath(o: PathBenchOptions = {}): Promise<PathBenchResult> {
  const seconds = o.durationS ?? 5;
  const runs = o.runs ?? 1;
  if (!(seconds >= 1 && seconds <= 600)) throw new Error(`bench path: --duration-s must be 1..600, got ${seconds}`);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error(`bench path: --runs must be 1..50, got ${runs}`);
  const say = o.progress ?? (() => undefined);
  const iperfV = toolVersion('iperf3', ['--version'], /iperf (\S+)/);
  const sockperfV = toolVersion('sockperf', ['--version'], /version (\S+)/);
  const prefix = o.prefix ?? 'phxbench';
  const t0 = performance.now();
  const load0 = loadavg();
  const samples = {} as Record<Figure, { ours: number[]; kernel: number[] }>;
  for (const f of FIGURES) samples[f] = { ours: [], kernel: [] };
  const cap = { ours: [] as number[], raw_afxdp: [] as number[] };
  const udpLost = { ours: [] as number[], kernel: [] as number[] };

  say('building our path (afxdp) and the kernel bridge path');
  const built = await Promise.allSettled([
    buildPathSandbox({ driver: 'afxdp', prefix: `${prefix}o`, ...(o.log !== undefined ? { log: o.log } : {}) }),
    buildKernelPath({ prefix: `${prefix}k`, ...(o.log !== undefined ? { log: o.log } : {}) }),
  ]);
  if (built[0].status === 'rejected' || built[1].status === 'rejected') {
    // Whichever was built goes away again before the error is reported.
    await Promise.all(built.map((b) => (b.status === 'fulfilled' ? b.value.close() : undefined)));
    throw (built[0].status === 'rejected' ? built[0].reason : (built[1] as PromiseRejectedResult).reason) as Error;
  }
  const ours = built[0].value;
  const kernel = built[1].value;
  const sides = { ours: endpoints(ours), kernel: endpoints(kernel) } as const;
  try {
    const servers = await Promise.all([startIperf3Server(sides.ours), startIperf3Server(sides.kernel), startSockperfServer(sides.ours), startSockperfServer(sides.kernel)]);
    try {
      for (let r = 0; r < runs; r++) {
        const order: ('ours' | 'kernel')[] = r % 2 === 0 ? ['ours', 'kernel'] : ['kernel', 'ours'];
        for (const side of order) {
          say(`run ${r + 1}/${runs}: ${side}: iperf3 TCP`);
          samples.tcp[side].push(await iperf3Tcp(sides[side], seconds));
        }
        for (const [fig, frame] of [['udp64', 64], ['udp1514', 1514]] as const) {
          for (const side of order) {
            say(`run ${r + 1}/${runs}: ${side}: iperf3 UDP ${frame}-byte frames`);
            const u = await iperf3Udp(sides[side], seconds, frame);
            samples[fig][side].push(u.pps);
            if (frame === 64) udpLost[side].push(u.sent > 0 ? u.lost / u.sent : 0);
          }
        }
        for (const side of order) {
          say(`run ${r + 1}/${runs}: ${side}: sockperf ping-pong`);
          const l = await sockperfPingPong(sides[side], seconds);
          samples.latency_p50[side].push(l.p50);
          samples.latency_p99[side].push(l.p99);
          samples.latency_p999[side].push(l.p999);
        }
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  } finally {
    await Promise.all([ours.close(), kernel.close()]);
  }

  say('backend capacity: phoenix netfront → serve → afxdp, then raw AF_XDP, on one veth');
  const capBench = await openCapacityBench(`${prefix}c`);
  let capSenders: Record<string, unknown> = {};
  try {
    for (let r = 0; r < runs; r++) {
      const a = await capBench.ours(seconds);
      const b = await capBench.raw(seconds);
      cap.ours.push(a.pps);
      cap.raw_afxdp.push(b.pps);
      capSenders = { ours: a.sender, ours_cpu: a.cpu, raw: b.sender, raw_cpu: b.cpu };
    }
  } finally {
    await capBench.close();
  }

  const compared = (f: Figure): Compared => {
    const a = median(samples[f].ours);
    const b = median(samples[f].kernel);
    return { ours: sig(a), kernel: sig(b), ratio: round(a / b, 3), unit: UNITS[f] };
  };
  const res = {} as Record<Figure, Compared>;
  for (const f of FIGURES) res[f] = compared(f);
  const capOurs = median(cap.ours);
  const capRaw = median(cap.raw_afxdp);
  const peer = '10.99.0.1';
  return {
    bench: 'path',
    ...res,
    backend_capacity: { ours: Math.round(capOurs), raw_afxdp: Math.round(capRaw), ratio: round(capOurs / capRaw, 3), unit: 'pps' },
    generators: {
      tcp: `iperf3 ${iperfV} on both paths: \`iperf3 ${iperf3TcpArgs(peer, seconds).join(' ')}\` in the guest namespace → \`iperf3 -s\` in the peer namespace; Gbit/s the server received`,
      udp64: `iperf3 ${iperfV} on both paths: \`iperf3 ${iperf3UdpArgs(peer, seconds, 64).join(' ')}\` (64-byte frames) → \`iperf3 -s\`; packets/s the server received`,
      udp1514: `iperf3 ${iperfV} on both paths: \`iperf3 ${iperf3UdpArgs(peer, seconds, 1514).join(' ')}\` (1514-byte frames) → \`iperf3 -s\`; packets/s the server received`,
      latency: `sockperf ${sockperfV} on both paths: \`sockperf ${sockperfArgs(peer, seconds).join(' ')}\` in the guest namespace → \`sockperf sr\` in the peer namespace (UDP, blocking sockets); full round trip, µs`,
      backend_capacity: `ours: phoenix netfront generating ${CAPACITY_FRAME}-byte frames (no TAP; at nice 19, so that polling its full ring does not take the CPU serve and the driver need) → phoenix serve → drivers/afxdp on a veth; raw_afxdp: tools/xdp-raw-tx (C) on the same veth; both counted as rx_packets of the peer end (its kernel stack drops them)`,
    },
    paths: {
      ours: 'guest netns ─ TAP ─ phoenix netfront ─ shm rings ─ phoenix serve ─ driver channel ─ drivers/afxdp (copy mode, native XDP) ═ veth ═ peer netns (TX checksum offload off on the peer)',
      kernel: 'guest netns ═ veth ═ Linux bridge (bridge netfilter off) ═ veth ═ peer netns; kernel defaults (MTU 1500, TSO/GSO and checksum offload on)',
    },
    params: {
      duration_s: seconds,
      runs,
      figures: runs > 1 ? `median of ${runs} runs` : 'one run',
      udp64_payload_bytes: udpPayloadFor(64),
      udp1514_payload_bytes: udpPayloadFor(1514),
      frame_bytes_note: 'Ethernet frames as the veth carries them, without FCS',
      tcp_congestion: 'cubic',
      udp64_loss_fraction: { ours: round(median(udpLost.ours), 4), kernel: round(median(udpLost.kernel), 4) },
      capacity_last_run: capSenders,
      loadavg_at_start: load0.map((x) => round(x, 2)),
      loadavg_at_end: loadavg().map((x) => round(x, 2)),
    },
    goals: {
      udp64: { goal: 'ratio >= 0.95', met: res.udp64.ratio >= 0.95 },
      latency_p99: { goal: 'ratio <= 1.5', met: res.latency_p99.ratio <= 1.5 },
      backend_capacity: { goal: 'ratio >= 0.7', met: capOurs / capRaw >= 0.7 },
    },
    samples: {
      ...Object.fromEntries(FIGURES.map((f) => [f, { ours: samples[f].ours.map(sig), kernel: samples[f].kernel.map(sig) }])),
      backend_capacity: { ours: cap.ours.map(Math.round), raw_afxdp: cap.raw_afxdp.map(Math.round) },
    },
    elapsed_s: round((performance.now() - t0) / 1000, 1),
  };
}
