// SPDX-License-Identifier: MIT
// watches.test.ts — initial fire, subtree changes, removal, relative paths, permissions, unwatch,
// @introduceDomain / @releaseDomain.
import t from 'tap';
import { EventLog, startRig } from './fixtures/rig.js';

t.test('fires once at once, then on every change of the node or below it', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  const log = new EventLog();
  await xs.watch('/w', 'tok', log.cb);
  await log.until((e) => e.length === 1);
  t.same(log.events, ['/w'], 'initial event carries the watched path, even if absent');
  await xs.write('/w/a', '1');
  await xs.write('/w/a/b', '2');
  await xs.write('/other', '3');
  await xs.write('/wx', '4');
  await xs.mkdir('/w/a'); // exists: no change, no event
  await xs.setPerms('/w/a', [{ id: 0, perm: 'r' }]);
  await xs.write('/w', 'top');
  await log.until((e) => e.length === 5);
  t.same(await log.quiet(), ['/w', '/w/a', '/w/a/b', '/w/a', '/w'], 'no event for /other, /wx or a no-op mkdir');
});

t.test('rm fires the root for ancestors and each removed node for exact watchers', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  await xs.write('/r/a/b/c', 'v');
  const parent = new EventLog();
  const exact = new EventLog();
  const deep = new EventLog();
  await xs.watch('/r', 'p', parent.cb);
  await xs.watch('/r/a/b', 'e', exact.cb);
  await xs.watch('/r/a/b/c/none', 'd', deep.cb);
  await Promise.all([parent.until((e) => e.length === 1), exact.until((e) => e.length === 1), deep.until((e) => e.length === 1)]);
  await xs.rm('/r/a');
  await parent.until((e) => e.length === 2);
  t.same(await parent.quiet(), ['/r', '/r/a'], 'one event for the removed root');
  t.same(exact.events, ['/r/a/b', '/r/a/b'], 'removed descendant fires its exact watch');
  t.same(deep.events, ['/r/a/b/c/none'], 'a watch on a node that never existed does not fire');
});

t.test('a guest watch given relative reports relative paths; absolute stays absolute', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  const g = await rig.guest(5);
  const rel = new EventLog();
  const abs = new EventLog();
  await g.watch('device', 'r', rel.cb);
  await g.watch('/local/domain/5/device', 'a', abs.cb);
  await xs0.write('/local/domain/5/device/vif/0/state', '1');
  await rel.until((e) => e.length === 2);
  await abs.until((e) => e.length === 2);
  t.same(rel.events, ['device', 'device/vif/0/state']);
  t.same(abs.events, ['/local/domain/5/device', '/local/domain/5/device/vif/0/state']);
});

t.test('watchers only hear about nodes they may read', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  const g = await rig.guest(5);
  const log = new EventLog();
  await g.watch('/', 'all', log.cb);
  await log.until((e) => e.length === 1);
  await xs0.write('/hidden', 's');
  await xs0.write('/visible', 'v');
  await xs0.setPerms('/visible', [{ id: 0, perm: 'n' }, { id: 5, perm: 'r' }]);
  await xs0.write('/visible', 'v2');
  await xs0.write('/visible/child', 'c'); // inherits r5
  await xs0.setPerms('/visible/child', [{ id: 0, perm: 'n' }]); // lost access: still told (old perms)
  await xs0.write('/visible/child', 'c2'); // unreadable, but its parent is readable: told
  await xs0.write('/hidden/deeper', 'x'); // neither the node nor its parent readable
  await log.until((e) => e.length === 6);
  t.same(await log.quiet(), ['/', '/visible', '/visible', '/visible/child', '/visible/child', '/visible/child']);
});

t.test('unwatch stops events; duplicates and unknown watches are errors', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  const a = new EventLog();
  const b = new EventLog();
  await xs.watch('/u', 'a', a.cb);
  await xs.watch('/u', 'b', b.cb);
  await t.rejects(xs.watch('/u', 'a', a.cb), { code: 'EEXIST' });
  await xs.unwatch('/u', 'a');
  await xs.write('/u/x', '1');
  await b.until((e) => e.length === 2);
  t.same(await a.quiet(), ['/u'], 'only the initial event before unwatch');
  await t.rejects(xs.unwatch('/u', 'a'), { code: 'ENOENT' });
  await t.rejects(xs.watch('/bad//path', 'x', () => undefined), { code: 'EINVAL' });
  // Two watches with one token: each gets the events under its own path.
  const c = new EventLog();
  const d = new EventLog();
  await xs.watch('/s1', 'same', c.cb);
  await xs.watch('/s2', 'same', d.cb);
  await xs.write('/s2/k', '1');
  await d.until((e) => e.length === 2);
  t.same(await c.quiet(), ['/s1']);
  t.same(d.events, ['/s2', '/s2/k']);
});

t.test('a callback that throws does not break the connection', async (t) => {
  const rig = await startRig(t);
  const xs = await rig.dom0();
  const seen: unknown[] = [];
  const onUncaught = (e: unknown): void => {
    seen.push(e);
  };
  // tap installs its own handler; ours only records that the error surfaced.
  process.prependListener('uncaughtException', onUncaught);
  t.teardown(() => {
    process.off('uncaughtException', onUncaught);
  });
  const log = new EventLog();
  await xs.watch('/boom', 'b', () => {
    throw new Error('callback bug');
  });
  await xs.watch('/fine', 'f', log.cb);
  await xs.write('/fine/x', '1');
  await log.until((e) => e.length === 2);
  t.equal(await xs.read('/fine/x'), '1');
  t.match(seen, [{ message: 'callback bug' }], 'the error surfaced asynchronously, not swallowed');
});

t.test('@introduceDomain and @releaseDomain', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  const intro = new EventLog();
  const rel = new EventLog();
  await xs0.watch('@introduceDomain', 'i', intro.cb);
  await xs0.watch('@releaseDomain', 'r', rel.cb);
  await intro.until((e) => e.length === 1);
  await rel.until((e) => e.length === 1);
  await rig.server.introduceDomain(7);
  await intro.until((e) => e.length === 2);
  await xs0.introduce(8);
  await intro.until((e) => e.length === 3);
  await xs0.introduce(8); // already introduced: no event
  t.same(await intro.quiet(), ['@introduceDomain', '@introduceDomain', '@introduceDomain']);

  // A guest does not see special events unless dom0 grants it.
  const g = await rig.guest(9);
  const glog = new EventLog();
  await g.watch('@releaseDomain', 'g', glog.cb);
  await glog.until((e) => e.length === 1);
  await xs0.release(7);
  await rel.until((e) => e.length === 2);
  t.same(await glog.quiet(), ['@releaseDomain'], 'unprivileged: initial event only');
  await t.rejects(g.setPerms('@releaseDomain', [{ id: 9, perm: 'r' }]), { code: 'EACCES' });
  await xs0.setPerms('@releaseDomain', [{ id: 0, perm: 'n' }, { id: 9, perm: 'r' }]);
  await rig.server.releaseDomain(8);
  await glog.until((e) => e.length === 2);
  t.same(glog.events, ['@releaseDomain', '@releaseDomain'], 'after SET_PERMS on the special node it hears');
  await t.rejects(xs0.setPerms('@other', [{ id: 0, perm: 'n' }]), { code: 'EINVAL' });
});

t.test("a released domain's watches are gone with its connection", async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  const g = await rig.guest(5);
  await g.watch('/local/domain/5', 'x', () => undefined);
  await rig.server.releaseDomain(5);
  await xs0.write('/local/domain/5/after', '1');
  t.equal(rig.server.stats.connections, 1, 'only dom0 left');
});
