// The control socket: protocol, permissions, stale sockets, and fault injection into a real sim driver.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Control } from '../../src/driver/channel.js';
import { startDriver } from '../../src/driver/supervisor.js';
import { mapShared } from '../../src/native/index.js';
import { serviceHandlers } from '../../src/control/handlers.js';
import { blockFor, FAULT_NAMES, faultSpec } from '../../src/control/faults.js';
import { ControlError, ControlServer, controlRequest, MAX_LINE } from '../../src/control/server.js';
import { INJECT_HELP, runInject } from '../../src/cli/inject.js';
import { until } from '../netback/harness.js';

function tmp(t: { teardown: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync('/tmp/phx-ctl-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


/** Raw exchange: write bytes, collect answer lines until the server closes or n lines came. */
async function raw(path: string, data: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(data));
    c.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n').filter((l) => l !== '');
      if (lines.length >= n) (c.destroy(), resolve(lines));
    });
    c.on('end', () => resolve(buf.split('\n').filter((l) => l !== '')));
    c.on('error', reject);
  });
}

t.test('protocol: answers, errors, order, limits, permissions', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'run', 'control.sock');
  const srv = await ControlServer.listen(path, {
    echo: (r) => ({ got: r.x }),
    slow: async (r) => (await new Promise((res) => setTimeout(res, 30)), { got: r.x }),
    refuse: () => {
      throw new ControlError('no, and here is what to do instead');
    },
  });
  t.teardown(() => srv.close());
  t.equal(statSync(path).mode & 0o777, 0o600, 'socket is 0600');
  t.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700, 'its directory is 0700');

  t.same(await controlRequest(path, { op: 'echo', x: 5 }), { ok: true, got: 5 });
  t.same(await controlRequest(path, { op: 'refuse' }), { ok: false, error: 'no, and here is what to do instead' });
  t.match(await controlRequest(path, { op: 'nope' }), { ok: false, error: /unknown op "nope"; known: echo, refuse, slow/ });
  t.match(await controlRequest(path, { op: '__proto__' }), { ok: false, error: /unknown op/ });
  const lines = await raw(path, '{"op":"slow","x":1}\n{"op":"echo","x":2}\nnot json\n[1]\n', 4);
  t.same(lines.map((l) => JSON.parse(l) as unknown), [
    { ok: true, got: 1 },
    { ok: true, got: 2 },
    { ok: false, error: 'not JSON: send one JSON object per line, e.g. {"op":"status"}' },
    { ok: false, error: 'a request is a JSON object with a string "op"' },
  ], 'answers in request order, a slow one does not get overtaken');
  const big = await raw(path, 'x'.repeat(MAX_LINE + 10), 1);
  t.match(big[0], /request over 4096 bytes/);

  await t.rejects(ControlServer.listen(path, {}), /another phoenix service is listening on/, 'a live socket is not taken over');
  await t.rejects(controlRequest(join(dir, 'none.sock'), { op: 'echo' }), /no service listening on .*none\.sock: start `phoenix serve`/);
});

t.test('stale and foreign paths', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'c.sock');
  // A dead server leaves its socket file: a bound socket nobody listens on (connect: ECONNREFUSED).
  const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  t.equal(py.status, 0, 'python3 made a stale socket');
  t.ok(statSync(path).isSocket(), 'stale socket file left behind');
  const b = await ControlServer.listen(path, { echo: () => ({ b: 1 }) });
  t.teardown(() => b.close());
  t.same(await controlRequest(path, { op: 'echo' }), { ok: true, b: 1 }, 'stale socket replaced');
  const file = join(dir, 'plain');
  writeFileSync(file, 'x');
  await t.rejects(ControlServer.listen(file, {}), /exists and is not a socket: remove it or choose another with --control/);
});

t.test('faults: names, specs, a blocked loop', async (t) => {
  t.same(FAULT_NAMES, ['driver-crash', 'driver-hang', 'driver-slow', 'device-hang', 'driver-corrupt', 'backend-crash', 'backend-hang']);
  t.equal(faultSpec('driver-hang').control, Control.hang);
  t.throws(() => faultSpec('meteor'), /unknown fault "meteor"; known: driver-crash/);
  const s = performance.now();
  blockFor(30);
  t.ok(performance.now() - s >= 29, 'Atomics.wait blocks at least the time asked');
});

t.test('inject into a real sim driver, and the CLI', async (t) => {
  const dir = mkdtempSync(join('/dev/shm', 'phx-ctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const poolPath = join(dir, 'pool');
  const pool = mapShared(poolPath, { create: true, size: 64 * 2048 });
  t.teardown(() => pool.close());
  const d = startDriver({ name: 'sim', poolPath, nFrames: 64, runDir: dir, generation: 3 });
  t.teardown(() => d.close());
  await until(() => d.channel.counter('heartbeat') > 0, 'the sim driver to run', 20000);
  let driverOn = true;
  let crashed = 0;
  const path = join(dir, 'control.sock');
  const srv = await ControlServer.listen(
    path,
    serviceHandlers({
      driver: () => (driverOn ? { channel: d.channel, pid: d.pid, name: 'sim' } : null),
      status: () => ({ vifs: 0 }),
      crash: () => void crashed++,
    }),
  );
  t.teardown(() => srv.close());

  t.match(await controlRequest(path, { op: 'status' }), { ok: true, pid: process.pid, vifs: 0 });
  t.match(await controlRequest(path, { op: 'inject', fault: 'driver-hang' }), { ok: true, fault: 'driver-hang', driver: 'sim', pid: d.pid, generation: 3 });
  await until(() => d.channel.counter('controlSeen') === Control.hang, 'the driver to take the hang', 10000);
  const hb = d.channel.counter('heartbeat');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(d.channel.counter('heartbeat'), hb, 'hung: no heartbeat');
  t.match(await controlRequest(path, { op: 'inject', fault: 'clear' }), { ok: true, fault: 'clear' });
  await until(() => d.channel.counter('heartbeat') !== hb, 'the driver to beat again', 10000);
  t.pass('cleared: the driver runs again');

  t.match(await controlRequest(path, { op: 'inject', fault: 'meteor' }), { ok: false, error: /unknown fault/ });
  t.match(await controlRequest(path, { op: 'inject', fault: 'backend-crash' }), { ok: true, fault: 'backend-crash' });
  await until(() => crashed === 1, 'the crash hook', 5000);
  const before = performance.now();
  t.match(await controlRequest(path, { op: 'inject', fault: 'backend-hang', ms: 60 }), { ok: true, ms: 60 }, 'answered before the hang');
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setTimeout(r, 25));
  t.ok(performance.now() - before >= 60, 'the event loop was blocked');

  // The CLI, in-process.
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (out.push(s), true)) as typeof process.stderr.write;
  try {
    await runInject(['--help']);
    await runInject(['driver-crash', '--control', path]);
    await runInject(['status', '--control', path]);
    driverOn = false;
    await runInject(['driver-slow', '--control', path]);
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
  t.equal(out[0], INJECT_HELP);
  t.match(out[0], /driver-corrupt +the next TX response carries an id never sent/);
  t.match(JSON.parse(out[1]!), { ok: true, fault: 'driver-crash', pid: d.pid });
  t.match(JSON.parse(out[2]!), { ok: true, vifs: 0 });
  t.match(out[4], /phoenix inject: fault driver-slow needs an uplink driver: start serve with --uplink/);
  t.equal(process.exitCode, 1, 'refused → exit 1');
  process.exitCode = 0;
  await until(() => !d.alive, 'the crashed driver to be gone', 10000);
  t.pass('driver-crash: the driver process died');
  await t.rejects(runInject([]), /name one fault/);
  await t.rejects(runInject(['driver-hang', '--ms=1.5', '--control', path]), /--ms must be a non-negative integer/);
});
