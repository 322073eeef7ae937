// SPDX-License-Identifier: MIT
// tap-engine.test.ts — the TAP driver's loop pass against a memory-backed TAP (no root).
//
// Both ends of a real driver channel live in this process (net_uk's NetukChannel and the driver's
// DriverChannel over the same file); the TAP is a queue of frames each way with scriptable
// write errors (EAGAIN, EIO), as the kernel's tun fd behaves.
import t, { type Test } from 'tap';
import { rmSync } from 'node:fs';
import { readTapCounters, tapView } from '../../drivers/tap/counters.js';
import { TapEngine, type TapDevice } from '../../drivers/tap/engine.js';
import { Control, createChannel, openChannel, ST_DROPPED, ST_ERROR, ST_OK, type NetukChannel } from '../../src/driver/channel.js';

const FRAMES = 256;
const FB = 2048;
const EAGAIN = 11;
const EIO = 5;

class FakeTap implements TapDevice {
  readonly toKernel: Uint8Array[] = [];
  readonly fromKernel: Uint8Array[] = [];
  writeErr: number[] = []; // errno for the next writes (0 = ok)
  write(buf: Uint8Array, off: number, len: number): number {
    const e = this.writeErr.shift() ?? 0;
    if (e === 0) this.toKernel.push(buf.slice(off, off + len));
    return e;
  }
  read(buf: Uint8Array, off: number, max: number): number {
    const f = this.fromKernel.shift();
    if (f === undefined) return -EAGAIN;
    const n = Math.min(f.length, max);
    buf.set(f.subarray(0, n), off);
    return n;
  }
}

function rig(t: Test) {
  const path = `/dev/shm/phx-tap-engine-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const net = createChannel(path, { generation: 3, nFrames: FRAMES, txEntries: 64, rxEntries: 64 });
  const drv = openChannel(path);
  t.teardown(() => {
    drv.close();
    net.close();
    rmSync(path, { force: true });
  });
  const poolBuf = new ArrayBuffer(FRAMES * FB);
  const pool = new Uint8Array(poolBuf);
  const dev = new FakeTap();
  const eng = new TapEngine(drv, dev, poolBuf, 9);
  const tc = tapView(drv.region.buffer, drv.geometry.countersOffset);
  return { net, drv, dev, eng, pool, tc };
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
const bytes = (len: number, seed: number): Uint8Array => new Uint8Array(len).map((_, i) => (seed + i * 3) & 0xff);

t.test('TX: each request is written at once and answered; EAGAIN leaves it on the ring; EIO is an error', async (t) => {
  const { net, drv, dev, eng, pool, tc } = rig(t);
  t.equal(readTapCounters(tc)!.ifindex, 9, 'the block is published at start');
  pool.set(bytes(60, 1), 5 * FB);
  pool.set(bytes(1514, 2), 6 * FB);
  net.putTxRequest(5, 60, 1);
  net.putTxRequest(6, 1514, 2);
  net.putTxRequest(7, 100, 3);
  net.putTxRequest(8, 100, 4);
  net.tx.pushRequests();
  dev.writeErr = [0, 0, EAGAIN];
  t.equal(eng.pass(64), 2, 'two requests taken');
  t.ok(eng.txAgain, 'the engine knows to retry');
  eng.push();
  t.same(txResponses(net), [[1, ST_OK], [2, ST_OK]]);
  t.same(dev.toKernel, [bytes(60, 1), bytes(1514, 2)], 'frames written intact');
  t.equal(drv.tx.reqCons, 2, 'the refused request is still on the ring');
  dev.writeErr = [EIO, 0];
  eng.pass(64);
  eng.push();
  t.same(txResponses(net), [[3, ST_ERROR], [4, ST_OK]], 'link down: an error for that frame, then on');
  const c = readTapCounters(tc)!;
  t.same([c.written, c.writtenBytes, c.writeAgain, c.writeLinkDown, c.lastErrno], [3, 60 + 1514 + 100, 1, 1, EIO]);
  t.equal(drv.counter('devTxCompleted'), 3);
});

t.test('TX: bad requests are answered ST_ERROR and counted, never written', async (t) => {
  const { net, drv, dev, eng } = rig(t);
  net.putRxRequest(10, 0);
  net.rx.pushRequests();
  eng.pass(64);
  for (const [f, len, id] of [[FRAMES, 60, 1], [-1 >>> 0, 60, 2], [3, 13, 3], [3, FB + 1, 4], [10, 60, 5]] as const) net.putTxRequest(f, len, id);
  net.tx.pushRequests();
  eng.pass(64);
  eng.push();
  t.same(txResponses(net), [[1, ST_ERROR], [2, ST_ERROR], [3, ST_ERROR], [4, ST_ERROR], [5, ST_ERROR]], 'out of pool, too short, too long, held for RX');
  t.equal(dev.toKernel.length, 0);
  t.equal(drv.counter('badRequests'), 5);
});

t.test('RX: frames are read into posted frames in order; bad lengths skipped; no read without a frame', async (t) => {
  const { net, drv, dev, eng, pool, tc } = rig(t);
  dev.fromKernel.push(bytes(60, 5), bytes(10, 6), bytes(FB + 100, 7), bytes(1514, 8), bytes(64, 9));
  eng.pass(64);
  t.equal(dev.fromKernel.length, 5, 'nothing is read before a frame is posted');
  [20, 21].forEach((f, i) => net.putRxRequest(f, i));
  net.rx.pushRequests();
  t.ok(eng.pass(64) > 0);
  eng.push();
  t.same(rxResponses(net), [[20, 60, ST_OK], [21, 1514, ST_OK]], 'frame, len, ok');
  t.same(pool.subarray(20 * FB, 20 * FB + 60), bytes(60, 5));
  t.same(pool.subarray(21 * FB, 21 * FB + 1514), bytes(1514, 8));
  t.equal(dev.fromKernel.length, 1, 'the last frame waits in the kernel for a free frame');
  const c = readTapCounters(tc)!;
  t.same([c.read, c.readBytes, c.readBadLen], [2, 1574, 2], 'a runt and a frame cut to fit are skipped');
  t.equal(drv.counter('devRxReceived'), 2);
  t.equal(eng.postedRx, 0);
  t.equal(eng.pass(64), 0, 'no free frame and nothing to do: idle (so the loop can sleep)');
  net.putRxRequest(22, 0);
  net.putRxRequest(22, 1);
  net.rx.pushRequests();
  eng.pass(64);
  eng.push();
  t.same(rxResponses(net), [[22, 0, ST_ERROR], [22, 64, ST_OK]], 'a frame posted twice is refused the second time');
  t.equal(eng.pass(64), 0, 'an empty read is not work');
  t.ok(eng.rxEmpty || eng.postedRx === 0);
});

t.test('fault hooks and the way out', async (t) => {
  const { net, eng, dev } = rig(t);
  [30, 31, 32].forEach((f, i) => net.putRxRequest(f, i));
  net.rx.pushRequests();
  eng.control(Control.deviceStop);
  dev.fromKernel.push(bytes(60, 1));
  net.putTxRequest(40, 60, 7);
  net.tx.pushRequests();
  eng.pass(64);
  eng.push();
  t.same(txResponses(net), [], 'device stopped: no TX');
  t.same(rxResponses(net), [], 'and no RX');
  eng.control(Control.corruptTxId);
  eng.pass(64);
  eng.push();
  t.same(txResponses(net), [[0xffff, ST_OK]], 'corrupt TX id once (the device runs again)');
  t.same(rxResponses(net), [[30, 60, ST_OK]]);
  dev.fromKernel.push(bytes(60, 2));
  eng.control(Control.corruptRxFrame);
  eng.pass(64);
  eng.push();
  t.same(rxResponses(net), [[FRAMES + 7, 60, ST_OK]], 'corrupt RX frame once');
  eng.returnAll();
  eng.push();
  t.same(rxResponses(net), [[32, 0, ST_DROPPED]], 'every held frame back, unused');
  eng.publishKernelStats({ rx: { packets: 5, dropped: 1 }, tx: { packets: 7, dropped: 2 ** 32 + 3 } });
  t.equal(eng.ch.counter('devRxDropped'), 3, 'the kernel\'s drops on the way to us are the device\'s RX drops (mod 2^32)');
});
