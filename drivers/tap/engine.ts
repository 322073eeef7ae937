// SPDX-License-Identifier: MIT
// drivers/tap/engine.ts — one loop pass between the driver channel and a TAP fd.
//
// Per pass, bounded by `budget` per direction:
//   TX requests  → write(fd, frame)  → TX response {id, ok|error}   (written at once: no completion queue)
//   RX requests  → free frames kept here, in order
//   readable fd  → read(fd) into the oldest free frame → RX response {frame, len, ok}
// A TAP moves one frame per read()/write() (there is no batched call on a tun fd); the batching
// is on the channel side: responses of a whole pass are published with one index write and at
// most one notify. Every request is copied once and checked (frame in the pool, 14 ≤ len ≤ frame,
// frame not held already) before use; a bad one is answered ST_ERROR and counted. write() EAGAIN
// leaves the request on the ring for a later pass (back-pressure, not a drop). When no free frame
// is left the fd is not read: the kernel queues, then drops, and counts that (kTxDropped).
import { Control, type DriverChannel, ST_DROPPED, ST_ERROR, ST_OK } from '../../src/driver/channel.js';
import type { NativeTap } from '../../src/native/index.js';
import { T, TAP_MAGIC, tapView } from './counters.js';

const MIN_FRAME = 14;
const EAGAIN = 11;
const EIO = 5;

/** What the engine needs of a TAP: the addon's Tap, or a memory-backed stand-in in tests. */
export type TapDevice = Pick<NativeTap, 'read' | 'write'>;

export class TapEngine {
  readonly nFrames: number;
  readonly frameBytes: number;
  private readonly pool: Uint8Array;
  private readonly tc: Uint32Array;
  /** Free RX frames, FIFO; held[f] = 1 while f is in it. */
  private readonly free: Int32Array;
  private freeHead = 0;
  private freeCount = 0;
  private readonly held: Uint8Array;
  private readonly req = new Int32Array(3);
  /** Last write() said EAGAIN: retry soon (the fd gives no event for it). */
  txAgain = false;
  /** Last read() said EAGAIN: nothing waiting in the kernel. */
  rxEmpty = false;
  deviceStopped = false;
  corruptTx = false;
  corruptRx = false;

  constructor(
    readonly ch: DriverChannel,
    readonly dev: TapDevice,
    poolBuffer: ArrayBuffer,
    ifindex = 0,
  ) {
    this.nFrames = ch.nFrames;
    this.frameBytes = ch.frameBytes;
    this.pool = new Uint8Array(poolBuffer, 0, this.nFrames * this.frameBytes);
    this.free = new Int32Array(ch.rx.size);
    this.held = new Uint8Array(this.nFrames);
    this.tc = tapView(ch.region.buffer, ch.geometry.countersOffset);
    Atomics.store(this.tc, T.ifindex, ifindex);
    Atomics.store(this.tc, T.magic, TAP_MAGIC);
  }

  /** Free frames the device holds for receiving. */
  get postedRx(): number {
    return this.freeCount;
  }

  /** Act on the control word (fault hooks, as drivers/sim has them). */
  control(op: number): void {
    this.deviceStopped = op === Control.deviceStop;
    if (op === Control.corruptTxId) this.corruptTx = true;
    if (op === Control.corruptRxFrame) this.corruptRx = true;
  }

  /** One pass; returns how much moved (0 = idle). */
  pass(budget: number): number {
    let work = this.takeTx(budget);
    work += this.takeRxRequests(budget * 2);
    if (!this.deviceStopped) work += this.receive(budget);
    const ch = this.ch;
    ch.set('txReqCons', ch.tx.reqCons);
    ch.set('rxReqCons', ch.rx.reqCons);
    ch.set('devRxPosted', this.freeCount);
    return work;
  }

  /** Whether responses were published that net_uk asked to be told about. */
  push(): boolean {
    const a = this.ch.tx.pushResponses();
    const b = this.ch.rx.pushResponses();
    return a || b;
  }

  private takeTx(budget: number): number {
    const ch = this.ch;
    const ring = ch.tx;
    this.txAgain = false;
    const prod = ring.readReqProd();
    if (this.deviceStopped || ring.requestProdOverflow(prod)) return 0;
    const req = this.req;
    const fb = this.frameBytes;
    const tc = this.tc;
    let n = 0;
    let done = 0;
    let bytes = 0;
    while (ring.reqCons !== prod && n < budget && !ring.requestConsOverflow(ring.reqCons)) {
      ch.getTxRequest(ring.reqCons, req);
      const frame = req[0]!;
      const len = req[1]!;
      const id = req[2]!;
      if (frame < 0 || frame >= this.nFrames || len < MIN_FRAME || len > fb || this.held[frame] !== 0) {
        ring.reqCons = ring.reqCons + 1;
        n++;
        ch.bump('badRequests');
        ch.putTxResponse(id, ST_ERROR);
        continue;
      }
      const err = this.dev.write(this.pool, frame * fb, len);
      if (err === EAGAIN) {
        Atomics.add(tc, T.writeAgain, 1);
        this.txAgain = true;
        break; // the request stays on the ring
      }
      ring.reqCons = ring.reqCons + 1;
      n++;
      if (err !== 0) {
        Atomics.add(tc, err === EIO ? T.writeLinkDown : T.writeErrors, 1);
        Atomics.store(tc, T.lastErrno, err);
        ch.putTxResponse(id, ST_ERROR);
        continue;
      }
      done++;
      bytes += len;
      ch.putTxResponse(this.corruptTx ? 0xffff : id, ST_OK);
      this.corruptTx = false;
    }
    if (done > 0) {
      Atomics.add(tc, T.written, done);
      Atomics.add(tc, T.writtenBytes, bytes);
      ch.bump('devTxCompleted', done);
    }
    return n;
  }

  private takeRxRequests(budget: number): number {
    const ch = this.ch;
    const ring = ch.rx;
    const prod = ring.readReqProd();
    if (ring.requestProdOverflow(prod)) return 0;
    const req = this.req;
    let n = 0;
    while (ring.reqCons !== prod && n < budget && this.freeCount < this.free.length && !ring.requestConsOverflow(ring.reqCons)) {
      ch.getRxRequest(ring.reqCons, req);
      ring.reqCons = ring.reqCons + 1;
      n++;
      const frame = req[0]!;
      if (frame < 0 || frame >= this.nFrames || this.held[frame] !== 0) {
        ch.bump('badRequests');
        ch.putRxResponse(frame, 0, ST_ERROR);
        continue;
      }
      this.held[frame] = 1;
      this.free[(this.freeHead + this.freeCount) % this.free.length] = frame;
      this.freeCount++;
    }
    return n;
  }

  private receive(budget: number): number {
    const ch = this.ch;
    const fb = this.frameBytes;
    const tc = this.tc;
    this.rxEmpty = false;
    let got = 0;
    let bytes = 0;
    let tries = 0;
    let bad = 0;
    while (this.freeCount > 0 && tries < budget) {
      tries++;
      const frame = this.free[this.freeHead]!;
      const r = this.dev.read(this.pool, frame * fb, fb);
      if (r < 0) {
        if (r === -EAGAIN) this.rxEmpty = true;
        else {
          Atomics.add(tc, T.readErrors, 1);
          Atomics.store(tc, T.lastErrno, -r);
        }
        break;
      }
      if (r < MIN_FRAME || r >= fb) {
        // >= fb: the frame may have been cut to fit (the TAP's MTU is larger than a pool frame).
        Atomics.add(tc, T.readBadLen, 1);
        bad++;
        continue; // the frame stays free: read the next one into it
      }
      this.freeHead = (this.freeHead + 1) % this.free.length;
      this.freeCount--;
      this.held[frame] = 0;
      ch.putRxResponse(this.corruptRx ? this.nFrames + 7 : frame, r, ST_OK);
      this.corruptRx = false;
      got++;
      bytes += r;
    }
    if (got > 0) {
      Atomics.add(tc, T.read, got);
      Atomics.add(tc, T.readBytes, bytes);
      ch.bump('devRxReceived', got);
    }
    return got + bad; // an empty read is not work: the loop may go to sleep
  }

  /** The kernel's statistics of the interface, as `ip -s -j link show` gives them. */
  publishKernelStats(s: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } }): void {
    const tc = this.tc;
    const put = (slot: number, v: number): void => {
      Atomics.store(tc, slot, v % 0x1_0000_0000);
    };
    put(T.kRxPackets, s.rx.packets);
    put(T.kRxDropped, s.rx.dropped);
    put(T.kTxPackets, s.tx.packets);
    put(T.kTxDropped, s.tx.dropped);
    this.ch.set('devRxDropped', s.tx.dropped % 0x1_0000_0000);
    Atomics.add(tc, T.statsReads, 1);
  }

  /** On the way out: every free frame goes back unused (ST_DROPPED). */
  returnAll(): void {
    while (this.freeCount > 0) {
      const f = this.free[this.freeHead]!;
      this.freeHead = (this.freeHead + 1) % this.free.length;
      this.freeCount--;
      this.held[f] = 0;
      this.ch.putRxResponse(f, 0, ST_DROPPED);
    }
    this.ch.set('devRxPosted', 0);
  }
}
