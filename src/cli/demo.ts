// SPDX-License-Identifier: MIT
// demo.ts — `phoenix demo`: two test guests exchange verified traffic through the backend.
//
// Starts xenstored, the backend and two guests (each its own process) on the shm transport,
// lets them exchange checksummed, sequence-numbered frames both ways for --seconds, prints the
// backend's per-vif counters live, then the end-to-end result (loss and order by sequence number,
// not by our own counters) and cleans everything up.
import { parseArgs } from 'node:util';
import { ShmWorld } from '../sandbox/shmworld.js';
import type { VifStatus } from '../netback/service.js';

export const DEMO_HELP = `phoenix demo — two test guests exchanging traffic through the backend

Usage: phoenix demo [--seconds S]

  --seconds S   how long the guests send (default 10)
`;

export async function runDemo(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, options: { seconds: { type: 'string', default: '10' }, help: { type: 'boolean', short: 'h', default: false } } });
  if (v.help) {
    process.stdout.write(DEMO_HELP);
    return;
  }
  const seconds = Number(v.seconds);
  const say = (s: string): void => void process.stdout.write(s + '\n');
  const world = await ShmWorld.create('phx-demo');
  const cleanup = (): void => void world.close();
  process.once('SIGINT', cleanup);
  try {
    say(`phoenix demo: run dir ${world.runDir}, xenstored at ${world.socket}`);
    const be = await world.startBackend(['--stats-ms', '1000']);
    say(`backend pid ${be.pid}`);
    const A = '00:16:3e:00:00:01';
    const B = '00:16:3e:00:00:02';
    const opts = ['--duration-s', String(seconds), '--min', '60', '--max', '1514', '--idle-ms', '2000', '--expect', '1000000000'];
    const ga = await world.startGuest(1, A, ['--send-to', B, ...opts]);
    const gb = await world.startGuest(2, B, ['--send-to', A, ...opts]);
    say(`guest 1 (${A}) pid ${ga.pid} and guest 2 (${B}) pid ${gb.pid} connected; sending both ways for ${seconds} s`);
    say('   t   vif      state  tx pkts     tx MB   rx pkts     rx MB  errors  drops  backpressure');
    let seen = 0;
    let lastKey = '';
    const t0 = performance.now();
    const timer = setInterval(() => {
      const st = be.lines.filter((l) => l.event === 'status');
      if (st.length === seen) return;
      seen = st.length;
      const vifs = (st[st.length - 1]!.vifs as VifStatus[]) ?? [];
      const key = JSON.stringify(vifs.map((x) => [x.counters.tx_packets, x.counters.rx_packets]));
      if (key === lastKey) return; // nothing moved: the guests are draining and checking
      lastKey = key;
      for (const x of vifs) {
        const c = x.counters;
        const drops = c.rx_queue_full + c.rx_stalled + c.rx_not_connected + c.tx_no_destination;
        say(`${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}   ${x.vif.padEnd(8)} ${String(x.state).padStart(5)} ${String(c.tx_packets).padStart(8)} ${(c.tx_bytes / 1e6).toFixed(1).padStart(9)} ${String(c.rx_packets).padStart(9)} ${(c.rx_bytes / 1e6).toFixed(1).padStart(9)} ${String(c.tx_error + c.rx_error).padStart(7)} ${String(drops).padStart(6)} ${String(c.backpressure).padStart(13)}`);
      }
    }, 250);
    ga.proc.stdin!.write('go\n');
    gb.proc.stdin!.write('go\n');
    const [da, db] = await Promise.all([ga.waitEvent('done', (seconds + 120) * 1000), gb.waitEvent('done', (seconds + 120) * 1000)]);
    clearInterval(timer);
    say('\nend to end (counted by the receivers, by sequence number):');
    for (const [name, d] of [['guest 1', da], ['guest 2', db]] as const) {
      const rx = d.rx as { received: number; bad: number; gaps: number; reordered: number; bytes: number };
      say(`  ${name}: sent ${d.sent}, received ${rx.received} (${(rx.bytes / 1e6).toFixed(1)} MB), corrupt ${rx.bad}, lost ${rx.gaps}, out of order ${rx.reordered}, ${(rx.received / seconds).toFixed(0)} frames/s over the ${seconds} s of sending`);
    }
    const ok = [da, db].every((d) => {
      const rx = d.rx as { bad: number; gaps: number; reordered: number };
      return rx.bad === 0 && rx.gaps === 0 && rx.reordered === 0;
    });
    say(ok ? 'result: every frame arrived intact and in order' : 'result: LOSS OR CORRUPTION — see above');
    if (!ok) process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', cleanup);
    await world.close();
    say('cleaned up (processes stopped, shared memory and sockets removed)');
  }
}
