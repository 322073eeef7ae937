// SPDX-License-Identifier: MIT
// hostile.test.ts — a misbehaving peer loses its own connection at worst; the server and everyone
// else carry on: oversized lengths, garbage, unknown types, malformed payloads, deep and long
// paths, a peer that never reads.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { joinStrings, XsType } from '../../src/transport/xenstore/wire.js';
import { EventLog, RawConn, startRig, str } from './fixtures/rig.js';

t.test('an oversized len closes that connection only', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  const g = await rig.guest(5);
  for (const p of [rig.sock, rig.server.domainSocketPath(5)]) {
    const raw = await RawConn.open(t, p);
    const hdr = Buffer.alloc(16);
    hdr.writeUInt32LE(XsType.WRITE, 0);
    hdr.writeUInt32LE(4097, 12);
    raw.sock.write(hdr);
    await raw.waitFor(() => raw.closed);
    t.pass(`closed (${p.endsWith('.d5') ? 'guest' : 'dom0'} socket)`);
  }
  t.equal(await xs0.getDomainPath(1), '/local/domain/1', 'dom0 client unaffected');
  t.equal(await g.getDomainPath(1), '/local/domain/1', 'guest client unaffected');
});

t.test('garbage streams never take the server down', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  for (let i = 0; i < 20; i++) {
    const raw = await RawConn.open(t, i % 2 ? rig.sock : await rig.server.introduceDomain(7));
    raw.sock.write(randomBytes(1 + Math.floor(Math.random() * 20000)));
    raw.sock.end();
  }
  // Frames that are well-formed but whose contents are random.
  const raw = await RawConn.open(t, await rig.server.introduceDomain(7));
  const n = 500;
  for (let i = 0; i < n; i++) raw.send(Math.floor(Math.random() * 40), i + 1, i % 3, randomBytes(Math.floor(Math.random() * 64)));
  await raw.waitFor(() => raw.replies.filter((m) => m.reqId !== 0).length === n);
  t.pass('each random request got exactly one reply');
  t.equal(await xs0.getDomainPath(2), '/local/domain/2');
  await xs0.write('/still/works', 'yes');
  t.equal(await xs0.read('/still/works'), 'yes');
});

t.test('unknown and unserved types get error replies echoing req_id and tx_id', async (t) => {
  const rig = await startRig(t);
  const raw = await RawConn.open(t, await rig.server.introduceDomain(3));
  raw.send(12345, 77, 0, joinStrings('x'));
  raw.send(XsType.SET_QUOTA, 78, 0, joinStrings('x'));
  raw.send(XsType.READ, 79, 0, Buffer.from('/no-nul'));
  raw.send(XsType.READ, 80, 0, Buffer.from('/a\0/b\0'));
  raw.send(XsType.WATCH, 81, 0, joinStrings('only-path'));
  raw.send(XsType.READ, 82, 99, joinStrings('/x'));
  raw.send(XsType.GET_DOMAIN_PATH, 83, 0, joinStrings('3'));
  const expect: [number, string][] = [[77, 'EINVAL'], [78, 'ENOSYS'], [79, 'EINVAL'], [80, 'EINVAL'], [81, 'EINVAL'], [82, 'ENOENT']];
  for (const [id, code] of expect) {
    const m = await raw.reply(id);
    t.equal(m.type, XsType.ERROR, `req ${id} is an error`);
    t.equal(str(m.payload), `${code}\0`);
  }
  t.equal((await raw.reply(82)).txId, 99, 'tx_id echoed');
  const ok = await raw.reply(83);
  t.equal(ok.type, XsType.GET_DOMAIN_PATH);
  t.equal(str(ok.payload), '/local/domain/3\0');
  t.same(raw.replies.map((m) => m.reqId), [77, 78, 79, 80, 81, 82, 83], 'answered in order');
});

t.test('deep and long paths', async (t) => {
  const rig = await startRig(t);
  const xs0 = await rig.dom0();
  const deep = '/deep' + '/d'.repeat(1000); // 2005 bytes, 1001 levels
  await xs0.write(deep, 'bottom');
  t.equal(await xs0.read(deep), 'bottom');
  const log = new EventLog();
  await xs0.watch(deep, 'deep', log.cb);
  await xs0.rm('/deep');
  await log.until((e) => e.length === 2);
  t.equal(await xs0.read('/deep/d'), undefined, 'a 1001-level subtree removed');
  await t.rejects(xs0.write('/x'.repeat(1100), 'v'), { code: 'EINVAL' }, 'over 2048 bytes');
  await t.rejects(xs0.write(`/${'a'.repeat(4100)}`, ''), { code: 'E2BIG' }, 'over the payload limit: refused locally');
  const raw = await RawConn.open(t, rig.sock);
  raw.send(XsType.WRITE, 1, 0, Buffer.concat([Buffer.from('/'), Buffer.alloc(4000, 0x61), Buffer.from([0])]));
  t.equal(str((await raw.reply(1)).payload), 'EINVAL\0', 'a long path straight on the wire');
  const g = await rig.guest(4);
  await xs0.mkdir('/local/domain/4');
  await xs0.setPerms('/local/domain/4', [{ id: 4, perm: 'n' }]);
  await t.rejects(g.write('x/'.repeat(1020) + 'x', '1'), { code: 'ENOSPC' }, 'a guest cannot create 1021 nodes in one go');
  t.equal(rig.server.stats.nodes, 6, 'nothing left behind: /, /tool, /tool/xenstored, /local, /local/domain, /local/domain/4');
});

t.test('a guest that never reads cannot make us buffer without bound', async (t) => {
  const limit = 64 * 1024;
  const rig = await startRig(t, { outputBytes: limit });
  const xs0 = await rig.dom0();
  await xs0.write('/pub/big', 'v'.repeat(4000));
  await xs0.setPerms('/pub', [{ id: 0, perm: 'r' }]);
  await xs0.setPerms('/pub/big', [{ id: 0, perm: 'r' }]);
  const raw = await RawConn.open(t, await rig.server.introduceDomain(6));
  raw.send(XsType.WATCH, 1, 0, joinStrings('/pub', 'w'));
  await raw.reply(1);
  raw.sock.pause();
  const n = 3000; // 12 MB of replies if we buffered them all
  const reqs: Buffer[] = [];
  for (let i = 0; i < n; i++) reqs.push(Buffer.from(joinStrings('/pub/big')));
  for (let i = 0; i < n; i++) raw.send(XsType.READ, 1000 + i, 0, reqs[i]!);
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 200; i++) await xs0.write('/pub/tick', String(i)); // events for the stalled guest
  const s = rig.server.stats;
  t.ok(s.unsentBytes <= limit + 2 * 4112, `unsent ${s.unsentBytes} bytes stays near the ${limit} limit`);
  t.ok(s.eventsDropped > 0, `events dropped for the stalled reader (${s.eventsDropped})`);
  t.equal(await xs0.read('/pub/tick'), '199', 'dom0 served meanwhile');
  raw.sock.resume();
  await raw.waitFor(() => raw.replies.filter((m) => m.type === XsType.READ).length === n, 20000);
  t.pass('every request answered once the guest reads again');
});
