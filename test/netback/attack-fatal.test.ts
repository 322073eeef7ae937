// Hostile frontend, fatal conditions (reference/xen-netif.md §3.2): each disables the offending
// vif only — reason logged, `fatal` counted, error node, Closing — and the other guests go on.
import t from 'tap';
import {
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
} from '../../src/ring/netif.js';
import { buildFrame } from '../guest/traffic.js';
import { assertFatal, goodTrafficFlows, scene, stageFrame } from './attack-helpers.js';

t.test('impossible number of TX requests (XSA-39)', async (t) => {
  const s = await scene(t);
  s.bad.tx.reqProdPvt = (s.bad.tx.reqProdPvt + 300) >>> 0;
  s.bad.flushTx();
  await assertFatal(t, s, /impossible number of TX requests/);
  await goodTrafficFlows(t, s);
});

t.test('extra-info flag with no further published slot', async (t) => {
  const s = await scene(t);
  stageFrame(s, 60);
  s.bad.rawTx([{ kind: 'req', size: 60, flags: NETTXF_extra_info }]);
  await assertFatal(t, s, /missing extra info/);
  await goodTrafficFlows(t, s);
});

for (const type of [0, 5, 200]) {
  t.test(`extra info of type ${type}`, async (t) => {
    const s = await scene(t);
    stageFrame(s, 60);
    s.bad.rawTx([{ kind: 'req', size: 60, flags: NETTXF_extra_info }, { kind: 'extra', extra: { type, flags: 0 } }]);
    await assertFatal(t, s, /bad extra info type/);
    await goodTrafficFlows(t, s);
  });
}

t.test('GSO extra with size 0', async (t) => {
  const s = await scene(t);
  stageFrame(s, 60);
  s.bad.rawTx([{ kind: 'req', size: 60, flags: NETTXF_extra_info }, { kind: 'extra', extra: { type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, gsoSize: 0, gsoType: XEN_NETIF_GSO_TYPE_TCPV4 } }]);
  await assertFatal(t, s, /GSO extra with size 0/);
  await goodTrafficFlows(t, s);
});

t.test('GSO extra with an unknown type', async (t) => {
  const s = await scene(t);
  stageFrame(s, 60);
  s.bad.rawTx([{ kind: 'req', size: 60, flags: NETTXF_extra_info }, { kind: 'extra', extra: { type: XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, gsoSize: 1400, gsoType: 7 } }]);
  await assertFatal(t, s, /GSO extra with bad type 7/);
  await goodTrafficFlows(t, s);
});

t.test('more_data chain running past the published requests', async (t) => {
  const s = await scene(t);
  stageFrame(s, 100);
  s.bad.rawTx([{ kind: 'req', size: 200, flags: NETTXF_more_data }]);
  await assertFatal(t, s, /more_data chain runs past the published requests/);
  await goodTrafficFlows(t, s);
});

t.test('more_data chain longer than 20 follow-on slots', async (t) => {
  const s = await scene(t);
  stageFrame(s, 100);
  const slots = [{ kind: 'req' as const, size: 100 + 21 * 10, flags: NETTXF_more_data }];
  for (let i = 0; i < 21; i++) slots.push({ kind: 'req', size: 10, flags: i < 20 ? NETTXF_more_data : 0 });
  s.bad.rawTx(slots);
  await assertFatal(t, s, /malicious frontend using more than 20 slots/);
  await goodTrafficFlows(t, s);
});

t.test('a fragment crossing its page end', async (t) => {
  const s = await scene(t);
  stageFrame(s, 200);
  s.bad.rawTx([{ kind: 'req', size: 300, flags: NETTXF_more_data }, { kind: 'req', size: 100, offset: 4000 }]);
  await assertFatal(t, s, /fragment crosses a page boundary/);
  await goodTrafficFlows(t, s);
});

t.test('the first slot crossing its page end', async (t) => {
  const s = await scene(t);
  s.bad.rawTx([{ kind: 'req', size: 200, offset: 3950 }]);
  await assertFatal(t, s, /first slot crosses a page boundary/);
  await goodTrafficFlows(t, s);
});

t.test('impossible number of RX requests, found when a frame is delivered', async (t) => {
  const s = await scene(t);
  s.bad.rx.reqProdPvt = (s.bad.rx.reqProdPvt + 1000) >>> 0;
  s.bad.rx.pushRequests();
  // A broadcast from guest 1 floods to every vif, the bad one included.
  const f = new Uint8Array(64);
  buildFrame(f, 0, Uint8Array.from([255, 255, 255, 255, 255, 255]), s.g1.mac, 5, 0, 64);
  s.g1.send(f, 0, 64);
  s.g1.flushTx();
  await assertFatal(t, s, /impossible number of RX requests/);
  await goodTrafficFlows(t, s);
});
