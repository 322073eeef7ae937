// SPDX-License-Identifier: MIT
// permissions.test.ts — a guest (connected through its introduceDomain socket) against dom0's nodes,
// the vif layout of reference/xen-netif.md §2.6, owner rules, quotas, domain release.
import t from 'tap';
import { permFor, PERM_OWNER, PERM_READ, PERM_WRITE } from '../../src/transport/xenstore/permissions.js';
import { startRig } from './fixtures/rig.js';

t.test('permFor is perm_for_conn', async (t) => {
  const g5 = { domid: 5, privileged: false };
  const acl = [{ id: 7, perm: 'r' as const }, { id: 5, perm: 'w' as const }, { id: 5, perm: 'b' as const }];
  t.equal(permFor({ domid: 0, privileged: true }, acl), PERM_READ | PERM_WRITE | PERM_OWNER, 'dom0: everything');
  t.equal(permFor({ domid: 7, privileged: false }, acl), PERM_READ | PERM_WRITE | PERM_OWNER, 'owner: everything');
  t.equal(permFor(g5, acl), PERM_WRITE, 'first matching entry wins');
  t.equal(permFor({ domid: 9, privileged: false }, acl), PERM_READ, "others: the owner entry's letter");
  t.equal(permFor({ domid: 9, privileged: false, target: 7 }, acl), PERM_READ | PERM_WRITE | PERM_OWNER, 'SET_TARGET to the owner');
});

t.test("guest cannot touch dom0's nodes; errors do not leak existence", async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  await xs0.write('/secret/key', 'v');
  const g = await rig.guest(5);
  await t.rejects(g.read('/secret/key'), { code: 'EACCES' });
  await t.rejects(g.read('/secret/nothing'), { code: 'EACCES' }, 'absent under an unreadable parent: EACCES, not ENOENT');
  await t.rejects(g.write('/secret/key', 'x'), { code: 'EACCES' });
  await t.rejects(g.write('/new', 'x'), { code: 'EACCES' }, 'cannot create under /');
  await t.rejects(g.rm('/secret'), { code: 'EACCES' });
  await t.rejects(g.directory('/'), { code: 'EACCES' });
  await t.rejects(g.getPerms('/secret'), { code: 'EACCES' });
  await t.rejects(g.setPerms('/secret/key', [{ id: 5, perm: 'b' }]), { code: 'EACCES' });
  t.equal(await xs0.read('/secret/key'), 'v');
  await t.rejects(g.introduce(6), { code: 'EACCES' }, 'privileged-only request');
  await t.rejects(g.isDomainIntroduced(5), { code: 'EACCES' });
  t.equal(await g.getDomainPath(5), '/local/domain/5', 'anyone may ask for a domain path');
});

t.test('guest writes its own area; owner of what it creates; relative paths', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  const g = await rig.guest(5);
  await g.write('data/x', '1');
  t.equal(await xs0.read('/local/domain/5/data/x'), '1', 'relative to /local/domain/5');
  t.equal(await g.read('/local/domain/5/data/x'), '1');
  t.same(await g.getPerms('data/x'), [{ id: 5, perm: 'n' }], 'guest owns what it creates');
  await g.setPerms('data/x', [{ id: 5, perm: 'r' }, { id: 0, perm: 'b' }]);
  t.same(await xs0.getPerms('/local/domain/5/data/x'), [{ id: 5, perm: 'r' }, { id: 0, perm: 'b' }], 'owner may set perms');
  await t.rejects(g.setPerms('data/x', [{ id: 6, perm: 'n' }]), { code: 'EPERM' }, 'but not give the node away');
  await t.rejects(g.read('/local/domain/6/x'), { code: 'EACCES' });
  await g.rm('data');
  t.equal(await xs0.read('/local/domain/5/data'), undefined);
});

t.test('dom0 creates a node for a guest: the guest owns it (vif layout)', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  const fe = '/local/domain/5/device/vif/0';
  const be = '/local/domain/0/backend/vif/5/0';
  await xs0.transaction(async (tx) => {
    await xs0.mkdir(fe, tx);
    await xs0.setPerms(fe, [{ id: 5, perm: 'n' }, { id: 0, perm: 'r' }], tx);
    await xs0.write(`${fe}/state`, '1', tx);
    await xs0.write(`${be}/state`, '1', tx);
    await xs0.setPerms(be, [{ id: 0, perm: 'n' }, { id: 5, perm: 'r' }], tx);
    await xs0.setPerms(`${be}/state`, [{ id: 0, perm: 'n' }, { id: 5, perm: 'r' }], tx);
    await xs0.write(`${be}/private`, 'p', tx);
    await xs0.setPerms(`${be}/private`, [{ id: 0, perm: 'n' }], tx);
  });
  t.same(await xs0.getPerms(`${fe}/state`), [{ id: 5, perm: 'n' }, { id: 0, perm: 'r' }], 'inherited from the guest-owned parent');
  const g = await rig.guest(5);
  await g.write(`${fe}/state`, '4');
  await g.write(`${fe}/tx-ring-ref`, '8');
  t.same(await g.getPerms(`${fe}/tx-ring-ref`), [{ id: 5, perm: 'n' }, { id: 0, perm: 'r' }]);
  t.equal(await xs0.read(`${fe}/tx-ring-ref`), '8');
  t.equal(await g.read(`${be}/state`), '1', "guest reads the backend node its ACL grants 'r'");
  await t.rejects(g.write(`${be}/state`, '4'), { code: 'EACCES' }, 'but cannot write it');
  await t.rejects(g.write(`${be}/new`, '1'), { code: 'EACCES' }, 'nor create beside it');
  await t.rejects(g.read(`${be}/private`), { code: 'EACCES' });
  t.equal(await g.read(`${be}/absent`), undefined, 'absent (ENOENT) when the parent is readable');
  await t.rejects(g.getPerms(`${be}/absent`), { code: 'ENOENT' });
  await t.rejects(g.rm(be), { code: 'EACCES' });
  t.same(await g.directory(be), ['state', 'private'], 'directory of a readable node lists all names');
  const g6 = await rig.guest(6);
  await t.rejects(g6.read(`${fe}/state`), { code: 'EACCES' }, "another guest cannot read 5's frontend");
  await t.rejects(g6.read(`${be}/state`), { code: 'EACCES' }, "nor 5's backend node");
});

t.test('write permission through an ACL entry; created node owned by the writer', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  await xs0.mkdir('/shared');
  await xs0.setPerms('/shared', [{ id: 0, perm: 'n' }, { id: 5, perm: 'w' }]);
  const g = await rig.guest(5);
  await g.write('/shared/mine', 'm');
  t.same(await xs0.getPerms('/shared/mine'), [{ id: 5, perm: 'n' }, { id: 5, perm: 'w' }], 'owner replaced by the creator, ACL kept');
  await t.rejects(g.read('/shared/other'), { code: 'EACCES' }, "'w' without 'r' does not reveal absence");
});

t.test('quotas: nodes, node size, permissions per node, watches, transactions', async (t) => {
  const rig = await startRig(t, { nodes: 10, watches: 3, transactions: 2 });
  const xs0 = await rig.dom0();
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  const g = await rig.guest(5);
  // The guest owns /local/domain/5 already (1 node): 9 more fit.
  for (let i = 0; i < 9; i++) await g.write(`n${i}`, 'x');
  await t.rejects(g.write('n9', 'x'), { code: 'ENOSPC' });
  await t.rejects(g.write('deep/er/path', 'x'), { code: 'ENOSPC' }, 'a multi-node create is refused whole');
  t.equal(await g.read('deep'), undefined, 'and leaves nothing behind');
  await g.rm('n8');
  await g.write('n9', 'x');
  await t.rejects(g.write('n0', 'v'.repeat(2048)), { code: 'ENOSPC' }, 'node size');
  await g.write('n0', 'v'.repeat(1500));
  await t.rejects(g.setPerms('n0', Array.from({ length: 6 }, (_, i) => ({ id: i === 0 ? 5 : i, perm: 'r' as const }))), { code: 'ENOSPC' });
  for (let i = 0; i < 3; i++) await g.watch(`n${i}`, 't', () => undefined);
  await t.rejects(g.watch('n5', 't', () => undefined), { code: 'E2BIG' }, 'watch quota');
  await g.transactionStart();
  await g.transactionStart();
  await t.rejects(g.transactionStart(), { code: 'ENOSPC' }, 'transaction quota');
  await xs0.write('/local/domain/5/by-dom0', 'v'.repeat(3000));
  t.pass('dom0 is not subject to quotas');
});

t.test('node size is checked on every node a create touches', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  const g = await rig.guest(5);
  const long = 'L'.repeat(2030);
  await t.rejects(g.write(`a/${long}/x`, '1'), { code: 'ENOSPC' }, "new intermediate 'a' would list a 2030-byte child");
  t.equal(await g.read('a'), undefined, 'nothing created');
  await t.rejects(g.write(long, '1'), { code: 'ENOSPC' }, 'the existing parent would list it');
  await xs0.write(`/local/domain/5/a/${long}/x`, '1');
  t.pass('dom0 may');
});

t.test('release removes what the domain owns and its ACL entries; id reuse inherits nothing', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  await xs0.write('/keep/n', 'v');
  await xs0.setPerms('/keep/n', [{ id: 0, perm: 'n' }, { id: 5, perm: 'r' }]);
  const g = await rig.guest(5);
  await g.write('x', '1');
  let closed = false;
  g.onClose(() => {
    closed = true;
  });
  await rig.server.releaseDomain(5);
  t.equal(await xs0.read('/local/domain/5'), undefined, 'owned subtree gone');
  t.same(await xs0.getPerms('/keep/n'), [{ id: 0, perm: 'n' }], 'ACL entry for 5 dropped');
  await t.rejects(g.read('x'), { code: 'ECONNRESET' });
  t.equal(closed, true);
  const g2 = await rig.guest(5);
  await t.rejects(g2.read('/keep/n'), { code: 'EACCES' }, 'a new domain 5 cannot read it');
});

t.test('a domain socket refuses connections beyond its limit', async (t) => {
  const rig = await startRig(t, { connectionsPerDomain: 2 });
  const a = await rig.guest(5);
  const b = await rig.guest(5);
  const c = await rig.guest(5);
  await t.rejects(c.getDomainPath(5), { code: 'ECONNRESET' });
  t.equal(await a.getDomainPath(5), '/local/domain/5');
  t.equal(await b.getDomainPath(5), '/local/domain/5');
});
