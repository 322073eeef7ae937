// SPDX-License-Identifier: MIT
// process.test.ts — watchExit, pidfdGetFd, closeFd, and clean teardown of armed handles.
import t from 'tap';
import { fstatSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { closeFd, EventFd, pidfdGetFd, watchExit } from '../../src/native/index.js';
import { child, settle, shmPath, until } from './helpers.js';

t.test('watchExit fires once when a child exits', async (t) => {
  const c = child(t, 'wait');
  await c.line(/^waiting$/);
  let fired = 0;
  const w = watchExit(c.pid, () => fired++);
  t.teardown(() => w.close());
  t.equal(w.active, true);
  await settle(100);
  t.equal(fired, 0, 'not while it runs');
  c.proc.stdin?.end(); // the child exits by itself
  t.ok(await until(() => fired === 1), 'fired on exit');
  t.equal(w.active, false);
  await c.exited;
  await settle(100);
  t.equal(fired, 1, 'exactly once');
  t.doesNotThrow(() => w.close(), 'close after firing is a no-op');
});

t.test('watchExit fires when a child is SIGKILLed, promptly', async (t) => {
  const c = child(t, 'wait');
  await c.line(/^waiting$/);
  let firedAt = 0;
  watchExit(c.pid, () => {
    firedAt = performance.now();
  }); // the handle is dropped on purpose: an armed watch keeps itself alive
  const killedAt = performance.now();
  c.proc.kill('SIGKILL');
  t.ok(await until(() => firedAt > 0), 'fired');
  t.ok(firedAt - killedAt < 1000, `within a second (${(firedAt - killedAt).toFixed(1)} ms)`);
  t.equal((await c.exited).signal, 'SIGKILL');
});

t.test('watchExit works for a process that is not our child', async (t) => {
  const c = child(t, 'grandchild');
  const pid = Number((await c.line(/^pid (\d+)$/))[1]);
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let fired = 0;
  const w = watchExit(pid, () => fired++);
  t.teardown(() => w.close());
  await settle(100);
  t.equal(fired, 0);
  process.kill(pid, 'SIGKILL');
  t.ok(await until(() => fired === 1), 'fired for the grandchild');
  await c.line(/^grandchild exited SIGKILL$/);
});

t.test('close() before the exit: the callback never fires', async (t) => {
  const c = child(t, 'wait');
  await c.line(/^waiting$/);
  let fired = 0;
  const w = watchExit(c.pid, () => fired++);
  w.close();
  w.close();
  t.equal(w.active, false);
  c.proc.kill('SIGKILL');
  await c.exited;
  await settle(100);
  t.equal(fired, 0);
});

t.test('watchExit errors', async (t) => {
  const c = child(t, 'wait');
  c.proc.stdin?.end();
  await c.exited; // Node has reaped it: the pid is free
  t.throws(() => watchExit(c.pid, () => undefined), { code: 'ESRCH', syscall: 'pidfd_open', message: /no process/ });
  t.throws(() => watchExit(0, () => undefined), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => watchExit(process.pid, 'x' as unknown as () => void), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test('an armed exit watch keeps the loop alive unless unref()ed', async (t) => {
  const held = child(t, 'keepalive', ['exit', 'ref']);
  await held.line(/^armed$/);
  await settle(500);
  t.equal(held.proc.exitCode, null, 'ref: still running');
  const free = child(t, 'keepalive', ['exit', 'unref']);
  await free.line(/^armed$/);
  t.same(await free.exited, { code: 0, signal: null }, 'unref: exits by itself');
});

t.test('pidfdGetFd duplicates a child\'s fd; signalling the copy wakes the child', async (t) => {
  const c = child(t, 'ev-watch');
  const fd = Number((await c.line(/^fd (\d+)$/))[1]);
  const dup = pidfdGetFd(c.pid, fd);
  t.teardown(() => {
    try {
      closeFd(dup);
    } catch {
      // already closed below
    }
  });
  t.equal(readlinkSync(`/proc/self/fd/${dup}`), 'anon_inode:[eventfd]');
  // A raw write of 1 through the duplicate, without EventFd, is what the child sees.
  const ev = EventFd.fromFd(dup);
  ev.signal();
  t.equal((await c.line(/^woke \d+$/))[0], 'woke 1');
  ev.close();
  t.throws(() => pidfdGetFd(process.pid, 100_000), { code: 'EBADF', syscall: 'pidfd_getfd', message: /has no fd 100000/ });
});

t.test('closeFd closes; a second close is EBADF', async (t) => {
  const ev = EventFd.create();
  const dup = pidfdGetFd(process.pid, ev.fd);
  t.teardown(() => ev.close());
  t.doesNotThrow(() => fstatSync(dup));
  closeFd(dup);
  t.throws(() => fstatSync(dup), { code: 'EBADF' });
  t.throws(() => closeFd(dup), { code: 'EBADF', syscall: 'close', errno: -9 });
});

t.test('process.exit() with armed handles and an open mapping exits cleanly', async (t) => {
  const c = child(t, 'exit-while-watching', [shmPath(t)]);
  await c.line(/^armed true$/);
  t.same(await c.exited, { code: 0, signal: null });
  t.equal(c.stderr(), '');
});

t.test('a worker that alone loaded the addon can be terminated with armed handles', async (t) => {
  const c = child(t, 'worker-teardown', [shmPath(t)]);
  await c.line(/^woke$/);
  await c.line(/^terminated 1$/);
  t.same(await c.exited, { code: 0, signal: null }, 'no crash when Node unloads the addon');
});

t.test('a worker thread with armed handles can be terminated', async (t) => {
  const path = shmPath(t);
  const addon = process.env.PHOENIX_ADDON ?? new URL('../../build/Release/phoenix.node', import.meta.url).pathname;
  const code = `
    const { parentPort } = require('node:worker_threads');
    const a = require(${JSON.stringify(addon)});
    const ev = new a.EventFd();
    ev.watch(() => parentPort.postMessage('woke'));
    const ex = new a.ExitWatcher(process.pid, () => {});
    const m = new a.Mapping(${JSON.stringify(path)}, 4096, a.mapFlags.create);
    new Uint8Array(m.buffer)[0] = 7;
    ev.signal();
    parentPort.postMessage('ready');`;
  const worker = new Worker(code, { eval: true });
  const messages: string[] = [];
  worker.on('message', (m: string) => messages.push(m));
  t.ok(await until(() => messages.includes('woke')), 'the worker\'s own loop ran its watch');
  const exitCode = await worker.terminate();
  t.equal(exitCode, 1, 'terminated');
  // The main thread is unharmed and its own handles still work.
  const ev = EventFd.create();
  t.teardown(() => ev.close());
  let n = 0;
  ev.watch((c) => (n += c));
  ev.signal();
  t.ok(await until(() => n === 1));
});
