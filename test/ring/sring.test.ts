// SPDX-License-Identifier: MIT
// sring.test.ts — ring.h semantics: sizing, header layout, index wrap, notify rule, overflow, copy.
import t, { type Test } from 'tap';
import {
  BackRing,
  SharedRingView,
  SRING_HEADER_BYTES,
  XEN_PAGE_SIZE,
  eventInWindow,
  ringSize,
  sharedRingInit,
} from '../../src/ring/sring.js';
import { readTxRequest, readTxResponse, newTxRequest, newTxResponse, writeTxRequest, writeTxResponse } from '../../src/ring/netif.js';
import { ringPairAt as ringPair, seededRandom as rng } from '../../src/ring/testing.js';

const U32 = 2 ** 32;

t.test('ringSize is __CONST_RING_SIZE', async (t) => {
  t.equal(ringSize(12), 256, 'netif TX: 4032/12 = 336 -> 256');
  t.equal(ringSize(8), 256, 'netif RX: 4032/8 = 504 -> 256');
  t.equal(ringSize(12, XEN_PAGE_SIZE), 256);
  t.equal(ringSize(1), 2048, '4032 -> 2048');
  t.equal(ringSize(64), 32, '63 -> 32');
  t.equal(ringSize(4032), 1, 'exactly one slot');
  t.equal(ringSize(12, 8192), 512, '8128/12 = 677 -> 512');
  t.equal(ringSize(112), 32, 'blkif-sized entries: 36 -> 32');
  t.throws(() => ringSize(0), RangeError);
  t.throws(() => ringSize(1.5), RangeError);
  t.throws(() => ringSize(4033), RangeError, 'no room for a slot');
  t.equal(SRING_HEADER_BYTES, 64);
  t.equal(XEN_PAGE_SIZE, 4096);
});

t.test('SHARED_RING_INIT and header field offsets', async (t) => {
  const off = 8192;
  const buf = new ArrayBuffer(off + XEN_PAGE_SIZE);
  const all = new Uint8Array(buf);
  all.fill(0xa5);
  sharedRingInit(buf, off);
  const dv = new DataView(buf, off);
  t.same([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)], [0, 1, 0, 1]);
  t.ok(all.subarray(off + 16, off + 64).every((b) => b === 0), 'pvt and __pad zeroed');
  t.ok(all.subarray(off + 64).every((b) => b === 0xa5), 'slots untouched');
  t.ok(all.subarray(0, off).every((b) => b === 0xa5), 'nothing before the ring touched');

  const v = new SharedRingView(buf, off, 12);
  t.equal(v.size, 256);
  t.equal(v.entryBytes, 12);
  t.equal(v.u8.byteOffset, off);
  t.equal(v.u8.length, XEN_PAGE_SIZE);
  t.equal(v.dv.byteOffset, off);
  t.same([v.reqProd, v.reqEvent, v.rspProd, v.rspEvent], [0, 1, 0, 1]);
  // Each accessor is one little-endian uint32 at its ring.h offset.
  const fields = [
    ['reqProd', 0],
    ['reqEvent', 4],
    ['rspProd', 8],
    ['rspEvent', 12],
  ] as const;
  for (const [name, at] of fields) {
    v[name] = 0x11223344;
    t.same([...all.subarray(off + at, off + at + 4)], [0x44, 0x33, 0x22, 0x11], `${name} at byte ${at}, LE`);
    dv.setUint32(at, 0xfffffffe, true);
    t.equal(v[name], 0xfffffffe, `${name} reads back as uint32`);
    v[name] = U32 + 5; // ToUint32 on store
    t.equal(v[name], 5);
  }
});

t.test('views are checked where they are made', async (t) => {
  const buf = new ArrayBuffer(2 * XEN_PAGE_SIZE);
  t.throws(() => new SharedRingView(buf, 2, 12), RangeError, 'unaligned offset');
  t.throws(() => new SharedRingView(buf, XEN_PAGE_SIZE + 4, 12), RangeError, 'runs past the buffer');
  t.throws(() => new SharedRingView(buf, -4, 12), RangeError);
  t.throws(() => sharedRingInit(buf, 2 * XEN_PAGE_SIZE), RangeError);
  t.doesNotThrow(() => new SharedRingView(buf, XEN_PAGE_SIZE, 12));
  const small = new SharedRingView(buf, 0, 64, 1024);
  t.equal(small.size, 8, '(1024-64)/64 = 15 -> 8');
});

t.test('slot addressing wraps with the index', async (t) => {
  const v = new SharedRingView(new ArrayBuffer(XEN_PAGE_SIZE), 0, 12);
  const cases: Array<[number, number]> = [
    [0, 0],
    [1, 1],
    [255, 255],
    [256, 0],
    [257, 1],
    [U32 - 1, 255],
    [U32 - 256, 0],
    [0x80000000, 0],
    [0x7fffffff, 255],
  ];
  for (const [idx, slot] of cases) t.equal(v.slotOffset(idx), 64 + slot * 12, `idx ${idx} -> slot ${slot}`);
  const r = new SharedRingView(new ArrayBuffer(XEN_PAGE_SIZE), 0, 8);
  t.equal(r.slotOffset(U32 - 1), 64 + 255 * 8);
  t.equal(r.slotOffset(256 + 3), 64 + 3 * 8);
  t.equal(v.slotOffset(255) + 12 + 64, 256 * 12 + 64 + 64, 'last slot ends inside the page');
});

t.test('explicit wrap of 2^32: counts, slots, overflow checks', async (t) => {
  const start = U32 - 3;
  const { front, back } = ringPair(12, start);
  t.equal(back.reqCons, start, 'attached at the shared rsp_prod');
  t.equal(back.rspProdPvt, start);
  t.equal(front.freeRequests(), 256);

  for (let i = 0; i < 10; i++) {
    writeTxRequest(front.sring.dv, front.sring.slotOffset(front.reqProdPvt), 1000 + i, 0, 0, i, 60);
    front.reqProdPvt++;
  }
  t.equal(front.reqProdPvt, 7, 'private producer wrapped and stays a uint32');
  t.equal(front.freeRequests(), 246);
  t.ok(front.pushRequests(), 'first push crosses req_event = start+1');
  const prod = back.readReqProd();
  t.equal(prod, 7);
  t.equal(back.unconsumed(prod), 10);
  t.notOk(back.requestProdOverflow(prod));
  t.notOk(back.requestConsOverflow(back.reqCons));

  const copy = new Uint8Array(12);
  const cdv = new DataView(copy.buffer);
  const req = newTxRequest();
  const grefs: number[] = [];
  while (back.reqCons !== prod) {
    back.copyRequest(back.reqCons, copy);
    grefs.push(readTxRequest(cdv, 0, req).gref);
    t.equal(back.sring.slotOffset(back.reqCons), 64 + ((back.reqCons >>> 0) % 256) * 12);
    back.reqCons++;
  }
  t.same(grefs, [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009], 'in order across the wrap');
  t.equal(back.reqCons, 7);
  t.equal(back.unconsumed(prod), 0);
  // 10 consumed, none answered: the response-space side of the min() now bounds consumption.
  t.equal(back.unconsumed((prod + 300) >>> 0), 246, 'never more than the response slots left');
  t.notOk(back.requestConsOverflow(back.reqCons));
  t.ok(back.requestConsOverflow((start + 256) >>> 0), 'cons a full ring past rsp_prod_pvt');
  t.notOk(back.requestConsOverflow((start + 255) >>> 0));
  t.notOk(back.requestProdOverflow((start + 256) >>> 0), 'a full ring is legal');
  t.ok(back.requestProdOverflow((start + 257) >>> 0), 'one past full is not');

  back.reqCons = back.reqCons - 10 + U32; // un-normalised input is normalised
  t.equal(back.reqCons, start);
  back.reqCons = 7;
  for (let i = 0; i < 10; i++) {
    writeTxResponse(back.sring.dv, back.sring.slotOffset(back.rspProdPvt), i, 0);
    back.rspProdPvt++;
  }
  t.ok(back.pushResponses());
  const rprod = front.readRspProd();
  t.equal(rprod, 7);
  t.equal(front.unconsumed(rprod), 10);
  t.notOk(front.responseProdOverflow(rprod));
  t.ok(front.responseProdOverflow((start + 257) >>> 0));
  t.notOk(front.responseProdOverflow((start + 256) >>> 0));
  front.rspCons = rprod;
  t.equal(front.freeRequests(), 256);
  t.notOk(front.finalCheckForResponses());
  t.equal(front.sring.rspEvent, 8, 'rsp_event = rsp_cons + 1, wrapped');
});

t.test('event-index rule: notify iff event lies in (old, new]', async (t) => {
  const olds = [0, 1, 100, 0x7fffffff, U32 - 2, U32 - 1, U32 - 40];
  const deltas = [0, 1, 2, 5, 255, 256];
  const evOffsets = [-300, -2, -1, 0, 1, 2, 3, 5, 6, 200, 256, 257, 0x80000000];
  let checked = 0;
  for (const old of olds) {
    for (const d of deltas) {
      const now = (old + d) >>> 0;
      const window = new Set<number>();
      for (let k = 1; k <= d; k++) window.add((old + k) >>> 0);
      for (const eo of evOffsets) {
        const ev = (old + eo + U32) >>> 0;
        const want = window.has(ev);
        t.equal(eventInWindow(old, now, ev), want);
        // Through the real push paths, both directions.
        const { front, back } = ringPair(8, old);
        front.sring.reqEvent = ev;
        front.reqProdPvt = now;
        if (front.pushRequests() !== want) t.fail(`pushRequests old=${old} new=${now} ev=${ev}`);
        t.equal(front.sring.reqProd, now, 'req_prod published');
        back.sring.rspEvent = ev;
        back.rspProdPvt = now;
        if (back.pushResponses() !== want) t.fail(`pushResponses old=${old} new=${now} ev=${ev}`);
        t.equal(back.sring.rspProd, now, 'rsp_prod published');
        checked++;
      }
    }
  }
  t.ok(checked > 500);

  // Hold-off: while the consumer is busy (event not re-armed), further pushes do not notify.
  const { front, back } = ringPair(12, U32 - 2);
  front.reqProdPvt += 1;
  t.ok(front.pushRequests(), 'first request wakes the backend');
  front.reqProdPvt += 1;
  t.notOk(front.pushRequests(), 'backend has not re-armed: no second notify');
  back.reqCons = back.readReqProd();
  back.rspProdPvt = back.reqCons;
  t.notOk(back.finalCheckForRequests(), 'nothing left');
  t.equal(back.sring.reqEvent, 1, 'req_event = req_cons + 1 across the wrap');
  front.reqProdPvt += 3;
  t.ok(front.pushRequests(), 're-armed: notify again');
  t.ok(back.finalCheckForRequests(), 'and work is seen');
});

t.test('final check closes the race with a producer that does not notify', async (t) => {
  // The peer runs exactly at our full barrier: after we stored the event, before we re-read.
  let atFence: (() => void) | undefined;
  let everyFence: (() => void) | undefined;
  let fences = 0;
  const m = await t.mockImport<typeof import('../../src/ring/sring.js')>('../../src/ring/sring.js', {
    '../../src/native/barrier.js': {
      fence: () => {
        fences++;
        const f = atFence;
        atFence = undefined;
        f?.();
        everyFence?.();
      },
    },
  });
  const start = U32 - 1;
  const buf = new ArrayBuffer(XEN_PAGE_SIZE);
  m.sharedRingInit(buf, 0);
  const view = new m.SharedRingView(buf, 0, 12);
  view.reqProd = view.rspProd = start;
  view.reqEvent = view.rspEvent = start + 1;
  const back = new m.BackRing(view, { attach: true });
  const front = new m.FrontRing(new m.SharedRingView(buf, 0, 12), { index: start });

  // Backend: nothing to do. Frontend produces during the barrier, without looking at req_event.
  back.sring.reqEvent = start - 10; // a stale event from long ago
  atFence = () => {
    t.equal(view.reqEvent, 0, 'req_event = req_cons + 1 is stored before the barrier');
    view.reqProd = (start + 2) >>> 0;
  };
  const before = fences;
  t.ok(back.finalCheckForRequests(), 're-check after the barrier finds the 2 requests');
  t.equal(fences - before, 1, 'exactly one full barrier');
  t.equal(back.unconsumed(back.readReqProd()), 2);
  back.reqCons = back.rspProdPvt = (start + 2) >>> 0;
  t.notOk(back.finalCheckForRequests(), 'and nothing once consumed');

  // Mirror on the frontend.
  front.reqProdPvt = (start + 2) >>> 0;
  atFence = () => {
    t.equal(view.rspEvent, 0, 'rsp_event = rsp_cons + 1 stored before the barrier');
    view.rspProd = (start + 1) >>> 0;
  };
  t.ok(front.finalCheckForResponses(), 'response produced during the barrier is found');

  // Push: the index is stored before the barrier and the peer's event is read after it.
  back.rspProdPvt = (start + 2) >>> 0;
  view.rspEvent = start - 50; // not in the window...
  atFence = () => {
    t.equal(view.rspProd, (start + 2) >>> 0, 'rsp_prod published before the barrier');
    view.rspEvent = (start + 2) >>> 0; // ...until the frontend re-arms concurrently
  };
  t.ok(back.pushResponses(), 'event read after the barrier');
  front.reqProdPvt = (start + 5) >>> 0;
  view.reqEvent = start - 50;
  atFence = () => {
    t.equal(view.reqProd, (start + 5) >>> 0, 'req_prod published before the barrier');
    view.reqEvent = (start + 4) >>> 0;
  };
  t.ok(front.pushRequests(), 'event read after the barrier');

  // RX readiness: not enough slots, arm at req_prod + 1; the frontend posts during the barrier.
  back.reqCons = back.rspProdPvt = view.reqProd;
  atFence = () => {
    t.equal(view.reqEvent, (view.reqProd + 1) >>> 0, 'armed at req_prod + 1');
    view.reqProd = (view.reqProd + 3) >>> 0;
  };
  t.ok(back.requestsAvailable(3), 'found after the re-check');
  t.notOk(back.requestsAvailable(4), 'still short, and nobody posts');
  t.equal(view.reqEvent, (view.reqProd + 1) >>> 0);

  // A hostile frontend that moves req_prod (back and forth) at every barrier cannot spin us.
  const pinned = view.reqProd;
  let flips = 0;
  everyFence = () => {
    view.reqProd = (pinned + (++flips & 1)) >>> 0;
  };
  const f0 = fences;
  t.notOk(back.requestsAvailable(5), 'gives up');
  t.equal(fences - f0, back.size + 1, 'after size + 1 rounds');
  everyFence = undefined;
});

t.test('publish without the notify check (RING_PUSH_REQUESTS / RING_PUSH_RESPONSES)', async (t) => {
  const { front, back } = ringPair(12, U32 - 1);
  front.reqProdPvt += 3;
  front.publishRequests();
  t.equal(back.readReqProd(), 2);
  t.equal(back.sring.reqEvent, 0, 'event untouched');
  back.reqCons = back.rspProdPvt = 2;
  back.publishResponses();
  t.equal(front.readRspProd(), 2);
  t.equal(front.unconsumed(front.readRspProd()), 3);
});

t.test('requestsAvailable without races', async (t) => {
  const { front, back } = ringPair(8, U32 - 5);
  t.notOk(back.requestsAvailable(1));
  t.equal(back.sring.reqEvent, U32 - 4);
  front.reqProdPvt += 4;
  t.ok(front.pushRequests(), 'the armed event fires');
  t.ok(back.requestsAvailable(4));
  t.notOk(back.requestsAvailable(5));
  t.equal(back.sring.reqEvent, 0, 'req_prod + 1 wrapped');
  t.ok(back.requestsAvailable(0));
  t.throws(() => back.requestsAvailable(257), RangeError);
});

t.test('BackRing attach at a non-zero rsp_prod (backend restart)', async (t) => {
  for (const start of [0, 12345, U32 - 7]) {
    const { front, back } = ringPair(12, start);
    for (let i = 0; i < 20; i++) {
      writeTxRequest(front.sring.dv, front.sring.slotOffset(front.reqProdPvt), i, 0, 0, i, 60);
      front.reqProdPvt++;
    }
    front.pushRequests();
    const prod = back.readReqProd();
    back.reqCons = (back.reqCons + 10) >>> 0; // consumed 10...
    for (let i = 0; i < 6; i++) {
      writeTxResponse(back.sring.dv, back.sring.slotOffset(back.rspProdPvt), i, 0);
      back.rspProdPvt++;
    }
    back.pushResponses(); // ...answered 6, then crashed.
    const reborn = new BackRing(new SharedRingView(front.sring.u8.buffer, front.sring.u8.byteOffset, 12), { attach: true });
    t.equal(reborn.rspProdPvt, (start + 6) >>> 0, `attach at rsp_prod (start ${start})`);
    t.equal(reborn.reqCons, (start + 6) >>> 0, 'unanswered requests are consumed again');
    t.notOk(reborn.requestProdOverflow(prod), 'page is sane');
    t.equal(reborn.unconsumed(prod), 14);
    const copy = new Uint8Array(12);
    reborn.copyRequest(reborn.reqCons, copy);
    t.equal(readTxRequest(new DataView(copy.buffer), 0, newTxRequest()).id, 6, 'resumes at the first unanswered request');
    const fresh = new BackRing(new SharedRingView(front.sring.u8.buffer, front.sring.u8.byteOffset, 12));
    t.equal(fresh.reqCons, 0, 'BACK_RING_INIT starts at 0');
    const explicit = new BackRing(fresh.sring, { index: U32 + 3 });
    t.equal(explicit.reqCons, 3, 'explicit index normalised');
  }
  // Linux refuses a page whose req_prod is more than a ring ahead of rsp_prod.
  const { back } = ringPair(12, 100);
  back.sring.reqProd = 100 + 257;
  const reborn = new BackRing(back.sring, { attach: true });
  t.ok(reborn.requestProdOverflow(reborn.readReqProd()), 'hostile page detected after attach');
});

t.test('overflow predicates against hostile indices', async (t) => {
  for (const base of [0, 1000, 0x7fffff00, U32 - 100]) {
    const { back, front } = ringPair(12, base);
    back.reqCons = (base + 40) >>> 0; // 40 consumed, 30 answered
    back.rspProdPvt = (base + 30) >>> 0;
    const rpp = back.rspProdPvt;
    const at = (d: number): number => (rpp + d + U32) >>> 0;
    t.notOk(back.requestProdOverflow(at(0)));
    t.notOk(back.requestProdOverflow(at(256)));
    t.ok(back.requestProdOverflow(at(257)), 'just past a full ring');
    t.ok(back.requestProdOverflow(at(0x80000000)), 'far ahead');
    t.ok(back.requestProdOverflow(at(-1)), 'behind rsp_prod_pvt');
    t.ok(back.requestProdOverflow(at(-0x7fffffff)), 'far behind');
    // unconsumed never exceeds the response space, whatever req_prod says.
    for (const d of [-1, -40, 257, 1000, 0x80000000, U32 - 1]) {
      const n = back.unconsumed(at(d));
      t.ok(n <= 256 - 10, `unconsumed(${d}) = ${n} is bounded by response space`);
    }
    t.equal(back.unconsumed(at(10)), 0, 'req_prod == req_cons');
    t.equal(back.unconsumed(at(50)), 40);
    t.equal(back.unconsumed(at(5)), 246, 'req_prod behind req_cons: capped at the response space, as ring.h');
    t.notOk(back.requestConsOverflow(at(255)));
    t.ok(back.requestConsOverflow(at(256)));
    t.ok(back.requestConsOverflow(at(-1)), 'cons behind rsp_prod_pvt is an overflow too');

    front.reqProdPvt = (base + 100) >>> 0;
    front.rspCons = (base + 20) >>> 0;
    t.equal(front.freeRequests(), 176);
    t.notOk(front.responseProdOverflow((base + 100) >>> 0));
    t.notOk(front.responseProdOverflow((base + 20 + 256) >>> 0));
    t.ok(front.responseProdOverflow((base + 20 + 257) >>> 0));
    t.ok(front.responseProdOverflow((base + 19) >>> 0), 'rsp_prod behind rsp_cons');
  }
});

t.test('copyRequest copies exactly once', async (t) => {
  const { front, back } = ringPair(12, U32 - 1);
  writeTxRequest(front.sring.dv, front.sring.slotOffset(front.reqProdPvt), 0xdeadbeef, 10, 3, 77, 1500);
  front.reqProdPvt++;
  front.pushRequests();
  const copy = new Uint8Array(20).fill(0xee);
  back.copyRequest(back.reqCons, copy, 4);
  const slot = back.sring.u8.subarray(back.sring.slotOffset(back.reqCons), back.sring.slotOffset(back.reqCons) + 12);
  t.same([...copy.subarray(4, 16)], [...slot], 'bytes equal the slot');
  t.same([...copy.subarray(0, 4)], [0xee, 0xee, 0xee, 0xee], 'nothing before dstOff');
  t.same([...copy.subarray(16)], [0xee, 0xee, 0xee, 0xee], 'nothing after the slot');
  const before = [...copy];
  slot.fill(0x41); // the frontend rewrites the slot after we copied it
  t.same([...copy], before, 'the copy does not follow shared memory');
  const req = readTxRequest(new DataView(copy.buffer), 4, newTxRequest());
  t.same(req, { gref: 0xdeadbeef, offset: 10, flags: 3, id: 77, size: 1500 });

  const part = new Uint8Array(4);
  back.copyRequest(back.reqCons, part, 0, 4);
  t.same([...part], [0x41, 0x41, 0x41, 0x41], 'a partial copy takes the leading bytes');
  t.throws(() => back.copyRequest(back.reqCons, new Uint8Array(11)), RangeError, 'dst too small');
  t.throws(() => back.copyRequest(back.reqCons, new Uint8Array(20), 9), RangeError, 'dst too small at offset');
  t.throws(() => back.copyRequest(back.reqCons, new Uint8Array(20), 0, 13), RangeError, 'longer than a slot');

  writeTxResponse(back.sring.dv, back.sring.slotOffset(back.rspProdPvt), 77, -1);
  back.rspProdPvt++;
  back.pushResponses();
  const rcopy = new Uint8Array(12);
  front.copyResponse(front.rspCons, rcopy);
  back.sring.u8.fill(0, back.sring.slotOffset(front.rspCons), back.sring.slotOffset(front.rspCons) + 12);
  t.same(readTxResponse(new DataView(rcopy.buffer), 0, newTxResponse()), { id: 77, status: -1 });
});

/**
 * Both ends driven by a random scheduler over one buffer. Each end sleeps when its final check
 * finds nothing and wakes only when the other end's push says "notify": a wrong notify rule or
 * final check shows up as a stall. Every request and response carries its sequence number.
 */
function simulate(t: Test, entryBytes: number, start: number, total: number, seed: number): void {
  const random = rng(seed);
  const { front, back } = ringPair(entryBytes, start);
  const size = back.size;
  const copy = new Uint8Array(entryBytes);
  const cdv = new DataView(copy.buffer);
  let produced = 0;
  let consumed = 0;
  let answered = 0;
  let completed = 0;
  let backAwake = false;
  let frontAwake = false;
  let pushes = 0;
  let notifies = 0;
  let errors = 0;
  const bad = (msg: string): void => {
    if (errors++ < 5) t.fail(msg);
  };
  let steps = 0;
  while (completed < total) {
    if (++steps > total * 100) {
      t.fail(`stalled: produced ${produced} consumed ${consumed} answered ${answered} completed ${completed}`);
      return;
    }
    const r = random();
    if (r < 0.35) {
      // Frontend produces a batch (it is the application: never asleep for this).
      const room = Math.min(front.freeRequests(), total - produced, 1 + Math.floor(random() * 40));
      if (room <= 0) continue;
      for (let i = 0; i < room; i++) {
        const off = front.sring.slotOffset(front.reqProdPvt);
        front.sring.dv.setUint32(off, produced, true);
        front.sring.dv.setUint32(off + 4, front.reqProdPvt, true);
        front.reqProdPvt++;
        produced++;
      }
      pushes++;
      if (front.pushRequests()) {
        notifies++;
        backAwake = true;
      }
    } else if (r < 0.7) {
      if (!backAwake) continue;
      const prod = back.readReqProd();
      if (back.requestProdOverflow(prod)) bad('honest frontend flagged as overflowing');
      const avail = back.unconsumed(prod);
      if (avail > size) bad('more unconsumed than slots');
      const n = Math.min(avail, Math.floor(random() * 50));
      for (let i = 0; i < n; i++) {
        if (back.requestConsOverflow(back.reqCons)) bad('cons overflow on honest ring');
        back.copyRequest(back.reqCons, copy);
        if (cdv.getUint32(0, true) !== consumed) bad(`request ${consumed} out of order`);
        if (cdv.getUint32(4, true) !== back.reqCons) bad('slot index mismatch');
        back.reqCons++;
        consumed++;
      }
      // Answer some of what was consumed; responses are written at rsp_prod_pvt.
      const k = random() < 0.3 ? Math.floor(random() * (consumed - answered + 1)) : consumed - answered;
      for (let i = 0; i < k; i++) {
        const off = back.sring.slotOffset(back.rspProdPvt);
        back.sring.dv.setUint32(off, answered, true);
        back.sring.dv.setUint32(off + 4, ~back.rspProdPvt >>> 0, true);
        back.rspProdPvt++;
        answered++;
      }
      if (k > 0 || random() < 0.2) {
        if (back.pushResponses()) frontAwake = true;
      }
      const idle = answered === consumed && back.sring.rspProd === back.rspProdPvt;
      if (idle && !back.finalCheckForRequests()) backAwake = false;
    } else {
      if (!frontAwake) continue;
      const prod = front.readRspProd();
      if (front.responseProdOverflow(prod)) bad('honest backend flagged as overflowing');
      while (front.rspCons !== prod) {
        front.copyResponse(front.rspCons, copy);
        if (cdv.getUint32(0, true) !== completed) bad(`response ${completed} out of order`);
        if (cdv.getUint32(4, true) !== (~front.rspCons >>> 0)) bad('response slot index mismatch');
        front.rspCons++;
        completed++;
      }
      if (!front.finalCheckForResponses()) frontAwake = false;
    }
  }
  t.equal(errors, 0, `no errors (start ${start}, entry ${entryBytes})`);
  t.equal(front.reqProdPvt, (start + total) >>> 0, 'producer index advanced by total, mod 2^32');
  t.equal(back.reqCons, front.reqProdPvt);
  t.equal(front.rspCons, front.reqProdPvt);
  t.equal(front.freeRequests(), size, 'ring empty at the end');
  t.ok(notifies > 0 && notifies <= pushes, `notified ${notifies} of ${pushes} pushes`);
}

t.test('front <-> back round trips with random batches, across the 2^32 wrap', async (t) => {
  const starts = [0, 1, 0x7fffffff - 50, U32 - 1000, U32 - 256, U32 - 1];
  let seed = 1;
  for (const entry of [12, 8]) {
    for (const start of starts) {
      await t.test(`entry ${entry}, start ${start}`, async (t) => simulate(t, entry, start, 20000, seed++));
    }
  }
});
