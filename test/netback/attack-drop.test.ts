// Hostile frontend, non-fatal conditions: the packet is answered NETIF_RSP_ERROR on each of its
// slots (NETIF_RSP_NULL on extra slots), the reason is counted, and the guest stays connected
// and can send a good frame right after. Other guests are never affected.
import t, { type Test } from 'tap';
import {
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_GSO_TYPE_TCPV4,
} from '../../src/ring/netif.js';
import { GTF_permit_access, GTF_readonly } from '../../src/transport/types.js';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { until } from './harness.js';
import { BAD, counter, goodTrafficFlows, responses, scene, stageFrame, type Scene } from './attack-helpers.js';

const E = NETIF_RSP_ERROR;

/** The bad guest is still connected and its next good frame reaches guest 2 intact. */
async function stillServed(t: Test, s: Scene): Promise<void> {
  t.notOk(s.h.nb.vif(BAD, 0)?.disabled, 'bad guest still connected');
  const chk = new TrafficChecker();
  s.g2.onFrame = (b, o, l) => chk.check(b, o, l);
  const f = new Uint8Array(200);
  buildFrame(f, 0, s.g2.mac, s.bad.mac, 777, 0, 200);
  s.bad.send(f, 0, 200);
  s.bad.flushTx();
  await until(() => {
    s.bad.poll();
    s.g2.poll();
    return chk.total().received === 1;
  }, 'good frame from the bad guest');
  t.equal(chk.total().bad, 0);
}

t.test('first slot shorter than an Ethernet header', async (t) => {
  const s = await scene(t);
  stageFrame(s, 10);
  s.bad.rawTx([{ kind: 'req', size: 10 }]);
  t.same((await responses(s, 1)).map((r) => r[1]), [E]);
  t.equal(counter(s, BAD, 'tx_runt'), 1);
  await stillServed(t, s);
  await goodTrafficFlows(t, s);
});

for (const frags of [19, 20]) {
  t.test(`${frags} follow-on slots: dropped, every slot answered ERROR`, async (t) => {
    const s = await scene(t);
    stageFrame(s, 100);
    const slots = [{ kind: 'req' as const, size: 100 + frags * 10, flags: NETTXF_more_data }];
    for (let i = 0; i < frags; i++) slots.push({ kind: 'req', size: 10, flags: i < frags - 1 ? NETTXF_more_data : 0 });
    s.bad.rawTx(slots);
    const r = await responses(s, frags + 1);
    t.same(r.map((x) => x[1]), new Array(frags + 1).fill(E));
    t.equal(counter(s, BAD, 'tx_too_many_slots'), 1);
    await stillServed(t, s);
    await goodTrafficFlows(t, s);
  });
}

t.test('a fragment larger than what remains of the total', async (t) => {
  const s = await scene(t);
  stageFrame(s, 100);
  s.bad.rawTx([{ kind: 'req', size: 100, flags: NETTXF_more_data }, { kind: 'req', size: 200 }]);
  t.same((await responses(s, 2)).map((r) => r[1]), [E, E]);
  t.equal(counter(s, BAD, 'tx_too_big'), 1);
  await stillServed(t, s);
});

t.test('a frame larger than a pool frame', async (t) => {
  const s = await scene(t);
  stageFrame(s, 2000);
  s.bad.rawTx([{ kind: 'req', size: 3000, flags: NETTXF_more_data }, { kind: 'req', size: 1000 }]);
  t.same((await responses(s, 2)).map((r) => r[1]), [E, E]);
  t.equal(counter(s, BAD, 'tx_too_big'), 1);
  await stillServed(t, s);
});

t.test('grant refs that are not ours to use', async (t) => {
  const s = await scene(t);
  // Never granted, out of the table, granted to another domain.
  s.bad.rawTx([{ kind: 'req', size: 60, gref: 3000 }]);
  s.bad.rawTx([{ kind: 'req', size: 60, gref: 1_000_000 }]);
  const id = s.bad.peekTxId();
  const gref = s.bad.txPageGref(id);
  const page = s.bad.txPageNumber(id);
  s.bad.dom.writeGrant(gref, GTF_permit_access | GTF_readonly, 7, page);
  s.bad.rawTx([{ kind: 'req', size: 60 }]);
  t.same((await responses(s, 3)).map((r) => r[1]), [E, E, E]);
  t.equal(counter(s, BAD, 'tx_error'), 3);
  s.bad.dom.writeGrant(gref, GTF_permit_access | GTF_readonly, 0, page);
  await stillServed(t, s);
  await goodTrafficFlows(t, s);
});

t.test('a valid GSO extra (not negotiated): ERROR, extra slot NULL', async (t) => {
  const s = await scene(t);
  stageFrame(s, 60);
  s.bad.rawTx([{ kind: 'req', size: 60, flags: NETTXF_extra_info }, { kind: 'extra', extra: { type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, gsoSize: 1400, gsoType: XEN_NETIF_GSO_TYPE_TCPV4 } }]);
  t.same((await responses(s, 2)).map((r) => r[1]), [E, NETIF_RSP_NULL]);
  t.equal(counter(s, BAD, 'tx_gso_unsupported'), 1);
  await stillServed(t, s);
});

t.test('zero-length follow-on fragments are accepted (XSA-448)', async (t) => {
  const s = await scene(t);
  const chk = new TrafficChecker();
  s.g2.onFrame = (b, o, l) => chk.check(b, o, l);
  const f = new Uint8Array(60);
  buildFrame(f, 0, s.g2.mac, s.bad.mac, 555, 0, 60);
  s.bad.writeTxPage(s.bad.peekTxId(), 0, f);
  s.bad.rawTx([
    { kind: 'req', size: 60, flags: NETTXF_more_data },
    { kind: 'req', size: 0, flags: NETTXF_more_data },
    { kind: 'req', size: 0 },
  ]);
  t.same((await responses(s, 3)).map((r) => r[1]), [NETIF_RSP_OKAY, NETIF_RSP_OKAY, NETIF_RSP_OKAY]);
  await until(() => {
    s.g2.poll();
    return chk.total().received === 1;
  }, 'frame with zero-length fragments delivered');
  t.equal(chk.total().bad, 0, 'delivered intact');
});

t.test('a multicast-control extra is answered OKAY and forwards nothing', async (t) => {
  const s = await scene(t);
  s.bad.rawTx([{ kind: 'req', size: 0, flags: NETTXF_extra_info }, { kind: 'extra', extra: { type: XEN_NETIF_EXTRA_TYPE_MCAST_ADD, flags: 0, mcastAddr: Uint8Array.from([1, 0, 0x5e, 0, 0, 1]) } }]);
  t.same((await responses(s, 2)).map((r) => r[1]), [NETIF_RSP_OKAY, NETIF_RSP_NULL]);
  t.equal(counter(s, BAD, 'tx_mcast_ctrl'), 1);
  t.equal(counter(s, BAD, 'tx_packets'), 0, 'not a packet');
  await stillServed(t, s);
});

t.test('RX buffers granted read-only: rx_error, the guest stays connected', async (t) => {
  const s = await scene(t);
  for (let id = 0; id < 256; id++) s.bad.dom.writeGrant(s.bad.rxPageGref(id), GTF_permit_access | GTF_readonly, 0, s.bad.rxPageNumber(id));
  const f = new Uint8Array(100);
  buildFrame(f, 0, s.bad.mac, s.g1.mac, 6, 0, 100);
  s.g1.send(f, 0, 100);
  s.g1.flushTx();
  await until(() => {
    s.g1.poll();
    s.bad.poll();
    return counter(s, BAD, 'rx_error') >= 1;
  }, 'rx_error counted');
  await until(() => s.bad.stats.rxErr >= 1, 'the guest saw an error response');
  t.notOk(s.h.nb.vif(BAD, 0)?.disabled, 'not fatal');
  await goodTrafficFlows(t, s);
});
