// SPDX-License-Identifier: MIT
// throughput.test.ts — a sanity check, not a benchmark: 10M TX slots through one ring, timed.
//
// The loop is the hot path as netback runs it (snapshot req_prod, copy each slot out, decode into
// a reused object, answer in place, push once per batch; the frontend does the mirror image). It
// prints slots/s and asserts only that every slot made the round trip; bench/ is where numbers
// are compared. Set PHOENIX_RING_SLOTS to change the count.
import t from 'tap';
import { BackRing, FrontRing, SharedRingView, sharedRingInit, XEN_PAGE_SIZE } from '../../src/ring/sring.js';
import {
  NETIF_RSP_OKAY,
  NETIF_TX_SLOT,
  newTxRequest,
  newTxResponse,
  readTxRequest,
  readTxResponse,
  writeTxRequest,
  writeTxResponse,
} from '../../src/ring/netif.js';

const SLOTS = Number(process.env.PHOENIX_RING_SLOTS ?? 10_000_000);

t.test(`${SLOTS} TX slots through one ring`, async (t) => {
  const buf = new ArrayBuffer(2 * XEN_PAGE_SIZE);
  sharedRingInit(buf, XEN_PAGE_SIZE);
  const front = new FrontRing(new SharedRingView(buf, XEN_PAGE_SIZE, NETIF_TX_SLOT));
  const back = new BackRing(new SharedRingView(buf, XEN_PAGE_SIZE, NETIF_TX_SLOT));
  const fdv = front.sring.dv;
  const bdv = back.sring.dv;
  const copy = new Uint8Array(NETIF_TX_SLOT);
  const cdv = new DataView(copy.buffer);
  const req = newTxRequest();
  const rsp = newTxResponse();
  const batch = 64;
  let sent = 0;
  let done = 0;
  let checksum = 0;
  let notifies = 0;

  const t0 = process.hrtime.bigint();
  while (done < SLOTS) {
    // Frontend: fill up to a batch.
    let n = Math.min(front.freeRequests(), batch, SLOTS - sent);
    while (n-- > 0) {
      writeTxRequest(fdv, front.sring.slotOffset(front.reqProdPvt), sent, 0, 0, sent & 0xffff, 60);
      front.reqProdPvt = front.reqProdPvt + 1;
      sent++;
    }
    if (front.pushRequests()) notifies++;
    // Backend: one pass over a snapshot of req_prod.
    const prod = back.readReqProd();
    if (back.requestProdOverflow(prod)) throw new Error('overflow');
    let cons = back.reqCons;
    let rp = back.rspProdPvt;
    for (let k = back.unconsumed(prod); k > 0; k--) {
      back.copyRequest(cons, copy);
      readTxRequest(cdv, 0, req);
      writeTxResponse(bdv, back.sring.slotOffset(rp), req.id, NETIF_RSP_OKAY);
      cons = (cons + 1) >>> 0;
      rp = (rp + 1) >>> 0;
    }
    back.reqCons = cons;
    back.rspProdPvt = rp;
    if (back.pushResponses()) notifies++;
    back.finalCheckForRequests();
    // Frontend: collect responses.
    const rprod = front.readRspProd();
    let rc = front.rspCons;
    while (rc !== rprod) {
      front.copyResponse(rc, copy, 0, 4);
      checksum = (checksum + readTxResponse(cdv, 0, rsp).id) >>> 0;
      rc = (rc + 1) >>> 0;
      done++;
    }
    front.rspCons = rc;
    front.finalCheckForResponses();
  }
  const ns = Number(process.hrtime.bigint() - t0);

  let want = 0;
  for (let i = 0; i < SLOTS; i++) want = (want + (i & 0xffff)) >>> 0;
  t.equal(checksum, want, 'every slot answered with its id');
  t.equal(front.reqProdPvt, SLOTS >>> 0);
  t.comment(
    `${SLOTS} slots (request + response) in ${(ns / 1e6).toFixed(0)} ms: ` +
      `${((SLOTS / ns) * 1e3).toFixed(2)} M slots/s, ${(ns / SLOTS).toFixed(1)} ns/slot; ${notifies} notifies`,
  );
});
