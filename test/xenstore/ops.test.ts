// SPDX-License-Identifier: MIT
// ops.test.ts — every operation through XenstoreClient against XenstoreServer, as dom0.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { XenstoreClient } from '../../src/transport/xenstore/client.js';
import { XenstoreServer } from '../../src/transport/xenstore/server.js';
import { XsType } from '../../src/transport/xenstore/wire.js';
import { startRig } from './fixtures/rig.js';

t.test('initial tree is what xenstored starts with', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  t.same(await xs.directory('/'), ['tool']);
  t.same(await xs.directory('/tool'), ['xenstored']);
  t.same(await xs.getPerms('/'), [{ id: 0, perm: 'n' }]);
});

t.test('write creates parents; read, readBuffer, directory', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  await xs.write('/a/b/c', 'hello');
  t.equal(await xs.read('/a/b/c'), 'hello');
  t.equal(await xs.read('/a/b'), '', 'parent created empty');
  t.equal(await xs.read('/a/nope'), undefined, 'ENOENT reads as undefined');
  await xs.write('/a/bin', Buffer.from([0, 1, 2, 0]));
  t.same([...(await xs.readBuffer('/a/bin'))!], [0, 1, 2, 0], 'binary values, nuls included');
  await xs.write('/a/b/c', 'again');
  t.equal(await xs.read('/a/b/c'), 'again', 'overwrite');
  await xs.write('/a/empty', '');
  t.equal(await xs.read('/a/empty'), '');
  t.same(await xs.directory('/a'), ['b', 'bin', 'empty'], 'children in creation order');
  t.same(await xs.directory('/a/b/c'), [], 'leaf has no children');
  t.same(await xs.directory('/missing'), [], 'directory of a missing node is []');
  t.equal(await xs.read('relative'), undefined);
  await xs.write('rel/x', '1');
  t.equal(await xs.read('/local/domain/0/rel/x'), '1', 'dom0 relative paths live under /local/domain/0');
});

t.test('mkdir keeps existing values; rm removes subtrees', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  await xs.write('/m/v', 'keep');
  await xs.mkdir('/m/v');
  t.equal(await xs.read('/m/v'), 'keep');
  await xs.mkdir('/m/d/e/f');
  t.same(await xs.directory('/m/d/e'), ['f']);
  await xs.rm('/m/d');
  t.equal(await xs.read('/m/d/e/f'), undefined);
  t.same(await xs.directory('/m'), ['v'], 'unlinked from parent');
  await xs.rm('/m/nothing');
  t.pass('rm of a missing node with an existing parent succeeds');
  await t.rejects(xs.rm('/m/no/such'), { code: 'ENOENT', op: 'rm', path: '/m/no/such' });
  await t.rejects(xs.rm('/'), { code: 'EINVAL' });
  t.equal(rig.server.stats.nodes, 5, '/, /tool, /tool/xenstored, /m, /m/v');
});

t.test('invalid paths are EINVAL', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  for (const p of ['/a//b', '/a/', '/a b', '/a\u00e9', '', '@foo', `/${'x'.repeat(2049)}`]) {
    await t.rejects(xs.write(p, 'v'), { code: 'EINVAL' }, JSON.stringify(p.slice(0, 20)));
  }
  await xs.write(`/local/domain/7/${'y'.repeat(2047)}`, 'v');
  t.pass('2048 bytes past /local/domain/<id>/ is allowed');
});

t.test('permissions round-trip; owner semantics', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  await xs.write('/p/n', 'v');
  await xs.setPerms('/p/n', [{ id: 5, perm: 'r' }, { id: 7, perm: 'b' }, { id: 9, perm: 'w' }, { id: 0, perm: 'n' }]);
  t.same(await xs.getPerms('/p/n'), [{ id: 5, perm: 'r' }, { id: 7, perm: 'b' }, { id: 9, perm: 'w' }, { id: 0, perm: 'n' }]);
  await xs.write('/p/n/child', 'c');
  t.same(await xs.getPerms('/p/n/child'), await xs.getPerms('/p/n'), 'children inherit permissions (dom0 creator keeps the owner)');
  await t.rejects(xs.setPerms('/p/n', []), { code: 'EINVAL' });
  await t.rejects(xs.getPerms('/p/missing'), { code: 'ENOENT' });
  await t.rejects(xs.request(XsType.SET_PERMS, 0, Buffer.from('/p/n\0x5\0'), 'setPerms', '/p/n'), { code: 'EINVAL' }, 'bad letter');
  await t.rejects(xs.request(XsType.SET_PERMS, 0, Buffer.from('/p/n\0'), 'setPerms', '/p/n'), { code: 'EINVAL' }, 'no entries');
});

t.test('directory over 4096 bytes goes through DIRECTORY_PART', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  const names = Array.from({ length: 300 }, (_, i) => `child-with-a-long-name-${String(i).padStart(4, '0')}`);
  await xs.transaction(async (tx) => {
    for (const n of names) await xs.write(`/big/${n}`, '', tx);
  });
  await t.rejects(xs.request(XsType.DIRECTORY, 0, Buffer.from('/big\0'), 'directory', '/big'), { code: 'E2BIG' });
  t.same(await xs.directory('/big'), names);
  const part = await xs.request(XsType.DIRECTORY_PART, 0, Buffer.from('/big\x00999999\x00'), 'directory', '/big');
  t.match(part.toString('latin1'), /^\d+\0\0$/, 'offset past the end: generation and an empty list');
});

t.test('domain path, introduction queries', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  t.equal(await xs.getDomainPath(12), '/local/domain/12');
  await t.rejects(xs.getDomainPath(-1), { code: 'EINVAL' });
  t.equal(await xs.isDomainIntroduced(0), true, 'dom0 always is');
  t.equal(await xs.isDomainIntroduced(3), false);
  const p = await xs.introduce(3);
  t.equal(p, `${rig.sock}.d3`);
  t.equal(await xs.isDomainIntroduced(3), true);
  t.equal(rig.server.isIntroduced(3), true);
  await xs.introduce(3);
  t.pass('introducing twice is fine');
  await xs.release(3);
  t.equal(await xs.isDomainIntroduced(3), false);
  await t.rejects(xs.release(3), { code: 'ENOENT' });
  await t.rejects(xs.release(0), { code: 'EINVAL' });
  await t.rejects(xs.introduce(0), { code: 'EINVAL' });
  await t.rejects(xs.request(XsType.INTRODUCE, 0, Buffer.from('4\x000\x000\0'), 'introduce', undefined), { code: 'EINVAL' }, 'port 0');
});

t.test('control, reset watches, unserved types', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  t.match((await xs.request(XsType.CONTROL, 0, Buffer.from('help\0'), 'control', undefined)).toString(), /print/);
  await t.rejects(xs.request(XsType.CONTROL, 0, Buffer.from('frobnicate\0'), 'control', undefined), { code: 'EINVAL' });
  await xs.watch('/w', 'tok', () => undefined);
  await xs.resetWatches();
  await xs.watch('/w', 'tok', () => undefined);
  t.pass('after RESET_WATCHES the same watch can be set again');
  await t.rejects(xs.request(XsType.GET_QUOTA, 0, Buffer.from('\0'), 'getQuota', undefined), { code: 'ENOSYS' });
  await t.rejects(xs.request(20, 0, Buffer.from('\0'), 'restrict', undefined), { code: 'ENOSYS' });
  await t.rejects(xs.request(XsType.WATCH_EVENT, 0, Buffer.from('\0'), 'event', undefined), { code: 'ENOSYS' });
  await t.rejects(xs.request(999, 0, Buffer.from('\0'), 'bogus', undefined), { code: 'EINVAL' });
  await t.rejects(xs.write('/x', '1', 4242), { code: 'ENOENT' }, 'unknown transaction id');
  t.equal(await xs.read('/x'), undefined, 'and nothing was written');
});

t.test('pipelined requests and local E2BIG', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  await Promise.all(Array.from({ length: 200 }, (_, i) => xs.write(`/pipe/${i}`, String(i))));
  const vals = await Promise.all(Array.from({ length: 200 }, (_, i) => xs.read(`/pipe/${i}`)));
  t.same(vals, Array.from({ length: 200 }, (_, i) => String(i)));
  await t.rejects(xs.write('/big', 'x'.repeat(5000)), { code: 'E2BIG', op: 'write' });
  t.equal(await xs.read('/pipe/0'), '0', 'connection still fine after a refused request');
});

t.test('closing the socket rejects pending requests', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  let closeCalls = 0;
  xs.onClose(() => {
    closeCalls++;
  });
  const pending = xs.read('/tool');
  await rig.server.close();
  await t.rejects(pending.then(() => xs.read('/tool')), { code: 'ECONNRESET' });
  t.equal(xs.closed, true);
  t.equal(closeCalls, 1, 'onClose ran once');
  await t.rejects(xs.write('/x', '1'), { code: 'ECONNRESET' });
});

t.test('SET_TARGET gives a domain its target’s rights; RESUME needs an introduced domain', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  await xs.write('/local/domain/3/secret', 's');
  await xs.setPerms('/local/domain/3/secret', [{ id: 3, perm: 'n' }]);
  const dm = await rig.guest(4); // e.g. a device model domain serving domain 3
  await rig.server.introduceDomain(3);
  await t.rejects(dm.read('/local/domain/3/secret'), { code: 'EACCES' });
  await xs.request(XsType.SET_TARGET, 0, Buffer.from('4\x003\x00'), 'setTarget', undefined);
  t.equal(await dm.read('/local/domain/3/secret'), 's', 'target owner rights');
  await t.rejects(xs.request(XsType.SET_TARGET, 0, Buffer.from('4\x009\x00'), 'setTarget', undefined), { code: 'ENOENT' });
  await t.rejects(xs.request(XsType.SET_TARGET, 0, Buffer.from('4\x00'), 'setTarget', undefined), { code: 'EINVAL' });
  await xs.request(XsType.RESUME, 0, Buffer.from('3\x00'), 'resume', undefined);
  await t.rejects(xs.request(XsType.RESUME, 0, Buffer.from('9\x00'), 'resume', undefined), { code: 'ENOENT' });
  t.equal((await xs.request(XsType.CONTROL, 0, Buffer.from('check\x00'), 'control', undefined)).toString(), 'OK\0');
  t.equal((await xs.request(XsType.CONTROL, 0, Buffer.from('print\x00hello\x00'), 'control', undefined)).toString(), 'OK\0');
  await t.rejects(xs.request(XsType.CONTROL, 0, Buffer.alloc(0), 'control', undefined), { code: 'EINVAL' });
});

t.test('start replaces a stale socket file but not a live server', async (t) => {
  const rig = await startRig(t);
  await t.rejects(XenstoreServer.start({ socketPath: rig.sock }), { code: 'EADDRINUSE' }, 'a live server keeps its socket');
  // A server that died without cleaning up: a process listens, then exits without closing.
  const stale = `${rig.dir}/stale.sock`;
  execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
  t.ok(fs.existsSync(stale), 'a stale socket file is left behind');
  const s2 = await XenstoreServer.start({ socketPath: stale });
  t.teardown(() => s2.close());
  const c = await XenstoreClient.connect(stale);
  t.teardown(() => c.close());
  t.same(await c.directory('/'), ['tool']);
});
