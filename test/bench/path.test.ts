// `phoenix bench path`: a tiny real run (1 s per measurement) through the CLI — the JSON has the
// agreed shape, every figure is a positive number, ratio = ours/kernel — and nothing it built is
// left behind. Timing is never asserted (2 shared cores); the figures only have to exist.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { benchPath, median } from '../../bench/path.js';
import { udpPayloadFor, UDP_OVERHEAD } from '../../bench/generators.js';
import { listNetns } from '../../src/sandbox/netns.js';
import { ShmWorld } from '../../src/sandbox/shmworld.js';

/** Why the real run cannot happen here, or '' (skip with the reason; fail under CI=true). */
function missing(): string {
  if (process.getuid?.() !== 0) return 'not root (namespaces, veth, AF_XDP): run the tests as root';
  for (const [cmd, arg] of [['iperf3', '--version'], ['sockperf', '--version'], ['cc', '--version']] as const) {
    try {
      execFileSync(cmd, [arg], { stdio: 'ignore' });
    } catch {
      return `${cmd} is not installed: apt-get install ${cmd === 'cc' ? 'gcc' : cmd} (scripts/setup.sh does)`;
    }
  }
  return '';
}

t.test('frame sizes and medians', async (t) => {
  t.equal(udpPayloadFor(64), 22, '64-byte frame: 14 + 20 + 8 + 22');
  t.equal(udpPayloadFor(1514), 1472);
  t.equal(UDP_OVERHEAD + udpPayloadFor(200), 200);
  t.throws(() => udpPayloadFor(59), /60\.\.1514/);
  t.throws(() => udpPayloadFor(1515), /60\.\.1514/);
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
});

t.test('bad options are refused before anything is built', async (t) => {
  await t.rejects(benchPath({ durationS: 0 }), /--duration-s must be 1\.\.600/);
  await t.rejects(benchPath({ durationS: 1, runs: 0 }), /--runs must be 1\.\.50/);
});

t.test('phoenix bench path --duration-s 1', { timeout: 300_000 }, async (t) => {
  const why = missing();
  if (why !== '') {
    if (process.env.CI === 'true') t.fail(`bench path cannot run: ${why}`);
    else t.pass('bench path not run', { skip: why });
    return;
  }
  const world = await ShmWorld.create('phx-benchtest');
  t.teardown(() => world.close());
  // Without --json: the JSON object on stdout, progress and a table on stderr.
  const h = world.spawn(['bench', 'path', '--duration-s', '1']);
  const code = await h.exited;
  t.equal(code, 0, `exit 0 (stderr: ${h.stderr().slice(-1500)})`);
  t.equal(h.lines.length, 1, 'one JSON object on stdout, nothing else');
  t.match(h.stderr(), /bench path: building our path/, 'progress on stderr');
  t.match(h.stderr(), /\nbackend_capacity +\d+ +\d+ +[0-9.]+ +pps/, 'the table on stderr');
  const r = h.lines[0]!;
  t.equal(r.bench, 'path');
  for (const k of ['tcp', 'udp64', 'udp1514', 'latency_p50', 'latency_p99', 'latency_p999']) {
    const x = r[k] as { ours: number; kernel: number; ratio: number; unit: string };
    t.same(Object.keys(x).sort(), ['kernel', 'ours', 'ratio', 'unit'], `${k}: {ours, kernel, ratio, unit}`);
    t.ok(x.ours > 0 && Number.isFinite(x.ours), `${k}.ours = ${x.ours} is a positive number`);
    t.ok(x.kernel > 0 && Number.isFinite(x.kernel), `${k}.kernel = ${x.kernel} is a positive number`);
    t.ok(Math.abs(x.ratio - x.ours / x.kernel) <= 0.002 * (x.ours / x.kernel) + 0.001, `${k}.ratio ${x.ratio} = ours/kernel`);
  }
  t.equal((r.tcp as { unit: string }).unit, 'Gbit/s');
  t.equal((r.udp64 as { unit: string }).unit, 'pps');
  t.equal((r.latency_p99 as { unit: string }).unit, 'us');
  const lat = (k: string): number => (r[k] as { ours: number }).ours;
  t.ok(lat('latency_p50') <= lat('latency_p99') && lat('latency_p99') <= lat('latency_p999'), 'percentiles are ordered');
  const c = r.backend_capacity as { ours: number; raw_afxdp: number; ratio: number; unit: string };
  t.same(Object.keys(c).sort(), ['ours', 'ratio', 'raw_afxdp', 'unit']);
  t.equal(c.unit, 'pps');
  t.ok(c.ours > 0 && c.raw_afxdp > 0, `backend_capacity ours ${c.ours}, raw ${c.raw_afxdp}: positive`);
  const g = r.generators as Record<string, string>;
  for (const k of ['tcp', 'udp64', 'udp1514', 'latency', 'backend_capacity']) t.type(g[k], 'string', `generators.${k} says what drives it`);
  t.match(g.udp64, /-l 22 /, 'the 64-byte UDP frame is 22 bytes of payload');
  t.match(g.udp1514, /-l 1472 /);
  t.equal((r.params as { duration_s: number }).duration_s, 1);

  // Everything the run made is gone: namespaces and shm directories carry the child's pid.
  const mine = (n: string): boolean => n.startsWith('phxbench') && n.includes(`-${h.pid}-`);
  t.same(listNetns().filter(mine), [], 'no namespace left');
  t.same(readdirSync('/dev/shm').filter(mine), [], 'no /dev/shm run directory left');
});
