// SPDX-License-Identifier: MIT
// concurrent.test.ts — frontend and backend in two threads over one SharedArrayBuffer.
//
// This file is both the test (main thread) and the two peers (worker threads running it again).
// The shared buffer holds the ring page and, after it, two "event channel" doorbells (Int32 words
// the peers Atomics.wait/notify on). Each end does what a real one does: work, push-and-check-
// notify, final check, sleep on its doorbell until the other end's push says to notify. With the
// barriers and the event-index rule right, no sleep ever times out and every request/response
// arrives in order; a missing fence() shows up here as a stall (not deterministically: this is a
// stress test on top of the exact ones in sring.test.ts).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { BackRing, FrontRing, SharedRingView, sharedRingInit, XEN_PAGE_SIZE } from '../../src/ring/sring.js';

interface PeerData {
  role: 'front' | 'back';
  sab: SharedArrayBuffer;
  total: number;
  entryBytes: number;
  start: number;
}
interface PeerResult {
  role: string;
  moved: number;
  errors: string[];
  stalls: number;
  sleeps: number;
  notifies: number;
}

const BACK_BELL = 0;
const FRONT_BELL = 1;
const BELLS_OFFSET = XEN_PAGE_SIZE;
const SLEEP_MS = 2000;

function ring(bells: Int32Array, bell: number): void {
  Atomics.add(bells, bell, 1);
  Atomics.notify(bells, bell);
}

function front(d: PeerData, bells: Int32Array): PeerResult {
  const r = new FrontRing(new SharedRingView(d.sab, 0, d.entryBytes), { index: d.start });
  const dv = r.sring.dv;
  const copy = new Uint8Array(d.entryBytes);
  const cdv = new DataView(copy.buffer);
  const res: PeerResult = { role: 'front', moved: 0, errors: [], stalls: 0, sleeps: 0, notifies: 0 };
  let sent = 0;
  let batch = 1;
  while (res.moved < d.total && res.errors.length < 5) {
    const seen = Atomics.load(bells, FRONT_BELL);
    batch = (batch * 7 + 3) % 97; // vary batch sizes without a PRNG
    let n = Math.min(r.freeRequests(), d.total - sent, batch + 1);
    const produced = n > 0;
    while (n-- > 0) {
      const off = r.sring.slotOffset(r.reqProdPvt);
      dv.setUint32(off, sent, true);
      dv.setUint32(off + 4, r.reqProdPvt, true);
      r.reqProdPvt = r.reqProdPvt + 1;
      sent++;
    }
    if (produced && r.pushRequests()) {
      res.notifies++;
      ring(bells, BACK_BELL);
    }
    const prod = r.readRspProd();
    if (r.responseProdOverflow(prod)) res.errors.push(`rsp_prod ${prod} overflows rsp_cons ${r.rspCons}`);
    const got = r.unconsumed(prod);
    for (let i = 0; i < got; i++) {
      r.copyResponse(r.rspCons, copy);
      if (cdv.getUint32(0, true) !== res.moved) res.errors.push(`response ${res.moved} out of order`);
      r.rspCons = r.rspCons + 1;
      res.moved++;
    }
    if (produced || got > 0) continue;
    if (r.finalCheckForResponses()) continue;
    res.sleeps++;
    if (Atomics.wait(bells, FRONT_BELL, seen, SLEEP_MS) === 'timed-out') res.stalls++;
  }
  return res;
}

function back(d: PeerData, bells: Int32Array): PeerResult {
  const view = new SharedRingView(d.sab, 0, d.entryBytes);
  const r = new BackRing(view, { attach: true });
  const dv = view.dv;
  const copy = new Uint8Array(d.entryBytes);
  const cdv = new DataView(copy.buffer);
  const res: PeerResult = { role: 'back', moved: 0, errors: [], stalls: 0, sleeps: 0, notifies: 0 };
  while (res.moved < d.total && res.errors.length < 5) {
    const seen = Atomics.load(bells, BACK_BELL);
    const prod = r.readReqProd();
    if (r.requestProdOverflow(prod)) res.errors.push(`req_prod ${prod} overflows rsp_prod_pvt ${r.rspProdPvt}`);
    const n = r.unconsumed(prod);
    for (let i = 0; i < n; i++) {
      r.copyRequest(r.reqCons, copy);
      const seq = cdv.getUint32(0, true);
      if (seq !== res.moved) res.errors.push(`request ${res.moved} read as ${seq}`);
      if (cdv.getUint32(4, true) !== r.reqCons) res.errors.push('slot index mismatch');
      r.reqCons = r.reqCons + 1;
      const off = view.slotOffset(r.rspProdPvt);
      dv.setUint32(off, seq, true);
      r.rspProdPvt = r.rspProdPvt + 1;
      res.moved++;
    }
    if (n > 0) {
      if (r.pushResponses()) {
        res.notifies++;
        ring(bells, FRONT_BELL);
      }
      continue;
    }
    if (r.finalCheckForRequests()) continue;
    res.sleeps++;
    if (Atomics.wait(bells, BACK_BELL, seen, SLEEP_MS) === 'timed-out') res.stalls++;
  }
  return res;
}

if (!isMainThread && parentPort) {
  const d = workerData as PeerData;
  const bells = new Int32Array(d.sab, BELLS_OFFSET, 2);
  parentPort.postMessage(d.role === 'front' ? front(d, bells) : back(d, bells));
} else {
  const { default: t } = await import('tap');

  const run = (data: PeerData): Promise<PeerResult> =>
    new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: data });
      w.once('message', (m: PeerResult) => resolve(m));
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error(`${data.role} worker exited ${code}`)));
    });

  for (const [entryBytes, start] of [
    [12, 2 ** 32 - 100_000],
    [8, 0],
  ] as const) {
    t.test(`two threads, ${entryBytes}-byte slots, from index ${start}`, async (t) => {
      const total = 300_000;
      const sab = new SharedArrayBuffer(BELLS_OFFSET + 64);
      sharedRingInit(sab, 0);
      const v = new SharedRingView(sab, 0, entryBytes, XEN_PAGE_SIZE);
      v.reqProd = v.rspProd = start;
      v.reqEvent = v.rspEvent = start + 1;
      const t0 = Date.now();
      const [front, back] = await Promise.all([
        run({ role: 'front', sab, total, entryBytes, start }),
        run({ role: 'back', sab, total, entryBytes, start }),
      ]);
      for (const r of [front, back]) {
        t.same(r.errors, [], `${r.role}: no protocol errors`);
        t.equal(r.moved, total, `${r.role}: all ${total} slots`);
        t.equal(r.stalls, 0, `${r.role}: no lost wakeups (${r.sleeps} sleeps, ${r.notifies} notifies sent)`);
      }
      t.equal(v.reqProd, (start + total) >>> 0, 'req_prod advanced (and wrapped) as expected');
      t.comment(`${total} slots each way in ${Date.now() - t0} ms; front slept ${front.sleeps}x, back ${back.sleeps}x`);
    });
  }
}
