// Hostile frontend at connect time: bad keys or rings make the backend refuse to connect (an
// `error` node, state Closing), and the other guests are not affected.
import t, { type Test } from 'tap';
import { SharedRingView, sharedRingInit } from '../../src/ring/sring.js';
import { NETIF_TX_SLOT } from '../../src/ring/netif.js';
import { ShmGuestDomain } from '../../src/transport/shm/guest.js';
import { XenstoreClient } from '../../src/transport/xenstore/client.js';
import { until } from './harness.js';
import { BAD, goodTrafficFlows, MAC_BAD, scene2, type Scene2 } from './attack-helpers.js';

interface Tweak {
  omit?: string[];
  set?: Record<string, string>;
  /** Ring page prepared with req_prod this far ahead of rsp_prod. */
  txReqProd?: number;
  /** Grant the TX ring page to this domain instead of dom0. */
  ringGrantTo?: number;
}

/** A frontend written by hand (as TestNetfront.handshake, with the tweak applied). */
async function hostileHandshake(t: Test, s: Scene2, tw: Tweak): Promise<void> {
  const { guestSocket, memPath } = await s.h.prepareGuest(BAD, MAC_BAD);
  const xs = await XenstoreClient.connect(guestSocket);
  const dom = ShmGuestDomain.open(memPath, BAD);
  t.teardown(async () => {
    dom.close();
    await xs.close();
  });
  const fe = `/local/domain/${BAD}/device/vif/0`;
  await until(async () => (await xs.read(`${s.be}/state`)) === '2', 'backend InitWait');
  const buf = dom.img.region.buffer;
  const txP = dom.allocPage();
  const rxP = dom.allocPage();
  sharedRingInit(buf, dom.pageOffset(txP));
  sharedRingInit(buf, dom.pageOffset(rxP));
  if (tw.txReqProd !== undefined) new SharedRingView(buf, dom.pageOffset(txP), NETIF_TX_SLOT).reqProd = tw.txReqProd;
  const txRef = dom.grantAccess(txP, tw.ringGrantTo ?? 0, false);
  const rxRef = dom.grantAccess(rxP, 0, false);
  const port = dom.allocUnboundPort(0).port;
  const keys: Record<string, string> = {
    'tx-ring-ref': String(txRef),
    'rx-ring-ref': String(rxRef),
    'event-channel': String(port),
    'request-rx-copy': '1',
    'feature-rx-notify': '1',
    ...tw.set,
  };
  for (const k of tw.omit ?? []) delete keys[k];
  for (const [k, v] of Object.entries(keys)) await xs.write(`${fe}/${k}`, v);
  await xs.write(`${fe}/state`, '4');
}

async function assertRefused(t: Test, s: Scene2, why: RegExp): Promise<void> {
  await until(async () => (await s.h.xs0.read(`${s.be}/state`)) === '5', 'backend went Closing');
  t.match(await s.h.xs0.read(`${s.be}/error`), why, 'error node names the problem');
  t.notOk(s.h.nb.vif(BAD, 0)?.connected, 'never connected');
  t.ok(s.h.log.lines.some((l) => l.msg === 'connect failed' && typeof l.reason === 'string' && why.test(l.reason)), 'logged');
  await goodTrafficFlows(t, s);
}

const cases: [string, Tweak, RegExp][] = [
  ['a TX ring whose req_prod is beyond its size', { txReqProd: 1000 }, /TX ring: req_prod 1000 .* exceeds ring size 256/],
  ['no request-rx-copy', { omit: ['request-rx-copy'] }, /request-rx-copy/],
  ['a non-numeric tx-ring-ref', { set: { 'tx-ring-ref': '12abc' } }, /tx-ring-ref: "12abc" is not/],
  ['an overflowing tx-ring-ref', { set: { 'tx-ring-ref': '99999999999' } }, /tx-ring-ref/],
  ['multi-queue-num-queues beyond what we offer', { set: { 'multi-queue-num-queues': '4' } }, /multi-queue-num-queues: 4/],
  ['an event channel that is not an unbound port for dom0', { set: { 'event-channel': '40' } }, /port 40 is not an unbound port/],
  ['an event channel port out of range', { set: { 'event-channel': '100000' } }, /out of range/],
  ['a ring page granted to another domain', { ringGrantTo: 9 }, /grant \d+ of domain 11 refused/],
  ['no ring refs at all', { omit: ['tx-ring-ref', 'rx-ring-ref'] }, /tx-ring-ref\/rx-ring-ref missing/],
];

for (const [name, tweak, why] of cases) {
  t.test(`connect refused: ${name}`, async (t) => {
    const s = await scene2(t);
    await hostileHandshake(t, s, tweak);
    await assertRefused(t, s, why);
  });
}
