// SPDX-License-Identifier: MIT
// rx.ts — backend → guest: a bounded queue of pool frames and their copy into posted RX buffers.
//
// Follows Linux netback's rx.c (reference/xen-netif.md §2.4): each RX request slot is copied once;
// the response goes into the same slot index as the request it consumes (netfront ignores
// rsp.id), so rsp_prod_pvt advances in step with req_cons. A frame fits one 4 KiB page, so each
// packet takes one slot at offset 0. When requests run out with frames still queued, req_event
// is armed at req_prod + 1 and re-checked (xenvif_rx_ring_slots_available).
//
// The queue is bounded (XSA-392): over `hardLimit` frames a new frame is dropped and counted.
// Over `softLimit` the vif asks senders to pause (lossless under transient congestion); a vif
// that posts no buffers for `stallMs` is declared stalled and its frames are dropped at once
// until it posts again, so one guest can never hold the others up.
import type { BackRing } from '../ring/sring.js';
import { NETIF_RSP_ERROR, NETIF_RX_SLOT, NETRXF_csum_blank, NETRXF_data_validated, newRxRequest, readRxRequest, writeRxResponse } from '../ring/netif.js';
import type { GrantAccess } from '../transport/types.js';
import { C } from './counters.js';
import { FF_CSUM_BLANK, FF_DATA_VALIDATED, type PacketPool } from './pool.js';

export class RxPath {
  softLimit = 256;
  hardLimit = 1024;
  stallMs = 1000;
  /** Queue of pool frames (a ring buffer of indices). */
  private readonly q: Int32Array;
  private head = 0;
  private count = 0;
  private readonly slotBuf = new Uint8Array(NETIF_RX_SLOT);
  private readonly slotDv = new DataView(this.slotBuf.buffer);
  private readonly req = newRxRequest();
  private readonly batchFrame: Int32Array;
  private readonly batchId: Uint16Array;
  private readonly batchOp: Int32Array;
  /** performance.now() when the guest last took a frame, or when the queue became non-empty. */
  lastProgressMs = 0;
  stalled = false;
  notify: () => void = () => undefined;

  constructor(
    private readonly ring: BackRing | null,
    private readonly grants: GrantAccess | null,
    private readonly pool: PacketPool,
    private readonly counters: Float64Array,
    private readonly onFatal: (reason: string) => void,
  ) {
    this.q = new Int32Array(2048);
    const n = ring?.sring.size ?? 256;
    this.batchFrame = new Int32Array(n);
    this.batchId = new Uint16Array(n);
    this.batchOp = new Int32Array(n);
  }

  get queued(): number {
    return this.count;
  }

  /** True while senders should hold back. */
  get congested(): boolean {
    return this.count >= this.softLimit && !this.stalled;
  }

  /** Take a retained frame; returns false (and releases it) if it is dropped. */
  enqueue(frame: number, nowMs: number): boolean {
    const c = this.counters;
    if (this.ring === null) {
      c[C.rx_not_connected]!++;
      this.pool.release(frame);
      return false;
    }
    // A stalled guest is alive again as soon as it has posted a buffer.
    if (this.stalled && this.ring.readReqProd() !== this.ring.reqCons) this.stalled = false;
    if (this.stalled) {
      c[C.rx_stalled]!++;
      this.pool.release(frame);
      return false;
    }
    if (this.count >= this.hardLimit || this.count >= this.q.length) {
      c[C.rx_queue_full]!++;
      this.pool.release(frame);
      return false;
    }
    if (this.count === 0) this.lastProgressMs = nowMs;
    this.q[(this.head + this.count) % this.q.length] = frame;
    this.count++;
    return true;
  }

  /** Check whether the guest has stopped taking frames; returns true if it just became stalled. */
  checkStall(nowMs: number): boolean {
    if (this.stalled || this.count === 0 || nowMs - this.lastProgressMs < this.stallMs) return false;
    this.stalled = true;
    this.counters[C.rx_stalled]! += this.count;
    this.dropAll();
    return true;
  }

  /** Copy queued frames into posted RX buffers. Returns how many frames were delivered. */
  process(nowMs: number): number {
    const ring = this.ring;
    const grants = this.grants;
    if (ring === null || grants === null) return 0;
    let delivered = 0;
    for (;;) {
      const reqProd = ring.readReqProd();
      if (ring.requestProdOverflow(reqProd)) {
        this.onFatal(`impossible number of RX requests: req_prod ${reqProd}, rsp_prod ${ring.rspProdPvt}, ring size ${ring.sring.size}`);
        return delivered;
      }
      if (this.stalled && reqProd !== ring.reqCons) this.stalled = false; // buffers again: alive
      let avail = ring.unconsumed(reqProd);
      if (this.count === 0) return delivered;
      if (avail === 0) {
        // Arm the event for one more request, then re-check (closes the race with the guest).
        ring.armReqEvent((reqProd + 1) >>> 0);
        if (ring.readReqProd() === reqProd) return delivered;
        continue;
      }
      let n = 0;
      const base = ring.reqCons;
      const pu8 = this.pool.u8;
      while (avail > 0 && this.count > 0) {
        ring.copyRequest((base + n) >>> 0, this.slotBuf);
        const r = readRxRequest(this.slotDv, 0, this.req);
        const frame = this.q[this.head]!;
        this.head = (this.head + 1) % this.q.length;
        this.count--;
        this.batchFrame[n] = frame;
        this.batchId[n] = r.id;
        this.batchOp[n] = grants.copyTo(pu8, this.pool.offset(frame), r.gref, 0, this.pool.len[frame]!);
        n++;
        avail--;
      }
      const st = grants.flush();
      const dv = ring.sring.dv;
      const c = this.counters;
      for (let i = 0; i < n; i++) {
        const frame = this.batchFrame[i]!;
        const len = this.pool.len[frame]!;
        const ff = this.pool.flags[frame]!;
        const flags = ff & FF_CSUM_BLANK ? NETRXF_csum_blank | NETRXF_data_validated : ff & FF_DATA_VALIDATED ? NETRXF_data_validated : 0;
        const idx = (base + i) >>> 0;
        if (st[this.batchOp[i]!] === 0) {
          writeRxResponse(dv, ring.sring.slotOffset(idx), this.batchId[i]!, 0, flags, len);
          c[C.rx_packets]!++;
          c[C.rx_bytes]! += len;
        } else {
          writeRxResponse(dv, ring.sring.slotOffset(idx), this.batchId[i]!, 0, 0, NETIF_RSP_ERROR);
          c[C.rx_error]!++;
        }
        this.pool.release(frame);
      }
      ring.reqCons = (base + n) >>> 0;
      ring.rspProdPvt = ring.reqCons;
      if (ring.pushResponses()) {
        c[C.notify_rx]!++;
        this.notify();
      }
      delivered += n;
      this.lastProgressMs = nowMs;
    }
  }

  /** Release every queued frame (disconnect, stall). */
  dropAll(): void {
    while (this.count > 0) {
      this.pool.release(this.q[this.head]!);
      this.head = (this.head + 1) % this.q.length;
      this.count--;
    }
  }
}
