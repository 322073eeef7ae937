// SPDX-License-Identifier: MIT
// tx.ts — guest → backend: consume a vif's TX ring, validate every request, copy frames into the pool.
//
// Follows Linux netback's xenvif_tx_build_gops / count_requests / get_extras
// (reference/xen-netif.md §2.3, §2.5, §3.2). Invariants:
//  - req_prod is read once per pass; each request slot is copied out of shared memory once
//    (BackRing.copyRequest) and only the copy is decoded and checked (XSA-155);
//  - "Impossible number of requests" (req_prod − req_cons > ring size), a cross-page fragment, a
//    chain past the published requests or longer than FATAL_SKB_SLOTS, and bad extras are fatal:
//    the pass stops and onFatal is called (the vif is disabled, nothing else is touched);
//  - a runt, an oversized frame, > 18 follow-on slots or a failed grant copy drop the packet with
//    NETIF_RSP_ERROR on each of its slots; extra-info slots answer NETIF_RSP_NULL;
//  - exactly one response per consumed slot, in slot order, so rsp_prod_pvt == req_cons after a pass;
//  - guest `id`s are echoed, never used as indices.
// Copies are queued on the GrantAccess and flushed once per pass (one GNTTABOP_copy batch on Xen).
import type { BackRing } from '../ring/sring.js';
import {
  ETH_HLEN,
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MAX,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_NR_SLOTS_MIN,
  NETIF_TX_SLOT,
  newExtraInfo,
  newTxRequest,
  readExtraInfo,
  readTxRequest,
  writeTxResponse,
} from '../ring/netif.js';
import type { GrantAccess } from '../transport/types.js';
import { C } from './counters.js';
import { FF_CSUM_BLANK, FF_DATA_VALIDATED, type PacketPool } from './pool.js';

/** Linux netback's fatal_skb_slots default: a longer chain is a malicious frontend. */
export const FATAL_SKB_SLOTS = 20;
const PAGE = 4096;
const MAX_SLOTS = 256;

export interface TxSink {
  /** A complete, validated frame (refcount 1, ownership passes to the sink). */
  forward(frame: number): void;
  fatal(reason: string): void;
}

export class TxPath {
  /** Packets consumed per pass before yielding to other vifs. */
  budget = 256;
  private readonly slotBuf = new Uint8Array(NETIF_TX_SLOT);
  private readonly slotDv = new DataView(this.slotBuf.buffer);
  private readonly req = newTxRequest();
  private readonly extra = newExtraInfo();
  // Per-pass scratch, indexed by slot position in the pass (no objects per packet).
  private readonly slotId = new Uint16Array(MAX_SLOTS);
  private readonly slotIsExtra = new Uint8Array(MAX_SLOTS);
  private readonly pktFirstSlot = new Uint16Array(MAX_SLOTS);
  private readonly pktSlots = new Uint16Array(MAX_SLOTS);
  private readonly pktFrame = new Int32Array(MAX_SLOTS);
  private readonly pktOp0 = new Int32Array(MAX_SLOTS);
  private readonly pktOps = new Uint16Array(MAX_SLOTS);
  private readonly pktStatus = new Int8Array(MAX_SLOTS);
  private readonly fragGref = new Uint32Array(FATAL_SKB_SLOTS + 1);
  private readonly fragOff = new Uint16Array(FATAL_SKB_SLOTS + 1);
  private readonly fragSize = new Uint16Array(FATAL_SKB_SLOTS + 1);

  constructor(
    private readonly ring: BackRing,
    private readonly grants: GrantAccess,
    private readonly pool: PacketPool,
    private readonly counters: Float64Array,
    private readonly sink: TxSink,
  ) {}

  /**
   * One pass over the TX ring. Returns 'more' if work is left (budget or pool), 'idle' if the
   * ring is drained and req_event is armed (the final check: the guest will notify us),
   * 'spin' if drained but not armed (arm = false: the caller keeps polling, the guest need not
   * notify), 'fatal' if the vif must be disabled, 'paused' when the pool is empty.
   */
  process(arm = true): 'more' | 'idle' | 'spin' | 'fatal' | 'paused' {
    const ring = this.ring;
    const size = ring.sring.size;
    const reqProd = ring.readReqProd();
    if (((reqProd - ring.reqCons) >>> 0) > size) {
      this.sink.fatal(`impossible number of TX requests: req_prod ${reqProd}, req_cons ${ring.reqCons}, ring size ${size}`);
      return 'fatal';
    }
    let cons = ring.reqCons;
    let nSlots = 0;
    let nPkts = 0;
    let paused = false;
    const c = this.counters;
    while (nPkts < this.budget && cons !== reqProd) {
      if (this.pool.free === 0) {
        c[C.pool_exhausted]!++;
        paused = true;
        break;
      }
      const first = nSlots;
      // --- first request
      ring.copyRequest(cons, this.slotBuf);
      const req = readTxRequest(this.slotDv, 0, this.req);
      const total = req.size;
      const firstGref = req.gref;
      const firstOffset = req.offset;
      const txFlags = req.flags;
      this.slotId[nSlots] = req.id;
      this.slotIsExtra[nSlots++] = 0;
      let idx = (cons + 1) >>> 0;
      let drop = 0; // counter index to bump, 0 = keep
      let dummy = false;
      // --- extras
      if (txFlags & NETTXF_extra_info) {
        for (;;) {
          if (idx === reqProd) return this.fatal('missing extra info: chain runs past the published requests', nPkts);
          ring.copyRequest(idx, this.slotBuf);
          const e = readExtraInfo(this.slotDv, 0, this.extra);
          idx = (idx + 1) >>> 0;
          this.slotId[nSlots] = 0;
          this.slotIsExtra[nSlots++] = 1;
          if (e.type === 0 || e.type >= XEN_NETIF_EXTRA_TYPE_MAX) return this.fatal(`bad extra info type ${e.type}`, nPkts);
          if (e.type === XEN_NETIF_EXTRA_TYPE_GSO) {
            if (e.gsoSize === 0) return this.fatal('GSO extra with size 0', nPkts);
            if (e.gsoType !== XEN_NETIF_GSO_TYPE_TCPV4 && e.gsoType !== XEN_NETIF_GSO_TYPE_TCPV6) return this.fatal(`GSO extra with bad type ${e.gsoType}`, nPkts);
            drop = C.tx_gso_unsupported; // not advertised: refuse, not fatal
          } else if (e.type === XEN_NETIF_EXTRA_TYPE_MCAST_ADD || e.type === XEN_NETIF_EXTRA_TYPE_MCAST_DEL) {
            dummy = true;
          }
          if ((e.flags & XEN_NETIF_EXTRA_FLAG_MORE) === 0) break;
          if (nSlots >= MAX_SLOTS - 1) return this.fatal('extra info chain longer than the ring', nPkts);
        }
      }
      // --- follow-on fragments
      let nFrags = 0;
      let more = (txFlags & NETTXF_more_data) !== 0;
      let firstLen = total;
      while (more) {
        if (idx === reqProd) return this.fatal('more_data chain runs past the published requests', nPkts);
        if (nFrags >= FATAL_SKB_SLOTS) return this.fatal(`malicious frontend using more than ${FATAL_SKB_SLOTS} slots`, nPkts);
        ring.copyRequest(idx, this.slotBuf);
        const f = readTxRequest(this.slotDv, 0, this.req);
        idx = (idx + 1) >>> 0;
        this.slotId[nSlots] = f.id;
        this.slotIsExtra[nSlots++] = 0;
        if (f.offset + f.size > PAGE) return this.fatal(`fragment crosses a page boundary: offset ${f.offset} + size ${f.size}`, nPkts);
        if (f.size > firstLen) {
          if (drop === 0) drop = C.tx_too_big; // old frontends overflow the 16-bit total: drop, not fatal
          firstLen = 0;
        } else firstLen -= f.size;
        this.fragGref[nFrags] = f.gref;
        this.fragOff[nFrags] = f.offset;
        this.fragSize[nFrags++] = f.size;
        more = (f.flags & NETTXF_more_data) !== 0;
      }
      if (firstOffset + firstLen > PAGE) return this.fatal(`first slot crosses a page boundary: offset ${firstOffset} + size ${firstLen}`, nPkts);
      if (drop === 0 && nFrags > XEN_NETIF_NR_SLOTS_MIN) drop = C.tx_too_many_slots;
      if (drop === 0 && !dummy && firstLen < ETH_HLEN) drop = C.tx_runt;
      if (drop === 0 && total > this.pool.frameBytes) drop = C.tx_too_big;

      const p = nPkts++;
      this.pktFirstSlot[p] = first;
      this.pktSlots[p] = nSlots - first;
      this.pktFrame[p] = -1;
      this.pktOps[p] = 0;
      this.pktStatus[p] = NETIF_RSP_OKAY;
      cons = idx;
      if (dummy) {
        c[C.tx_mcast_ctrl]!++;
        continue;
      }
      if (drop !== 0) {
        c[drop]!++;
        c[C.tx_error]!++;
        this.pktStatus[p] = NETIF_RSP_ERROR;
        continue;
      }
      const frame = this.pool.alloc();
      const base = this.pool.offset(frame);
      this.pktFrame[p] = frame;
      this.pool.len[frame] = total;
      this.pool.flags[frame] = (txFlags & NETTXF_csum_blank ? FF_CSUM_BLANK : 0) | (txFlags & NETTXF_data_validated ? FF_DATA_VALIDATED : 0);
      const pu8 = this.pool.u8;
      const op0 = this.grants.copyFrom(firstGref, firstOffset, firstLen, pu8, base);
      let op = op0;
      let at = base + firstLen;
      for (let i = 0; i < nFrags; i++) {
        const sz = this.fragSize[i]!;
        if (sz === 0) continue; // zero-length fragments are legal (XSA-448): nothing to copy
        op = this.grants.copyFrom(this.fragGref[i]!, this.fragOff[i]!, sz, pu8, at);
        at += sz;
      }
      this.pktOp0[p] = op0;
      this.pktOps[p] = op - op0 + 1;
    }
    ring.reqCons = cons;
    this.lastPassPackets = nPkts;
    if (nPkts === 0) return paused ? 'paused' : this.drained(arm);

    // --- statuses, responses, forwarding
    const st = this.grants.flush();
    const dv = ring.sring.dv;
    for (let p = 0; p < nPkts; p++) {
      const frame = this.pktFrame[p]!;
      let status: number = this.pktStatus[p]!;
      if (frame >= 0) {
        const op0 = this.pktOp0[p]!;
        for (let i = 0; i < this.pktOps[p]!; i++) if (st[op0 + i] !== 0) status = NETIF_RSP_ERROR;
        if (status !== NETIF_RSP_OKAY) {
          c[C.tx_error]!++;
          this.pool.release(frame);
          this.pktFrame[p] = -1;
        } else {
          c[C.tx_packets]!++;
          c[C.tx_bytes]! += this.pool.len[frame]!;
        }
      }
      const s0 = this.pktFirstSlot[p]!;
      for (let s = s0; s < s0 + this.pktSlots[p]!; s++) {
        const off = ring.sring.slotOffset(ring.rspProdPvt);
        if (this.slotIsExtra[s]) writeTxResponse(dv, off, 0, NETIF_RSP_NULL);
        else writeTxResponse(dv, off, this.slotId[s]!, status);
        ring.rspProdPvt = (ring.rspProdPvt + 1) >>> 0;
      }
    }
    if (ring.pushResponses()) {
      c[C.notify_tx]!++;
      this.notify();
    }
    for (let p = 0; p < nPkts; p++) {
      const frame = this.pktFrame[p]!;
      if (frame >= 0) this.sink.forward(frame);
    }
    if (paused) return 'paused';
    if (nPkts >= this.budget) return 'more';
    return this.drained(arm);
  }

  /** Set by the vif: sends the TX event to the guest. */
  notify: () => void = () => undefined;

  /** Packets consumed by the last pass (the caller's adaptive polling keys off it). */
  lastPassPackets = 0;

  /** The final check on its own: arm req_event, re-check; true if work arrived meanwhile. */
  armAndCheck(): boolean {
    return this.ring.finalCheckForRequests();
  }

  private drained(arm: boolean): 'idle' | 'spin' | 'more' {
    const ring = this.ring;
    if (!arm) return ring.unconsumed(ring.readReqProd()) !== 0 ? 'more' : 'spin';
    return ring.finalCheckForRequests() ? 'more' : 'idle';
  }

  private fatal(reason: string, nPkts: number): 'fatal' {
    this.grants.flush();
    for (let p = 0; p < nPkts; p++) if (this.pktFrame[p]! >= 0) this.pool.release(this.pktFrame[p]!);
    this.counters[C.fatal]!++;
    this.sink.fatal(reason);
    return 'fatal';
  }
}
