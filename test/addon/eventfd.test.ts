// SPDX-License-Identifier: MIT
// eventfd.test.ts — EventFd: counting, watching on the loop, across processes, adoption checks.
import t, { type Test } from 'tap';
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { EventFd, pidfdGetFd } from '../../src/native/index.js';
import { child, settle, until } from './helpers.js';

function eventfd(t: Test): EventFd {
  const ev = EventFd.create();
  t.teardown(() => ev.close());
  return ev;
}

t.test('signal adds, drain reads and resets', async (t) => {
  const ev = eventfd(t);
  t.equal(readlinkSync(`/proc/self/fd/${ev.fd}`), 'anon_inode:[eventfd]');
  t.equal(ev.drain(), 0, 'nothing pending: 0, no blocking');
  ev.signal();
  ev.signal();
  ev.signal();
  t.equal(ev.drain(), 3);
  t.equal(ev.drain(), 0, 'drain reset the counter');
});

t.test('watch fires on the loop with the drained count; unwatch stops it', async (t) => {
  const ev = eventfd(t);
  const seen: number[] = [];
  ev.watch((n) => seen.push(n));
  t.equal(ev.watching, true);
  ev.signal();
  ev.signal();
  t.same(seen, [], 'never called synchronously');
  t.ok(await until(() => seen.length === 1), 'the callback ran');
  t.same(seen, [2], 'both signals, drained in one read');
  t.equal(ev.drain(), 0, 'the native side drained the counter');
  ev.signal();
  t.ok(await until(() => seen.length === 2));
  t.same(seen, [2, 1]);

  ev.unwatch();
  t.equal(ev.watching, false);
  ev.signal();
  await settle();
  t.same(seen, [2, 1], 'no callback after unwatch');
  t.equal(ev.drain(), 1, 'the signal is still in the counter');

  const other: number[] = [];
  ev.watch((n) => seen.push(n));
  ev.watch((n) => other.push(n)); // replaces the callback
  ev.signal();
  t.ok(await until(() => other.length === 1));
  t.same(seen, [2, 1], 'the replaced callback is not called');
});

t.test('the callback may close its own EventFd', async (t) => {
  const ev = eventfd(t);
  let calls = 0;
  ev.watch(() => {
    calls++;
    ev.close();
  });
  ev.signal();
  t.ok(await until(() => calls === 1));
  t.equal(ev.fd, -1);
  t.equal(ev.watching, false);
  await settle();
  t.equal(calls, 1);
});

t.test('close is idempotent; a closed EventFd says so', async (t) => {
  const ev = EventFd.create();
  const fd = ev.fd;
  ev.watch(() => undefined);
  ev.close();
  ev.close();
  t.equal(ev.fd, -1);
  t.throws(() => readlinkSync(`/proc/self/fd/${fd}`), { code: 'ENOENT' }, 'the fd is closed');
  t.throws(() => ev.signal(), { code: 'EBADF', syscall: 'write', message: /closed/ });
  t.throws(() => ev.drain(), { code: 'EBADF', syscall: 'read' });
  t.throws(() => ev.watch(() => undefined), { code: 'EBADF' });
  t.throws(() => ev.watch(42 as unknown as () => void), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test('fromFd adopts only eventfds', async (t) => {
  const file = openSync('/proc/self/status', 'r');
  t.teardown(() => closeSync(file));
  t.throws(() => EventFd.fromFd(file), { code: 'EINVAL', errno: -22, message: /not an eventfd/ }, 'a regular file is refused');
  t.equal(readlinkSync(`/proc/self/fd/${file}`), '/proc/self/status'.replace('self', String(process.pid)), 'and left open');
  t.throws(() => EventFd.fromFd(100_000), { code: 'EBADF' }, 'a closed fd is refused');
  t.throws(() => EventFd.fromFd(-1), { code: 'ERR_OUT_OF_RANGE' });

  const ev = eventfd(t);
  const dup = EventFd.fromFd(pidfdGetFd(process.pid, ev.fd));
  t.teardown(() => dup.close());
  t.not(dup.fd, ev.fd);
  const seen: number[] = [];
  ev.watch((n) => seen.push(n));
  dup.signal();
  t.ok(await until(() => seen.length === 1), 'signalling the adopted duplicate wakes the original');
  t.same(seen, [1]);
});

t.test('a child signals our eventfd, passed in its stdio array', async (t) => {
  const ev = eventfd(t);
  let total = 0;
  ev.watch((n) => {
    total += n;
  });
  const c = child(t, 'ev-signal-fd', ['3', '5'], { stdio: ['pipe', 'pipe', 'pipe', ev.fd] });
  await c.line(/^signalled$/);
  t.ok(await until(() => total === 5), `the watch saw all 5 signals (saw ${total})`);
  t.equal((await c.exited).code, 0);
});

t.test('we signal a child\'s eventfd, fetched with pidfdGetFd', async (t) => {
  const c = child(t, 'ev-watch');
  const fd = Number((await c.line(/^fd (\d+)$/))[1]);
  const ours = EventFd.fromFd(pidfdGetFd(c.pid, fd));
  t.teardown(() => ours.close());
  ours.signal();
  t.equal((await c.line(/^woke \d+$/))[0], 'woke 1', 'the child\'s watcher woke');
  t.equal((await c.exited).code, 0);
});

t.test('an exception in a watch callback reaches uncaughtException', async (t) => {
  const c = child(t, 'ev-throw');
  await c.line(/^uncaught boom$/);
  t.equal((await c.exited).code, 0);
});

t.test('an active watch keeps the loop alive unless unref()ed', async (t) => {
  const held = child(t, 'keepalive', ['eventfd', 'ref']);
  await held.line(/^armed$/);
  await settle(500);
  t.equal(held.proc.exitCode, null, 'ref: still running');
  const free = child(t, 'keepalive', ['eventfd', 'unref']);
  await free.line(/^armed$/);
  t.same(await free.exited, { code: 0, signal: null }, 'unref: the process exits by itself');
});
