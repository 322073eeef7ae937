// SPDX-License-Identifier: MIT
// transactions.test.ts — isolation, conflicts (EAGAIN) and client retry, abort, watches at commit.
import t from 'tap';
import { EventLog, startRig } from './fixtures/rig.js';

t.test('a transaction sees its own writes; others see nothing until commit', async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const b = await rig.dom0();
  await a.write('/t/x', 'old');
  const tx = await a.transactionStart();
  t.ok(tx > 0);
  await a.write('/t/x', 'new', tx);
  await a.write('/t/y/z', 'created', tx);
  await a.rm('/t/gone-not-there', tx);
  t.equal(await a.read('/t/x', tx), 'new', 'own write visible inside');
  t.same(await a.directory('/t', tx), ['x', 'y']);
  t.equal(await b.read('/t/x'), 'old', 'outside: old value');
  t.equal(await a.read('/t/x'), 'old', 'same connection outside the transaction: old value');
  t.equal(await b.read('/t/y/z'), undefined);
  await a.transactionEnd(tx, true);
  t.equal(await b.read('/t/x'), 'new');
  t.equal(await b.read('/t/y/z'), 'created');
  await t.rejects(a.read('/t/x', tx).then(() => a.write('/t/q', '1', tx)), { code: 'ENOENT' }, 'ended id is gone');
});

t.test("a transaction does not see others' later changes to what it read", async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const b = await rig.dom0();
  await a.write('/iso/v', '1');
  const tx = await a.transactionStart();
  t.equal(await a.read('/iso/v', tx), '1');
  await b.write('/iso/v', '2');
  t.equal(await a.read('/iso/v', tx), '1', 'snapshot of the first read');
  await t.rejects(a.transactionEnd(tx, true), { code: 'EAGAIN' });
  t.equal(await b.read('/iso/v'), '2', 'failed commit changed nothing');
});

t.test('conflicts: write/write, create under a read directory, delete of a read node', async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const b = await rig.dom0();
  await a.write('/c/k', '0');

  const t1 = await a.transactionStart();
  await a.write('/c/k', 'tx', t1);
  await b.write('/c/k', 'outside');
  await t.rejects(a.transactionEnd(t1, true), { code: 'EAGAIN' }, 'written node changed meanwhile');
  t.equal(await b.read('/c/k'), 'outside');

  const t2 = await a.transactionStart();
  await a.directory('/c', t2);
  await a.write('/elsewhere', '1', t2);
  await b.write('/c/new', '1');
  await t.rejects(a.transactionEnd(t2, true), { code: 'EAGAIN' }, 'a child appeared in a listed directory');
  t.equal(await b.read('/elsewhere'), undefined);

  const t3 = await a.transactionStart();
  t.equal(await a.read('/c/absent', t3), undefined);
  await a.write('/other', '1', t3);
  await b.write('/c/absent', 'now');
  await t.rejects(a.transactionEnd(t3, true), { code: 'EAGAIN' }, 'a node read as absent was created');

  const t4 = await a.transactionStart();
  await a.read('/c/new', t4);
  await b.rm('/c/new');
  await t.rejects(a.transactionEnd(t4, true), { code: 'EAGAIN' }, 'a read node was removed');

  const t5 = await a.transactionStart();
  await a.read('/c/k', t5);
  await b.write('/unrelated', '1');
  await a.transactionEnd(t5, true);
  t.pass('unrelated writes do not conflict');
});

t.test('client transaction() retries on EAGAIN and succeeds', async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const b = await rig.dom0();
  await a.write('/ctr', '0');
  let runs = 0;
  const result = await a.transaction(async (tx) => {
    runs++;
    const v = Number(await a.read('/ctr', tx));
    if (runs === 1) await b.write('/ctr', '10'); // interfere once
    await a.write('/ctr', String(v + 1), tx);
    return v + 1;
  });
  t.equal(runs, 2, 'ran again after the conflict');
  t.equal(result, 11);
  t.equal(await b.read('/ctr'), '11');

  // Concurrent increments from two connections all land.
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => {
      const c = i % 2 === 0 ? a : b;
      return c.transaction(async (tx) => {
        const v = Number(await c.read('/ctr', tx));
        await c.write('/ctr', String(v + 1), tx);
      }, { attempts: 100 });
    }),
  );
  t.equal(await a.read('/ctr'), '31');

  let tries = 0;
  await t.rejects(
    a.transaction(async (tx) => {
      tries++;
      await a.read('/ctr', tx);
      await b.write('/ctr', String(tries));
    }, { attempts: 3 }),
    { code: 'EAGAIN' },
  );
  t.equal(tries, 3, 'bounded retries');
});

t.test('abort: explicit, and when the callback throws', async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const tx = await a.transactionStart();
  await a.write('/ab/x', '1', tx);
  await a.transactionEnd(tx, false);
  t.equal(await a.read('/ab/x'), undefined);
  await t.rejects(
    a.transaction(async (tx2) => {
      await a.write('/ab/y', '1', tx2);
      throw new Error('changed my mind');
    }),
    { message: 'changed my mind' },
  );
  t.equal(await a.read('/ab/y'), undefined);
  await t.rejects(a.transactionEnd(0, true), { code: 'ENOENT' });
  const t2 = await a.transactionStart();
  await t.rejects(a.request(7, t2, Buffer.from('X\0'), 'transactionEnd', undefined), { code: 'EINVAL' }, 'neither T nor F');
  await t.rejects(a.request(6, t2, Buffer.from('\0'), 'transactionStart', undefined), { code: 'EBUSY' }, 'no nesting');
});

t.test('watches fire at commit, not before, and not on abort', async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const b = await rig.dom0();
  const log = new EventLog();
  await b.watch('/wt', 'w', log.cb);
  await log.until((e) => e.length === 1);
  const tx = await a.transactionStart();
  await a.write('/wt/one', '1', tx);
  await a.write('/wt/two', '2', tx);
  t.same(await log.quiet(), ['/wt'], 'nothing during the transaction');
  await a.transactionEnd(tx, true);
  await log.until((e) => e.length === 3);
  t.same(log.events, ['/wt', '/wt/one', '/wt/two']);
  const t2 = await a.transactionStart();
  await a.rm('/wt/one', t2);
  await a.transactionEnd(t2, false);
  t.same(await log.quiet(), ['/wt', '/wt/one', '/wt/two'], 'aborted: no events');
});

t.test('guest transaction limits and quotas are checked at commit', async (t) => {
  const rig = await startRig(t, { nodes: 5, transactionNodes: 8 });
  const xs0 = await rig.dom0();
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  const g = await rig.guest(5);
  const tx = await g.transactionStart();
  for (let i = 0; i < 4; i++) await g.write(`q${i}`, '1', tx);
  await g.write('q-outside', '1'); // now 2 owned outside + 4 inside = 6 > 5
  await t.rejects(g.transactionEnd(tx, true), { code: 'ENOSPC' });
  t.equal(await g.read('q0'), undefined);

  const t2 = await g.transactionStart();
  await t.rejects(
    (async () => {
      for (let i = 0; i < 20; i++) await g.read(`r${i}`, t2);
    })(),
    { code: 'ENOSPC' },
    'too many nodes touched',
  );
  await t.rejects(g.transactionEnd(t2, true), { code: 'ENOMEM' }, 'a failed transaction cannot commit');
});

t.test('dropping the connection discards its transactions', async (t) => {
  const rig = await startRig(t);
  const a = await rig.dom0();
  const b = await rig.dom0();
  const tx = await a.transactionStart();
  await a.write('/drop/x', '1', tx);
  await a.close();
  t.equal(await b.read('/drop/x'), undefined);
});
