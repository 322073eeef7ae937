// SPDX-License-Identifier: MIT
// drivers/afxdp/engine.ts — one loop pass between the driver channel and an AF_XDP socket.
//
// The pool file net_uk made is the socket's UMEM, so no byte is copied between net_uk, us and
// the kernel on TX, and none on RX except one move inside the frame (below). Per pass, bounded
// by `budget` per direction:
//   completions  → TX responses {id, ok}             (XSK completion ring → channel TX ring)
//   TX requests  → TX descriptors (frame·2048, len)  (channel TX ring → XSK TX ring), one kick
//   received     → RX responses {frame, len, ok}     (XSK RX ring → channel RX ring)
//   RX requests  → fill ring entries (free frames)   (channel RX ring → XSK fill ring)
// One native call per batch at most (the TX kick; an RX wake-up only in zero-copy mode when the
// kernel asks). Every request is copied once and checked (frame in the pool, 14 ≤ len ≤ frame,
// frame not already with the device) before anything acts on it; a bad one is answered with
// ST_ERROR and counted. Completions are matched to TX ids by frame (the kernel returns the
// address we gave it), so they may come back in any order.
// RX data offset: the kernel writes a received frame XDP_PACKET_HEADROOM (256) bytes into its
// chunk, while the channel's RX response names only {frame, len} with the data at byte 0. The
// engine moves the bytes down (copyWithin: one memmove, ~50 ns for 1514 bytes) and counts it
// (rxMoved). A channel field for the offset would remove that move.
import { Control, type DriverChannel, ST_DROPPED, ST_ERROR, ST_OK } from '../../src/driver/channel.js';
import { XSK_KICK_RX, XSK_KICK_TX } from '../../src/native/index.js';
import type { XskSocket } from '../../src/xsk/socket.js';
import { AFXDP_MAGIC, afxdpView, X, XDP_MODE_CODE } from './counters.js';

const MIN_FRAME = 14;

/** What the engine needs of a socket: an XskSocket, or a memory-backed stand-in in tests. */
export type XskPort = Pick<
  XskSocket,
  'frameSize' | 'fill' | 'completion' | 'rx' | 'tx' | 'zeroCopy' | 'xdpMode' | 'queue' | 'ifindex' | 'kick' | 'readStats'
>;

export class AfxdpEngine {
  readonly nFrames: number;
  readonly frameBytes: number;
  /** TX id of the frame the device holds, or -1. */
  private readonly txId: Int32Array;
  /** 1 while the frame is on the fill ring or in the kernel's hands for RX. */
  private readonly rxHeld: Uint8Array;
  private txPending = 0;
  private rxPosted = 0;
  private readonly req = new Int32Array(3);
  private readonly pool: Uint8Array;
  private readonly xc: Uint32Array;
  /** Fault hooks (Control in channel.ts), as drivers/sim has them. */
  deviceStopped = false;
  corruptTx = false;
  corruptRx = false;

  constructor(
    readonly ch: DriverChannel,
    readonly xsk: XskPort,
    poolBuffer: ArrayBuffer,
  ) {
    this.nFrames = ch.nFrames;
    this.frameBytes = ch.frameBytes;
    if (xsk.frameSize !== this.frameBytes) throw new Error(`afxdp: the socket's frame size ${xsk.frameSize} is not the pool's ${this.frameBytes}`);
    if (xsk.tx === null || xsk.rx === null) throw new Error('afxdp: the socket needs both an RX and a TX ring');
    this.pool = new Uint8Array(poolBuffer, 0, this.nFrames * this.frameBytes);
    this.txId = new Int32Array(this.nFrames).fill(-1);
    this.rxHeld = new Uint8Array(this.nFrames);
    this.xc = afxdpView(ch.region.buffer, ch.geometry.countersOffset);
    const xc = this.xc;
    Atomics.store(xc, X.mode, (xsk.zeroCopy ? 1 : 0) | (XDP_MODE_CODE[xsk.xdpMode] << 8));
    Atomics.store(xc, X.ifindex, xsk.ifindex);
    Atomics.store(xc, X.queue, xsk.queue);
    this.publishRings();
    Atomics.store(xc, X.magic, AFXDP_MAGIC);
  }

  /** Frames handed to the device for sending, not yet completed. */
  get pendingTx(): number {
    return this.txPending;
  }
  /** Frames the device holds for receiving. */
  get postedRx(): number {
    return this.rxPosted;
  }

  /** Act on the control word (fault hooks); returns the op. */
  control(op: number): void {
    this.deviceStopped = op === Control.deviceStop;
    if (op === Control.corruptTxId) this.corruptTx = true;
    if (op === Control.corruptRxFrame) this.corruptRx = true;
  }

  /** One pass; returns how much moved (0 = idle). */
  pass(budget: number): number {
    let work = 0;
    if (!this.deviceStopped) work += this.reapCompletions(budget);
    work += this.takeTxRequests(budget);
    if (!this.deviceStopped) work += this.takeReceived(budget);
    work += this.takeRxRequests(budget * 2);
    const ch = this.ch;
    ch.set('txReqCons', ch.tx.reqCons);
    ch.set('rxReqCons', ch.rx.reqCons);
    ch.set('devTxPending', this.txPending);
    ch.set('devRxPosted', this.rxPosted);
    this.publishRings();
    return work;
  }

  /** Whether responses were published that net_uk asked to be told about. */
  push(): boolean {
    const a = this.ch.tx.pushResponses();
    const b = this.ch.rx.pushResponses();
    return a || b;
  }

  private reapCompletions(budget: number): number {
    const c = this.xsk.completion;
    const k = c.peek(budget);
    if (k === 0) return 0;
    const fb = this.frameBytes;
    let done = 0;
    for (let i = 0; i < k; i++) {
      const frame = Math.floor(c.addr(i) / fb);
      const id = frame < this.nFrames ? this.txId[frame]! : -1;
      if (id < 0) {
        this.bumpX(X.bogus);
        continue;
      }
      this.txId[frame] = -1;
      this.ch.putTxResponse(this.corruptTx ? 0xffff : id, ST_OK);
      this.corruptTx = false;
      done++;
    }
    c.release(k);
    this.txPending -= done;
    this.ch.bump('devTxCompleted', done);
    return k;
  }

  private takeTxRequests(budget: number): number {
    const ch = this.ch;
    const ring = ch.tx;
    const prod = ring.readReqProd();
    if (ring.requestProdOverflow(prod) || ring.reqCons === prod) return this.retryTx(0);
    const xtx = this.xsk.tx!;
    const room = this.deviceStopped ? 0 : xtx.reserve(budget);
    const req = this.req;
    const fb = this.frameBytes;
    let n = 0;
    let seen = 0;
    while (ring.reqCons !== prod && seen < budget && !ring.requestConsOverflow(ring.reqCons)) {
      ch.getTxRequest(ring.reqCons, req);
      const frame = req[0]!;
      const len = req[1]!;
      const id = req[2]!;
      const bad = frame < 0 || frame >= this.nFrames || len < MIN_FRAME || len > fb || this.txId[frame]! >= 0;
      if (!bad && n >= room) break; // the device is full: leave the request for a later pass
      ring.reqCons = ring.reqCons + 1;
      seen++;
      if (bad) {
        ch.bump('badRequests');
        ch.putTxResponse(id, ST_ERROR);
        continue;
      }
      this.txId[frame] = id;
      xtx.put(n++, frame * fb, len);
    }
    xtx.submit(n);
    this.txPending += n;
    return this.retryTx(n) + seen;
  }

  /** Kick the kernel if we queued frames, or if it left some in the TX ring (EAGAIN earlier). */
  private retryTx(queued: number): number {
    if (this.deviceStopped) return 0;
    if (queued === 0 && (this.txPending === 0 || this.xsk.tx!.outstanding === 0)) return 0;
    const r = this.xsk.kick(XSK_KICK_TX);
    if (r !== 0) this.bumpX(X.kickErrors);
    return 0;
  }

  private takeReceived(budget: number): number {
    const rx = this.xsk.rx!;
    const k = rx.peek(budget);
    if (k === 0) return 0;
    const fb = this.frameBytes;
    const pool = this.pool;
    let moved = 0;
    let got = 0;
    for (let i = 0; i < k; i++) {
      const addr = rx.addr(i);
      const frame = Math.floor(addr / fb);
      const off = addr - frame * fb;
      const len = rx.len(i);
      if (frame >= this.nFrames || this.rxHeld[frame] !== 1 || off + len > fb) {
        this.bumpX(X.bogus);
        continue;
      }
      this.rxHeld[frame] = 0;
      const base = frame * fb;
      if (off !== 0) {
        pool.copyWithin(base, base + off, base + off + len);
        moved++;
      }
      this.ch.putRxResponse(this.corruptRx ? this.nFrames + 7 : frame, len, ST_OK);
      this.corruptRx = false;
      got++;
    }
    rx.release(k);
    this.rxPosted -= got;
    this.ch.bump('devRxReceived', got);
    if (moved > 0) this.bumpX(X.rxMoved, moved);
    return k;
  }

  private takeRxRequests(budget: number): number {
    const ch = this.ch;
    const ring = ch.rx;
    const prod = ring.readReqProd();
    if (ring.requestProdOverflow(prod) || ring.reqCons === prod) return 0;
    const fill = this.xsk.fill;
    const room = fill.reserve(budget);
    const req = this.req;
    const fb = this.frameBytes;
    let n = 0;
    let seen = 0;
    while (ring.reqCons !== prod && seen < budget && !ring.requestConsOverflow(ring.reqCons)) {
      ch.getRxRequest(ring.reqCons, req);
      const frame = req[0]!;
      const bad = frame < 0 || frame >= this.nFrames || this.rxHeld[frame] !== 0 || this.txId[frame]! >= 0;
      if (!bad && n >= room) break;
      ring.reqCons = ring.reqCons + 1;
      seen++;
      if (bad) {
        ch.bump('badRequests');
        ch.putRxResponse(frame, 0, ST_ERROR);
        continue;
      }
      this.rxHeld[frame] = 1;
      fill.put(n++, frame * fb);
    }
    fill.submit(n);
    this.rxPosted += n;
    if (n > 0 && fill.needsWakeup) this.xsk.kick(XSK_KICK_RX);
    return seen;
  }

  /** Copy the kernel's ring words into the counters page (every pass: 16 word moves). */
  publishRings(): void {
    const xc = this.xc;
    const s = this.xsk;
    Atomics.store(xc, X.fillProd, s.fill.producer);
    Atomics.store(xc, X.fillCons, s.fill.consumer);
    Atomics.store(xc, X.compProd, s.completion.producer);
    Atomics.store(xc, X.compCons, s.completion.consumer);
    if (s.rx !== null) {
      Atomics.store(xc, X.rxProd, s.rx.producer);
      Atomics.store(xc, X.rxCons, s.rx.consumer);
    }
    if (s.tx !== null) {
      Atomics.store(xc, X.txProd, s.tx.producer);
      Atomics.store(xc, X.txCons, s.tx.consumer);
    }
  }

  /** XDP_STATISTICS into the counters page (one getsockopt); devRxDropped = rx_dropped + rx_ring_full. */
  publishStats(): void {
    const st = this.xsk.readStats();
    const xc = this.xc;
    const put = (slot: number, v: number): void => {
      Atomics.store(xc, slot, v % 0x1_0000_0000);
    };
    put(X.rxDropped, st[0]!);
    put(X.rxInvalidDescs, st[1]!);
    put(X.txInvalidDescs, st[2]!);
    put(X.rxRingFull, st[3]!);
    put(X.rxFillRingEmptyDescs, st[4]!);
    put(X.txRingEmptyDescs, st[5]!);
    put(X.txBusyDrops, st[6]!);
    this.ch.set('devRxDropped', (st[0]! + st[3]!) % 0x1_0000_0000);
    Atomics.add(xc, X.statsReads, 1);
  }

  /**
   * After the socket is closed (the kernel has let go of every frame): give every frame back.
   * RX frames return unused (ST_DROPPED); TX frames not completed are answered ST_ERROR (they may
   * or may not have left: net_uk decides whether to send them again).
   */
  returnAll(): void {
    const ch = this.ch;
    for (let f = 0; f < this.nFrames; f++) {
      if (this.rxHeld[f] === 1) {
        this.rxHeld[f] = 0;
        ch.putRxResponse(f, 0, ST_DROPPED);
      }
      const id = this.txId[f]!;
      if (id >= 0) {
        this.txId[f] = -1;
        ch.putTxResponse(id, ST_ERROR);
      }
    }
    this.rxPosted = 0;
    this.txPending = 0;
    ch.set('devTxPending', 0);
    ch.set('devRxPosted', 0);
  }

  private bumpX(slot: number, by = 1): void {
    Atomics.add(this.xc, slot, by);
  }
}
