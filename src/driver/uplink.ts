// SPDX-License-Identifier: MIT
// uplink.ts — a switch port whose other side is a driver: net_uk's end of one driver channel.
//
// TX (switch → wire): deliver() gets one pool-frame reference from the switch, completes a TCP/UDP
// checksum a guest left blank (FF_CSUM_BLANK; counted when it cannot), gives the frame a TX id
// (< ring size) and writes a request; the frame stays owned (in flight) until the driver
// answers that id. A full TX ring parks frames in a bounded backlog; past half of it the uplink
// says it is congested, so the switch parks the guests sending to it (back-pressure, as between
// vifs) until the backlog drains (host.portDrained); beyond the whole backlog frames are dropped
// and counted. RX (wire → switch): the RX ring is kept stocked with free pool frames; a response
// hands its frame to the switch (Netback.ingress). When a vif it feeds is congested the switch
// holds the uplink (block/unblock): it stops reaping RX responses, the driver runs out of free
// frames, and the device drops what it cannot hold and counts it (lossless for what it took). Every response is checked before it is
// believed: an id not in flight, a frame we never posted or outside the pool, a length out of
// range, or a producer index beyond the ring is counted and skipped (or, for an impossible index,
// the ring is no longer read and onFault is called) — a driver's bug never crashes net_uk.
// Adaptive polling as in docs/driver-channel.md: passes back to back while busy, then arm
// rsp_event and sleep on the notify eventfd.
import type { EventFd } from '../native/index.js';
import { completeL4Checksum } from '../netback/checksum.js';
import { FF_CSUM_BLANK, type PacketPool } from '../netback/pool.js';
import type { Port } from '../netback/service.js';
import { ST_OK, type NetukChannel } from './channel.js';

/** What an uplink needs from the netback service (Netback implements it). */
export interface UplinkHost {
  readonly pool: PacketPool;
  attachPort(p: Port): void;
  detachPort(p: Port): void;
  ingress(from: Port, frame: number): number;
  flush(): void;
  /** Our backlog went back under its congestion mark (Netback.portDrained). */
  portDrained?(p: Port): void;
}

export const UplinkCounter = {
  tx_packets: 0,
  tx_bytes: 1,
  tx_error: 2, // driver answered with status < 0
  tx_backlog_full: 3, // dropped: TX ring and backlog full
  tx_down: 4, // dropped: uplink closed or faulted
  tx_bad_len: 5,
  rx_packets: 6,
  rx_bytes: 7,
  rx_error: 8, // RX response with status < 0 (frame returned unused)
  rx_bad_len: 9,
  rx_no_destination: 10,
  bad_tx_id: 11, // TX response for an id not in flight / out of range
  bad_rx_frame: 12, // RX response naming a frame out of range or not posted
  bad_rsp_prod: 13, // response producer index beyond the ring: ring abandoned
  rx_pool_empty: 14, // could not stock the RX ring
  notifications: 15, // kicks sent to the driver
  wakeups: 16, // notify events taken
  tx_csum_completed: 17, // FF_CSUM_BLANK frames whose TCP/UDP checksum we computed
  tx_csum_failed: 18, // FF_CSUM_BLANK frames we could not complete (not TCP/UDP over IP, bad lengths): sent as they are
  tx_congested: 19, // times the backlog crossed its congestion mark (senders parked)
  rx_held: 20, // times RX reaping was held back because a destination vif was congested
} as const;
export type UplinkCounterName = keyof typeof UplinkCounter;
const N_COUNTERS = 21;

export interface UplinkOptions {
  /** RX frames kept posted (default pool/4; never more than the RX ring or half the pool). */
  rxPosted?: number;
  /** Frames parked while the TX ring is full (default 4096); congested from half of it on. */
  backlog?: number;
  /** Adaptive polling window in µs (default 50). */
  spinUs?: number;
  /** Called once when the driver is caught doing something impossible with ring indices. */
  onFault?: (reason: string) => void;
}

export class Uplink implements Port {
  port = -1;
  readonly counters = new Float64Array(N_COUNTERS);
  faultReason: string | undefined;
  private readonly pool: PacketPool;
  private readonly txFrame: Int32Array; // id → frame in flight, -1 free
  private readonly txFreeIds: Uint16Array;
  private nTxFree: number;
  private readonly rxPostedMark: Uint8Array; // frame → 1 while posted to the driver
  private rxPosted = 0;
  private readonly rxTarget: number;
  private readonly backlog: Int32Array;
  private blHead = 0;
  private blCount = 0;
  private readonly rsp = new Int32Array(3);
  private scheduled = false;
  private lastWork = 0;
  private readonly spinMs: number;
  private closed = false;
  private waitingForPool = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly congestMark: number;
  private congestedSaid = false;
  private rxBlocked = false;

  constructor(
    private readonly host: UplinkHost,
    readonly channel: NetukChannel,
    private readonly kick: EventFd,
    private readonly notify: EventFd,
    private readonly opts: UplinkOptions = {},
  ) {
    this.pool = host.pool;
    if (channel.nFrames !== this.pool.frames) throw new Error(`uplink: channel names ${channel.nFrames} frames, the pool has ${this.pool.frames}`);
    const txSize = channel.tx.size;
    this.txFrame = new Int32Array(txSize).fill(-1);
    this.txFreeIds = new Uint16Array(txSize);
    for (let i = 0; i < txSize; i++) this.txFreeIds[i] = txSize - 1 - i;
    this.nTxFree = txSize;
    this.rxPostedMark = new Uint8Array(this.pool.frames);
    // At most half the pool goes to the driver for receiving: the vifs need the rest.
    this.rxTarget = Math.max(1, Math.min(opts.rxPosted ?? Math.floor(this.pool.frames / 4), channel.rx.size, Math.floor(this.pool.frames / 2)));
    this.backlog = new Int32Array(opts.backlog ?? 4096);
    this.congestMark = Math.max(1, this.backlog.length >> 1);
    this.spinMs = (opts.spinUs ?? 50) / 1000;
  }

  /** Join the switch, stock the RX ring, start listening to the driver. */
  start(): void {
    this.host.attachPort(this);
    this.notify.watch(() => {
      this.counters[UplinkCounter.wakeups]!++;
      this.schedule();
    });
    this.refill();
    this.push();
    // A slow safety net (lost wake-up, pool freed without a release wake).
    this.timer = setInterval(() => this.schedule(), 100);
    this.timer.unref();
  }

  counter(name: UplinkCounterName): number {
    return this.counters[UplinkCounter[name]]!;
  }

  status(): Record<UplinkCounterName, number> {
    const o = {} as Record<UplinkCounterName, number>;
    for (const k of Object.keys(UplinkCounter) as UplinkCounterName[]) o[k] = this.counter(k);
    return o;
  }

  /** Frames owned by the driver right now (TX in flight, RX posted). */
  get inFlight(): { tx: number; rx: number; backlog: number } {
    return { tx: this.channel.tx.size - this.nTxFree, rx: this.rxPosted, backlog: this.blCount };
  }

  // ---- Port

  /** The backlog is past its mark: senders should hold back (never while closed: frames drop then). */
  get congested(): boolean {
    return this.blCount >= this.congestMark && !this.closed && this.faultReason === undefined;
  }

  /** A destination vif is congested: leave RX responses on the ring until unblock(). */
  block(): void {
    if (this.rxBlocked) return;
    this.rxBlocked = true;
    this.counters[UplinkCounter.rx_held]!++;
  }

  unblock(): void {
    if (!this.rxBlocked) return;
    this.rxBlocked = false;
    this.schedule();
  }

  /** Whether RX reaping is held back right now. */
  get held(): boolean {
    return this.rxBlocked;
  }

  deliver(frame: number): boolean {
    const c = this.counters;
    if (this.closed || this.faultReason !== undefined) {
      c[UplinkCounter.tx_down]!++;
      this.pool.release(frame);
      return false;
    }
    const len = this.pool.len[frame]!;
    if (len < 14 || len > this.channel.frameBytes) {
      c[UplinkCounter.tx_bad_len]!++;
      this.pool.release(frame);
      return false;
    }
    const flags = this.pool.flags[frame]!;
    if (flags & FF_CSUM_BLANK) {
      // A guest's offloaded checksum: the wire needs the real one (the driver channel has no
      // "checksum pending" flag, and the NIC is not asked to do it). Done once, in place; the
      // frame now carries a valid checksum for every other destination too.
      if (completeL4Checksum(this.pool.u8, this.pool.offset(frame), len)) {
        c[UplinkCounter.tx_csum_completed]!++;
        this.pool.flags[frame] = flags & ~FF_CSUM_BLANK;
      } else c[UplinkCounter.tx_csum_failed]!++;
    }
    if (this.blCount === 0 && this.post(frame)) return true;
    if (this.blCount >= this.backlog.length) {
      c[UplinkCounter.tx_backlog_full]!++;
      this.pool.release(frame);
      return false;
    }
    this.backlog[(this.blHead + this.blCount) % this.backlog.length] = frame;
    this.blCount++;
    if (this.blCount === this.congestMark) {
      this.congestedSaid = true;
      c[UplinkCounter.tx_congested]!++;
    }
    return true;
  }

  flush(): void {
    this.push();
  }

  // ---- internals

  /** Write one TX request if an id and a slot are free. */
  private post(frame: number): boolean {
    const tx = this.channel.tx;
    if (this.nTxFree === 0 || tx.freeRequests() === 0) return false;
    const id = this.txFreeIds[--this.nTxFree]!;
    this.txFrame[id] = frame;
    const len = this.pool.len[frame]!;
    this.channel.putTxRequest(frame, len, id);
    this.counters[UplinkCounter.tx_packets]!++;
    this.counters[UplinkCounter.tx_bytes]! += len;
    return true;
  }

  private drainBacklog(): void {
    while (this.blCount > 0 && this.post(this.backlog[this.blHead]!)) {
      this.blHead = (this.blHead + 1) % this.backlog.length;
      this.blCount--;
    }
    if (this.congestedSaid && this.blCount < this.congestMark) {
      this.congestedSaid = false;
      this.host.portDrained?.(this);
    }
  }

  private refill(): void {
    const pool = this.pool;
    const rx = this.channel.rx;
    while (this.rxPosted < this.rxTarget && rx.freeRequests() > 0) {
      const f = pool.alloc();
      if (f < 0) {
        this.counters[UplinkCounter.rx_pool_empty]!++;
        if (!this.waitingForPool) {
          this.waitingForPool = true;
          pool.whenFree(() => {
            this.waitingForPool = false;
            this.schedule();
          });
        }
        return;
      }
      this.rxPostedMark[f] = 1;
      this.rxPosted++;
      this.channel.putRxRequest(f, f & 0xffff);
    }
  }

  private push(): void {
    if (this.closed) return;
    const a = this.channel.tx.pushRequests();
    const b = this.channel.rx.pushRequests();
    if (a || b) {
      this.counters[UplinkCounter.notifications]!++;
      this.kick.signal();
    }
  }

  private fault(reason: string): void {
    if (this.faultReason !== undefined) return;
    this.faultReason = reason;
    this.counters[UplinkCounter.bad_rsp_prod]!++;
    this.opts.onFault?.(reason);
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    if (this.closed) return;
    const now = performance.now();
    if (this.poll()) {
      this.lastWork = now;
      this.schedule();
      return;
    }
    if (now - this.lastWork < this.spinMs) {
      this.schedule();
      return;
    }
    if (this.faultReason !== undefined) return;
    const t = this.channel.tx.finalCheckForResponses();
    // Held: RX responses wait on the ring; unblock() wakes us, not the driver.
    const r = !this.rxBlocked && this.channel.rx.finalCheckForResponses();
    if (t || r) this.schedule();
    // else: asleep until the notify eventfd (or the safety tick).
  }

  /** One pass: TX completions, RX frames into the switch, refill, publish. Returns whether anything moved. */
  poll(): boolean {
    if (this.closed || this.faultReason !== undefined) return false;
    const c = this.counters;
    const ch = this.channel;
    const pool = this.pool;
    const rsp = this.rsp;
    let work = 0;
    // TX completions.
    const tx = ch.tx;
    const txProd = tx.readRspProd();
    if (tx.responseProdOverflow(txProd) || ((txProd - tx.rspCons) >>> 0) > ((tx.reqProdPvt - tx.rspCons) >>> 0)) {
      this.fault(`TX rsp_prod ${txProd} beyond requests (rsp_cons ${tx.rspCons}, req_prod ${tx.reqProdPvt})`);
      return false;
    }
    while (tx.rspCons !== txProd) {
      ch.getTxResponse(tx.rspCons, rsp);
      tx.rspCons = tx.rspCons + 1;
      work++;
      const id = rsp[0]!;
      const frame = id < this.txFrame.length ? this.txFrame[id]! : -1;
      if (frame < 0) {
        c[UplinkCounter.bad_tx_id]!++;
        continue;
      }
      this.txFrame[id] = -1;
      this.txFreeIds[this.nTxFree++] = id;
      if (rsp[1]! !== ST_OK) c[UplinkCounter.tx_error]!++;
      pool.release(frame);
    }
    // RX frames.
    const rx = ch.rx;
    const rxProd = rx.readRspProd();
    if (rx.responseProdOverflow(rxProd) || ((rxProd - rx.rspCons) >>> 0) > ((rx.reqProdPvt - rx.rspCons) >>> 0)) {
      this.fault(`RX rsp_prod ${rxProd} beyond requests (rsp_cons ${rx.rspCons}, req_prod ${rx.reqProdPvt})`);
      return false;
    }
    let toSwitch = 0;
    while (rx.rspCons !== rxProd && !this.rxBlocked) {
      ch.getRxResponse(rx.rspCons, rsp);
      rx.rspCons = rx.rspCons + 1;
      work++;
      const frame = rsp[0]!;
      if (frame < 0 || frame >= pool.frames || this.rxPostedMark[frame] !== 1) {
        c[UplinkCounter.bad_rx_frame]!++;
        continue;
      }
      this.rxPostedMark[frame] = 0;
      this.rxPosted--;
      const len = rsp[1]!;
      if (rsp[2]! !== ST_OK) {
        c[UplinkCounter.rx_error]!++;
        pool.release(frame);
        continue;
      }
      if (len < 14 || len > ch.frameBytes) {
        c[UplinkCounter.rx_bad_len]!++;
        pool.release(frame);
        continue;
      }
      pool.len[frame] = len;
      pool.flags[frame] = 0;
      c[UplinkCounter.rx_packets]!++;
      c[UplinkCounter.rx_bytes]! += len;
      if (this.host.ingress(this, frame) === 0) c[UplinkCounter.rx_no_destination]!++;
      toSwitch++;
    }
    this.drainBacklog();
    this.refill();
    this.push();
    if (toSwitch > 0) this.host.flush();
    return work > 0;
  }

  /**
   * Leave the switch and give every frame the driver held back to the pool. Call only once the
   * driver process is gone (it could still write into RX frames otherwise). The channel itself
   * belongs to the supervisor.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.notify.unwatch();
    this.host.detachPort(this);
    for (let id = 0; id < this.txFrame.length; id++) {
      const f = this.txFrame[id]!;
      if (f >= 0) this.pool.release(f);
      this.txFrame[id] = -1;
    }
    for (let f = 0; f < this.rxPostedMark.length; f++) {
      if (this.rxPostedMark[f] === 1) {
        this.rxPostedMark[f] = 0;
        this.pool.release(f);
      }
    }
    this.rxPosted = 0;
    while (this.blCount > 0) {
      this.pool.release(this.backlog[this.blHead]!);
      this.blHead = (this.blHead + 1) % this.backlog.length;
      this.blCount--;
    }
  }
}

