// SPDX-License-Identifier: MIT
// afxdp-engine.test.ts — the AF_XDP driver's loop pass against a memory-backed kernel (no root).
//
// Both ends of a real driver channel live in this process (net_uk's NetukChannel and the driver's
// DriverChannel over the same file); the socket is test/xsk/fake-kernel.ts, which lays the four
// XSK rings out as Linux does and receives / transmits / completes like copy mode.
import t, { type Test } from 'tap';
import { rmSync } from 'node:fs';
import { afxdpView, readAfxdpCounters } from '../../drivers/afxdp/counters.js';
import { AfxdpEngine, type XskPort } from '../../drivers/afxdp/engine.js';
import { Control, createChannel, openChannel, ST_DROPPED, ST_ERROR, ST_OK, type NetukChannel } from '../../src/driver/channel.js';
import { FakeKernel, XDP_HEADROOM } from '../xsk/fake-kernel.js';

const FRAMES = 256;
const FB = 2048;

function rig(t: Test, sizes = { fill: 64, completion: 64, rx: 64, tx: 64 }) {
  const path = `/dev/shm/phx-afxdp-engine-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const net = createChannel(path, { generation: 7, nFrames: FRAMES, txEntries: 64, rxEntries: 64 });
  const drv = openChannel(path);
  t.teardown(() => {
    drv.close();
    net.close();
    rmSync(path, { force: true });
  });
  const poolBuf = new ArrayBuffer(FRAMES * FB);
  const pool = new Uint8Array(poolBuf);
  const k = new FakeKernel(pool, sizes);
  const rings = k.rings();
  const sock: XskPort = {
    frameSize: FB,
    ...rings,
    zeroCopy: false,
    xdpMode: 'native',
    queue: 0,
    ifindex: 7,
    kick: (what: number) => k.kick(what),
    readStats: () => k.stats,
  };
  const eng = new AfxdpEngine(drv, sock, poolBuf);
  const x = afxdpView(drv.region.buffer, drv.geometry.countersOffset);
  return { net, drv, k, eng, pool, x };
}

function postRx(net: NetukChannel, frames: number[]): void {
  frames.forEach((f, i) => net.putRxRequest(f, i));
  net.rx.pushRequests();
}
function postTx(net: NetukChannel, reqs: Array<[number, number, number]>): void {
  for (const [f, len, id] of reqs) net.putTxRequest(f, len, id);
  net.tx.pushRequests();
}
function rxResponses(net: NetukChannel): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  const r = new Int32Array(3);
  const prod = net.rx.readRspProd();
  while (net.rx.rspCons !== prod) {
    net.getRxResponse(net.rx.rspCons, r);
    out.push([r[0]!, r[1]!, r[2]!]);
    net.rx.rspCons = net.rx.rspCons + 1;
  }
  return out;
}
function txResponses(net: NetukChannel): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const r = new Int32Array(2);
  const prod = net.tx.readRspProd();
  while (net.tx.rspCons !== prod) {
    net.getTxResponse(net.tx.rspCons, r);
    out.push([r[0]!, r[1]!]);
    net.tx.rspCons = net.tx.rspCons + 1;
  }
  return out;
}

t.test('RX: posted frames go to the fill ring, received ones come back at byte 0 of their frame', async (t) => {
  const { net, drv, k, eng, pool, x } = rig(t);
  const c = readAfxdpCounters(x)!;
  t.equal(c.ifindex, 7, 'the block is published at start');
  t.equal(c.mode, 1 << 8);
  postRx(net, Array.from({ length: 32 }, (_, i) => i + 10));
  t.ok(eng.pass(64) > 0);
  t.equal(k.fillAvailable, 32, 'every posted frame is on the fill ring');
  t.equal(eng.postedRx, 32);
  const frames = [60, 61, 1514].map((len, i) => new Uint8Array(len).map((_, j) => (i * 7 + j) & 0xff));
  for (const f of frames) t.ok(k.receive(f));
  eng.pass(64);
  eng.push();
  const rsp = rxResponses(net);
  t.same(rsp, [[10, 60, ST_OK], [11, 61, ST_OK], [12, 1514, ST_OK]], 'frame, len, ok in the order received');
  frames.forEach((f, i) => t.same(pool.subarray((10 + i) * FB, (10 + i) * FB + f.length), f, `frame ${i} moved to the start of its pool frame`));
  t.equal(drv.counter('devRxReceived'), 3);
  t.equal(drv.counter('devRxPosted'), 29);
  t.equal(drv.counter('rxReqCons'), 32);
  const after = readAfxdpCounters(x)!;
  t.equal(after.rxMoved, 3);
  t.equal(after.fillProd, 32);
  t.equal(after.fillCons, 3);
  t.equal(after.rxProd, 3);
  t.equal(after.rxCons, 3);
  t.equal(XDP_HEADROOM, 256);
});

t.test('TX: requests become descriptors, completions (in any order) become responses by id', async (t) => {
  const { net, drv, k, eng } = rig(t);
  k.reverseCompletions = true;
  postTx(net, [
    [100, 64, 3],
    [101, 1514, 4],
    [102, 2048, 9],
  ]);
  eng.pass(64);
  t.same(k.sent, [[100 * FB, 64], [101 * FB, 1514], [102 * FB, 2048]], 'one descriptor per request, straight from the pool');
  t.equal(k.kicks, 1, 'one kick for the batch');
  eng.pass(64);
  eng.push();
  t.same(txResponses(net).sort(), [[3, ST_OK], [4, ST_OK], [9, ST_OK]]);
  t.equal(drv.counter('devTxCompleted'), 3);
  t.equal(drv.counter('devTxPending'), 0);
  t.equal(eng.pendingTx, 0);
});

t.test('bad requests are answered with an error and counted; nothing reaches the device', async (t) => {
  const { net, drv, k, eng } = rig(t);
  k.holdCompletions = true;
  postTx(net, [
    [FRAMES, 64, 1], // frame outside the pool
    [5, 10, 2], // runt
    [5, FB + 1, 3], // longer than a frame
    [6, 64, 4], // fine
    [6, 64, 5], // the same frame while the device has it
  ]);
  postRx(net, [FRAMES + 1, 6, 20, 20]); // outside, held for TX, fine, already posted
  eng.pass(64);
  eng.push();
  t.same(k.sent, [[6 * FB, 64]], 'only the good TX request');
  t.same(txResponses(net), [[1, ST_ERROR], [2, ST_ERROR], [3, ST_ERROR], [5, ST_ERROR]]);
  t.same(rxResponses(net), [[FRAMES + 1, 0, ST_ERROR], [6, 0, ST_ERROR], [20, 0, ST_ERROR]]);
  t.equal(drv.counter('badRequests'), 7);
  t.equal(k.fillAvailable, 1);
  k.complete();
  eng.pass(64);
  eng.push();
  t.same(txResponses(net), [[4, ST_OK]]);
});

t.test('a full device leaves requests on the channel; a bogus completion is counted, not believed', async (t) => {
  const { net, drv, k, eng, x } = rig(t, { fill: 8, completion: 64, rx: 64, tx: 8 });
  k.stalled = true;
  postTx(net, Array.from({ length: 20 }, (_, i) => [i, 64, i] as [number, number, number]));
  eng.pass(64);
  t.equal(drv.counter('txReqCons'), 8, 'no more than the TX ring holds');
  t.equal(eng.pendingTx, 8);
  t.ok(readAfxdpCounters(x)!.kickErrors >= 1, 'the kick said EAGAIN');
  postRx(net, Array.from({ length: 12 }, (_, i) => 100 + i));
  eng.pass(64);
  t.equal(drv.counter('rxReqCons'), 8, 'no more than the fill ring holds');
  k.stalled = false;
  for (let i = 0; i < 5; i++) eng.pass(64);
  t.equal(drv.counter('txReqCons'), 20);
  t.equal(drv.counter('devTxCompleted'), 20);
  k.bogusCompletion(200 * FB);
  eng.pass(64);
  t.equal(readAfxdpCounters(x)!.bogus, 1);
  t.equal(drv.counter('devTxCompleted'), 20, 'not counted as a completion');
});

t.test('fault hooks, wake-ups, statistics, and giving every frame back', async (t) => {
  const { net, drv, k, eng, x } = rig(t);
  eng.control(Control.corruptTxId);
  postTx(net, [[1, 64, 1]]);
  eng.pass(64);
  eng.pass(64);
  eng.push();
  t.same(txResponses(net), [[0xffff, ST_OK]], 'corruptTxId: one response with an id never sent');
  eng.control(Control.corruptRxFrame);
  postRx(net, [30, 31]);
  eng.pass(64);
  k.receive(new Uint8Array(60));
  eng.pass(64);
  eng.push();
  t.same(rxResponses(net), [[FRAMES + 7, 60, ST_OK]], 'corruptRxFrame: one response outside the pool');

  eng.control(Control.deviceStop);
  k.holdCompletions = true;
  postTx(net, [[2, 64, 2]]);
  eng.pass(64);
  t.same(k.sent.length, 1, 'a stopped device takes nothing');
  eng.control(Control.none);
  eng.pass(64);
  t.equal(k.sent.length, 2);

  k.fillNeedsWakeup = true;
  postRx(net, [40]);
  eng.pass(64);
  t.equal(k.rxWakes, 1, 'fill ring asking for a wake-up gets a recvfrom kick');

  k.stats.set([3, 1, 2, 4, 5, 6, 7]);
  eng.publishStats();
  const c = readAfxdpCounters(x)!;
  t.same([c.rxDropped, c.rxInvalidDescs, c.txInvalidDescs, c.rxRingFull, c.rxFillRingEmptyDescs, c.txRingEmptyDescs, c.txBusyDrops], [3, 1, 2, 4, 5, 6, 7]);
  t.equal(drv.counter('devRxDropped'), 7, 'rx_dropped + rx_ring_full');
  t.equal(c.statsReads, 1);

  eng.returnAll();
  eng.push();
  t.same(rxResponses(net).sort(), [[31, 0, ST_DROPPED], [40, 0, ST_DROPPED]], 'posted RX frames return unused');
  t.same(txResponses(net), [[2, ST_ERROR]], 'the uncompleted TX frame is answered');
  t.equal(drv.counter('devTxPending'), 0);
  t.equal(drv.counter('devRxPosted'), 0);
});
