// SPDX-License-Identifier: MIT
// bench.ts — `phoenix bench`: benchmarks that print numbers (JSON on stdout), never assert.
//
// vif2vif: guest A (its own process) sends frames of one size as fast as its ring allows to
// guest B (its own process) through the backend (its own process), for --seconds. Packets/s is
// what B received divided by A's sending time; cpu_s_per_mpkt is the backend's CPU time (user +
// system, from /proc/<pid>/stat) per million packets delivered.
//
// path (bench/path.ts): iperf3 TCP/UDP and sockperf guest → peer through our whole path (TAP,
// netfront, serve, afxdp on a veth) and through the kernel bridge path, side by side, plus the
// backend's own capacity next to raw AF_XDP; one JSON object. `bench all` runs vif2vif at 64 and
// 1500 bytes, then path, and prints a table on stderr plus one JSON object per run on stdout.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchPath, type PathBenchResult } from '../../bench/path.js';
import { ShmWorld } from '../sandbox/shmworld.js';
import type { VifStatus } from '../netback/service.js';

export const BENCH_HELP = `phoenix bench — benchmarks (JSON on stdout)

Usage:
  phoenix bench vif2vif --size 64|1500 [--seconds S] [--json]
  phoenix bench path [--duration-s S] [--runs N] [--json]
  phoenix bench all [--seconds S]

vif2vif: guest A → backend → guest B, frames of one size as fast as A's ring allows.
  --size B      frame size in bytes, 60..1514 (64 and 1500 are the reference points)
  --seconds S   sending time per run (default 5)
  --spin-us US        adaptive polling window of the backend (default 50; 0 = event-driven only)
  --guest-spin-us US  the same for the test guests (default 0: on 2 cores a spinning receiver
                      takes the CPU the backend needs)
  --json        print only the JSON object (otherwise also a table on stderr)

path (root; Debian packages iperf3, sockperf, gcc): guest namespace → TAP → test netfront →
backend → drivers/afxdp on a veth → peer namespace, next to the kernel alone (the guest's
interface and the peer veth joined by a Linux bridge), same generators, in one invocation:
iperf3 TCP (one stream, cubic), iperf3 UDP packets/s received with 64- and 1514-byte frames,
sockperf ping-pong round trip p50/p99/p99.9; and backend_capacity: the test netfront generating
64-byte frames (no TAP) through the backend into afxdp, next to tools/xdp-raw-tx (built into
build/ if missing) on the same veth. One JSON object: tcp, udp64, udp1514, latency_p50,
latency_p99, latency_p999 = {ours, kernel, ratio = ours/kernel, unit}; backend_capacity =
{ours, raw_afxdp, ratio, unit}; generators, paths, params, goals, samples.
  --duration-s S  seconds per measurement (default 5; each runs on both paths: ~10 x S + ~40 s)
  --runs N        repeat everything N times and report medians (default 1; samples are kept)

all: vif2vif at 64 and 1500 bytes, then path with --duration-s = --seconds.
`;

const CLK_TCK = 100;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

export interface Vif2VifResult {
  bench: 'vif2vif';
  size: number;
  spin_us: number;
  guest_spin_us: number;
  seconds: number;
  sent: number;
  received: number;
  lost_or_queued: number;
  pps: number;
  gbps: number;
  cpu_s_per_mpkt: number;
  backend_cpu_s: number;
  backend_cpu_util: number;
  notifies_per_kpkt: number;
  events_per_kpkt: number;
  backpressure_per_kpkt: number;
}

export async function benchVif2Vif(size: number, seconds: number, spinUs = 50, guestSpinUs = 0): Promise<Vif2VifResult> {
  if (!(size >= 60 && size <= 1514)) throw new Error(`bench vif2vif: --size must be 60..1514, got ${size}`);
  const world = await ShmWorld.create('phx-bench');
  try {
    const be = await world.startBackend(['--stats-ms', '100000', '--spin-us', String(spinUs)]);
    const spin = ['--spin-us', String(guestSpinUs)];
    const A = '00:16:3e:00:00:01';
    const B = '00:16:3e:00:00:02';
    const s = String(size);
    const ga = await world.startGuest(1, A, ['--send-to', B, '--duration-s', String(seconds), '--min', s, '--max', s, '--no-scatter', '--no-verify', '--idle-ms', '3000', ...spin]);
    const gb = await world.startGuest(2, B, ['--expect', '1000000000', '--no-verify', '--idle-ms', '1500', ...spin]);
    const cpu0 = cpuSeconds(be.pid);
    const w0 = performance.now();
    ga.proc.stdin!.write('go\n');
    gb.proc.stdin!.write('go\n');
    const da = await ga.waitEvent('done', (seconds + 60) * 1000);
    const db = await gb.waitEvent('done', 60_000);
    const cpu1 = cpuSeconds(be.pid);
    const wall = (performance.now() - w0) / 1000;
    await world.stop(be);
    const last = be.lines.filter((l) => l.event === 'status').pop();
    const vifs = (last?.vifs ?? []) as VifStatus[];
    const sum = (k: 'notify_tx' | 'notify_rx' | 'events' | 'backpressure'): number => vifs.reduce((a, x) => a + x.counters[k], 0);
    const sent = Number(da.sent);
    const received = (db.rx as { received: number }).received;
    const elapsed = Number(da.elapsed_s);
    const pps = received / elapsed;
    const cpu = cpu1 - cpu0;
    return {
      bench: 'vif2vif',
      size,
      spin_us: spinUs,
      guest_spin_us: guestSpinUs,
      seconds: round(elapsed, 3),
      sent,
      received,
      lost_or_queued: sent - received,
      pps: Math.round(pps),
      gbps: round((pps * size * 8) / 1e9, 3),
      cpu_s_per_mpkt: round(cpu / (received / 1e6), 3),
      backend_cpu_s: round(cpu, 3),
      backend_cpu_util: round(cpu / wall, 3),
      // Event-channel traffic per packet: what adaptive polling is meant to keep low.
      notifies_per_kpkt: round(((sum('notify_tx') + sum('notify_rx')) / received) * 1000, 2),
      events_per_kpkt: round((sum('events') / received) * 1000, 2),
      backpressure_per_kpkt: round((sum('backpressure') / received) * 1000, 2),
    };
  } finally {
    await world.close();
  }
}

const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;

export async function runBench(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      size: { type: 'string', default: '64' },
      seconds: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      'spin-us': { type: 'string', default: '50' },
      'guest-spin-us': { type: 'string', default: '0' },
      'duration-s': { type: 'string', default: '5' },
      runs: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const what = positionals[0];
  if (v.help || what === undefined) {
    process.stdout.write(BENCH_HELP);
    return;
  }
  const seconds = Number(v.seconds);
  if (what === 'vif2vif') {
    const r = await benchVif2Vif(Number(v.size), seconds, Number(v['spin-us']), Number(v['guest-spin-us']));
    process.stdout.write(JSON.stringify(r) + '\n');
    if (!v.json) table([r]);
    return;
  }
  if (what === 'path' || what === 'all') {
    // Ctrl-C or kill: leave through process.exit so every sandbox's 'exit' hook removes what it built.
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) process.once(sig, () => process.exit(code));
  }
  if (what === 'path') {
    const r = await benchPath({ durationS: Number(v['duration-s']), runs: Number(v.runs), ...(v.json ? {} : { progress: (l: string) => void process.stderr.write(`bench path: ${l}\n`) }) });
    process.stdout.write(JSON.stringify(r) + '\n');
    if (!v.json) pathTable(r);
    return;
  }
  if (what === 'all') {
    const rs: Vif2VifResult[] = [];
    for (const size of [64, 1500]) {
      const r = await benchVif2Vif(size, seconds, Number(v['spin-us']), Number(v['guest-spin-us']));
      process.stdout.write(JSON.stringify(r) + '\n');
      rs.push(r);
    }
    table(rs);
    const p = await benchPath({ durationS: seconds, progress: (l) => void process.stderr.write(`bench path: ${l}\n`) });
    process.stdout.write(JSON.stringify(p) + '\n');
    pathTable(p);
    return;
  }
  throw new Error(`phoenix bench: unknown benchmark "${what}" (vif2vif, path, all)`);
}

function table(rs: Vif2VifResult[]): void {
  const head = 'bench     size  spin      pps        Gbit/s   backend CPU s/Mpkt   backend CPU util   sent-received';
  const rows = rs.map((r) => `${r.bench.padEnd(9)} ${String(r.size).padStart(5)} ${String(r.spin_us).padStart(5)} ${String(r.pps).padStart(8)} ${r.gbps.toFixed(3).padStart(10)} ${r.cpu_s_per_mpkt.toFixed(3).padStart(14)} ${r.backend_cpu_util.toFixed(2).padStart(18)} ${String(r.lost_or_queued).padStart(15)}`);
  process.stderr.write([head, ...rows].join('\n') + '\n');
}

function pathTable(r: PathBenchResult): void {
  const rows = (['tcp', 'udp64', 'udp1514', 'latency_p50', 'latency_p99', 'latency_p999'] as const).map((k) => {
    const x = r[k];
    return `${k.padEnd(16)} ${String(x.ours).padStart(12)} ${String(x.kernel).padStart(12)} ${x.ratio.toFixed(3).padStart(7)}  ${x.unit}`;
  });
  const c = r.backend_capacity;
  process.stderr.write(
    [
      `path (${r.params.figures as string}, ${r.params.duration_s as number} s each)   ours       kernel   ratio`,
      ...rows,
      `backend_capacity ${String(c.ours).padStart(12)} ${String(c.raw_afxdp).padStart(12)} ${c.ratio.toFixed(3).padStart(7)}  pps (kernel column: raw AF_XDP)`,
      `goals: ${Object.entries(r.goals).map(([k, g]) => `${k} ${g.goal}: ${g.met ? 'met' : 'NOT met'}`).join('; ')}`,
    ].join('\n') + '\n',
  );
}
