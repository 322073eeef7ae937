// `phoenix serve --uplink DRIVER[:key=val,...]`: the spec parser, and a driver that cannot start
// making serve exit non-zero with the driver's own message (before any "ready" line).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { parseUplinkSpec } from '../../src/driver/spec.js';
import { ShmWorld } from '../../src/sandbox/shmworld.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDriver } from '../../src/driver/supervisor.js';
import { mapShared } from '../../src/native/index.js';
import { FRAME_BYTES } from '../../src/netback/pool.js';
import { XskSocket } from '../../src/xsk/socket.js';
import { until } from '../netback/harness.js';
import { needRoot, vethPair, xdpOnLink } from '../xsk/netns.js';
import { testPool } from '../xsk/traffic.js';

t.test('spec: DRIVER:key=val,... becomes --key val', async (t) => {
  const a = parseUplinkSpec('afxdp:ifname=veth0,queue=0,netns=ns1');
  t.equal(a.driver, 'afxdp');
  t.same(a.args, ['--ifname', 'veth0', '--queue', '0', '--netns', 'ns1']);
  t.same(parseUplinkSpec('sim:peer=/dev/shm/x/wire').args, ['--peer', '/dev/shm/x/wire']);
  t.same(parseUplinkSpec('sim').args, []);
  t.same(parseUplinkSpec('tap:ifname=up0,netns=peer-1').args, ['--ifname', 'up0', '--netns', 'peer-1']);
  t.same(parseUplinkSpec('afxdp:ifname=v,zero-copy=never,xdp=generic').params, { ifname: 'v', 'zero-copy': 'never', xdp: 'generic' });
  t.equal(parseUplinkSpec('sim:peer=a=b').params.peer, 'a=b', 'a value may hold "="');
  t.ok(parseUplinkSpec('afxdp:ifname=v').info.rxEntries >= 4096, 'afxdp gets a deep RX ring');
});

t.test('spec: errors say what is accepted', async (t) => {
  t.throws(() => parseUplinkSpec('e1000:ifname=x'), /unknown driver "e1000"; drivers: sim, afxdp, tap/);
  t.throws(() => parseUplinkSpec('afxdp:ifname=x,qeue=1'), /unknown key "qeue"; afxdp takes ifname, queue, netns/);
  t.throws(() => parseUplinkSpec('afxdp:queue=1'), /ifname=… is required/);
  t.throws(() => parseUplinkSpec('tap'), /ifname=… is required/);
  t.throws(() => parseUplinkSpec('tap:ifname'), /"ifname" is not key=value/);
  t.throws(() => parseUplinkSpec('tap:ifname=a,ifname=b'), /given twice/);
  t.throws(() => parseUplinkSpec('tap:ifname='), /empty value/);
  t.throws(() => parseUplinkSpec('sim:peer=x,'), /"" is not key=value/);
});

t.test('serve: a bad spec or a driver that cannot start exits 1 with the reason, never "ready"', { timeout: 120_000 }, async (t) => {
  const world = await ShmWorld.create('phx-serve-bad');
  t.teardown(() => world.close());
  const cases: [string, RegExp][] = [
    ['afxdp:ifname=x,bogus=1', /unknown key "bogus"; afxdp takes ifname/],
    // The driver process starts and fails: its own message comes through.
    [`afxdp:ifname=nosuch${process.pid % 10000}`, /driver afxdp exited with code 1 before it was ready: afxdp driver: .*nosuch/s],
    ['sim:peer=/nonexistent/wire', /driver sim exited with code \d+ before it was ready: .*\/nonexistent\/wire/s],
  ];
  // All at once (each is a whole serve start-up).
  const runs = cases.map(([spec]) => world.spawn(['serve', '--xenstore', world.socket, '--uplink', spec, '--pool-frames', '2048']));
  const codes = await Promise.all(runs.map((h) => h.exited));
  cases.forEach(([spec, re], i) => {
    const h = runs[i]!;
    t.equal(codes[i], 1, `${spec}: exit code 1`);
    t.match(h.stderr(), re, `${spec}: stderr says why`);
    t.notOk(h.lines.some((l) => l.event === 'ready'), `${spec}: no ready line`);
  });
});

t.test('serve --uplink afxdp:ifname=…,netns=…: "ready" only once the XSK is bound; SIGTERM detaches it', { timeout: 120_000 }, async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  const world = await ShmWorld.create('phx-serve-xdp');
  t.teardown(() => world.close());
  const h = world.spawn(['serve', '--xenstore', world.socket, '--uplink', `afxdp:ifname=${v.ifA},queue=0,netns=${v.nsA}`, '--pool-frames', '16384']);
  const ready = await h.waitEvent('ready', 60_000);
  const up = ready.uplink as { driver: string; pid: number };
  t.equal(up.driver, 'afxdp');
  t.ok(up.pid > 0, 'the ready line names the driver pid');
  t.not(xdpOnLink(v.nsA, v.ifA), 'none', 'the XDP program is attached by the time "ready" is printed');
  await world.stop(h);
  t.equal(await h.exited, 0, 'serve exits 0 on SIGTERM');
  t.equal(xdpOnLink(v.nsA, v.ifA), 'none', 'the driver detached its program on the way out');
});

t.test('serve --uplink tap:ifname=…,netns=…: "ready" once the TAP is in the namespace and up; gone after SIGTERM', { timeout: 120_000 }, async (t) => {
  if (!needRoot(t)) return;
  const ns = `phx-stap-${process.pid}`;
  const ifname = `pst${process.pid}`.slice(0, 15);
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }));
  const world = await ShmWorld.create('phx-serve-tap');
  t.teardown(() => world.close());
  const h = world.spawn(['serve', '--xenstore', world.socket, '--uplink', `tap:ifname=${ifname},netns=${ns}`, '--pool-frames', '4096']);
  const ready = await h.waitEvent('ready', 60_000);
  t.equal((ready.uplink as { driver: string }).driver, 'tap');
  t.match(execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', ifname], { encoding: 'utf8' }), /[<,]UP[,>]/, 'the TAP is in the namespace, up, when "ready" is printed');
  await world.stop(h);
  t.equal(await h.exited, 0, 'serve exits 0 on SIGTERM');
  const last = h.lines.filter((l) => l.event === 'status').at(-1) as { uplink?: { driver: string; counters: Record<string, number>; channel: Record<string, number> } } | undefined;
  t.equal(last?.uplink?.driver, 'tap', 'the last status line carries the uplink');
  t.ok(last !== undefined && typeof last.uplink?.counters.tx_packets === 'number' && last.uplink?.channel.pid === (ready.uplink as { pid: number }).pid, 'with its counters and the driver\'s counters page');
  t.throws(() => execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', ifname], { stdio: 'pipe' }), 'the TAP went with the driver');
});

t.test('waitReady times out on a driver stuck before its device is open, with what it said', { timeout: 60_000 }, async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  // Someone else holds the queue: the afxdp driver waits for it (openWhenFree, 2 s) in state starting.
  const other = XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: testPool(t, 4096).buffer, rxSize: 2048, txSize: 0 });
  t.teardown(() => other.close());
  const runDir = mkdtempSync(join('/dev/shm', 'phx-ready-'));
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }));
  const poolPath = join(runDir, 'pool');
  const pool = mapShared(poolPath, { create: true, size: 4096 * FRAME_BYTES });
  t.teardown(() => pool.close());
  const d = startDriver({ name: 'afxdp', poolPath, nFrames: 4096, runDir, args: ['--ifname', v.ifA, '--netns', v.nsA] });
  t.teardown(() => d.close());
  await until(() => d.channel.counter('pid') === d.pid, 'the driver to publish its pid', 30_000);
  const err = await d.waitReady(300).then(() => null, (e: Error & { code?: string }) => e);
  t.equal(err?.code, 'ERR_DRIVER_TIMEOUT', 'not ready in time');
  t.match(err?.message, /driver afxdp \(pid \d+\) not ready after 300 ms \(state 0\)/);
  t.notOk(d.ready);
  const late = await d.waitReady(30_000).then(() => null, (e: Error & { code?: string }) => e);
  t.equal(late?.code, 'ERR_DRIVER_START', 'then it gives up and exits');
  t.match(late?.message, /EBUSY|busy/i, 'saying the queue is busy');
});

t.test('serve --run-dir DIR, then SIGKILL: the driver notices and exits (its TAP goes), files stay in DIR', { timeout: 120_000 }, async (t) => {
  if (!needRoot(t)) return;
  const ns = `phx-ktap-${process.pid}`;
  const ifname = `pkt${process.pid}`.slice(0, 15);
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }));
  const world = await ShmWorld.create('phx-serve-kill');
  t.teardown(() => world.close());
  const runDir = join(world.runDir, 'serve-run');
  const h = world.spawn(['serve', '--xenstore', world.socket, '--uplink', `tap:ifname=${ifname},netns=${ns}`, '--run-dir', runDir, '--pool-frames', '2048']);
  const ready = await h.waitEvent('ready', 60_000);
  const driverPid = (ready.uplink as { pid: number }).pid;
  t.ok(readdirSync(runDir).includes('pool'), 'the pool file is in DIR');
  t.ok(readdirSync(runDir).some((f) => f.endsWith('.chan')), 'and the channel file');
  h.proc.kill('SIGKILL');
  await h.exited;
  // Gone, or a zombie nobody reaps (PID 1 in a container may not): either way not running.
  const running = (): boolean => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${driverPid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  await until(() => !running(), 'the driver to exit after serve was killed', 20_000);
  t.pass('the driver exited on its own');
  t.throws(() => execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', ifname], { stdio: 'pipe' }), 'its TAP is gone');
});
