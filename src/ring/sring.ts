// SPDX-License-Identifier: MIT
// sring.ts — the generic Xen shared ring (ring.h): a 64-byte header and 2^n slots, both ends.
//
// Indices are free-running uint32 held in JS numbers: every difference is `(a - b) >>> 0`, every
// slot is `idx & (size - 1)`, and the private indices are normalised on assignment. The four
// header words are read and written through a Uint32Array, never a DataView: V8's DataView
// builtins (used until a function is optimised) assemble a uint32 from four byte loads, which
// could tear an index the peer is writing; a typed-array element is one 32-bit access in every
// tier. Indices the peer writes are read with Atomics.load, so an optimising compiler can never
// reuse an older read, and on weakly ordered CPUs the load is an acquire.
// Barriers follow ring.h: where it has xen_mb() we call fence(); where it has xen_wmb() x86-64
// (TSO) needs nothing beyond program order, so fence() runs there only on other architectures.
// Nothing here validates requests: callers copy a slot out with copyRequest() and check the copy
// (STYLE.md §9; xen-netif.md §3). Read next: netif.ts (the slot codecs), layout.ts (offsets).
import { fence } from '../native/barrier.js';
import { SRING_PVT, SRING_RING, SRING_REQ_EVENT, SRING_REQ_PROD, SRING_RSP_EVENT, SRING_RSP_PROD } from './layout.js';

export const SRING_HEADER_BYTES = SRING_RING;
export const XEN_PAGE_SIZE = 4096;

// Header word indices for the Uint32Array view (byte offset / 4).
const REQ_PROD = SRING_REQ_PROD >> 2;
const REQ_EVENT = SRING_REQ_EVENT >> 2;
const RSP_PROD = SRING_RSP_PROD >> 2;
const RSP_EVENT = SRING_RSP_EVENT >> 2;

// xen_wmb(): stores already stay in order on x86-64; elsewhere use the full fence.
const WMB_NEEDS_FENCE = process.arch !== 'x64' && process.arch !== 'ia32';

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('phoenix ring: big-endian hosts are not supported (Xen rings are little-endian)');
}

/** __CONST_RING_SIZE: (pageBytes - 64) / entryBytes rounded down to a power of two. */
export function ringSize(entryBytes: number, pageBytes: number = XEN_PAGE_SIZE): number {
  if (!Number.isInteger(entryBytes) || entryBytes <= 0) {
    throw new RangeError(`ring entry size must be a positive integer, got ${entryBytes}`);
  }
  if (!Number.isInteger(pageBytes) || pageBytes - SRING_HEADER_BYTES < entryBytes) {
    throw new RangeError(`ring page of ${pageBytes} bytes cannot hold one ${entryBytes}-byte slot`);
  }
  const n = Math.floor((pageBytes - SRING_HEADER_BYTES) / entryBytes);
  if (n > 0x80000000) throw new RangeError(`ring of ${n} slots is too large`);
  return 2 ** (31 - Math.clz32(n));
}

function checkPlace(buf: ArrayBufferLike, byteOffset: number, bytes: number): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
    throw new RangeError(`ring byteOffset must be a non-negative multiple of 4, got ${byteOffset}`);
  }
  if (byteOffset + bytes > buf.byteLength) {
    throw new RangeError(
      `ring at offset ${byteOffset} needs ${bytes} bytes but the buffer has ${buf.byteLength}`,
    );
  }
}

/** SHARED_RING_INIT (frontend only): req_prod=rsp_prod=0, req_event=rsp_event=1, pads zeroed. */
export function sharedRingInit(buf: ArrayBufferLike, byteOffset: number): void {
  checkPlace(buf, byteOffset, SRING_HEADER_BYTES);
  const hdr = new Uint32Array(buf, byteOffset, 4);
  hdr[REQ_PROD] = 0;
  hdr[RSP_PROD] = 0;
  hdr[REQ_EVENT] = 1;
  hdr[RSP_EVENT] = 1;
  new Uint8Array(buf, byteOffset + SRING_PVT, SRING_HEADER_BYTES - SRING_PVT).fill(0); // pvt + __pad
}

/** The 64-byte header and slot addressing of one ring page; views are made once, here. */
export class SharedRingView {
  readonly size: number;
  readonly mask: number;
  readonly entryBytes: number;
  readonly pageBytes: number;
  /** The whole ring page. */
  readonly u8: Uint8Array;
  /** The whole ring page; for slot codecs (never for the header words). */
  readonly dv: DataView;
  /** The four header words: req_prod, req_event, rsp_prod, rsp_event. */
  readonly hdr: Uint32Array;

  constructor(buf: ArrayBufferLike, byteOffset: number, entryBytes: number, pageBytes: number = XEN_PAGE_SIZE) {
    this.size = ringSize(entryBytes, pageBytes);
    checkPlace(buf, byteOffset, pageBytes);
    this.mask = this.size - 1;
    this.entryBytes = entryBytes;
    this.pageBytes = pageBytes;
    this.u8 = new Uint8Array(buf, byteOffset, pageBytes);
    this.dv = new DataView(buf, byteOffset, pageBytes);
    this.hdr = new Uint32Array(buf, byteOffset, 4);
  }

  get reqProd(): number {
    return this.hdr[REQ_PROD]!;
  }
  set reqProd(v: number) {
    this.hdr[REQ_PROD] = v;
  }
  get reqEvent(): number {
    return this.hdr[REQ_EVENT]!;
  }
  set reqEvent(v: number) {
    this.hdr[REQ_EVENT] = v;
  }
  get rspProd(): number {
    return this.hdr[RSP_PROD]!;
  }
  set rspProd(v: number) {
    this.hdr[RSP_PROD] = v;
  }
  get rspEvent(): number {
    return this.hdr[RSP_EVENT]!;
  }
  set rspEvent(v: number) {
    this.hdr[RSP_EVENT] = v;
  }

  /** Byte offset (within u8/dv) of slot idx & (size-1). */
  slotOffset(idx: number): number {
    return SRING_RING + (idx & this.mask) * this.entryBytes;
  }
}

/** Notify iff the peer's event index lies in (old, new] (ring.h's event-index rule). */
export function eventInWindow(oldProd: number, newProd: number, event: number): boolean {
  return ((newProd - event) >>> 0) < ((newProd - oldProd) >>> 0);
}

function copySlot(view: SharedRingView, idx: number, dst: Uint8Array, dstOff: number, len: number): void {
  if (len > view.entryBytes || len < 0 || dstOff < 0 || dstOff + len > dst.length) {
    throw new RangeError(
      `ring copy of ${len} bytes to offset ${dstOff} of a ${dst.length}-byte buffer (slot is ${view.entryBytes})`,
    );
  }
  const src = view.u8;
  const o = view.slotOffset(idx);
  for (let i = 0; i < len; i++) dst[dstOff + i] = src[o + i]!;
}

/** Backend end: consumes requests, produces responses (BACK_RING_INIT / BACK_RING_ATTACH). */
export class BackRing {
  readonly sring: SharedRingView;
  readonly size: number;
  private readonly hdr: Uint32Array;
  private cons: number;
  private prodPvt: number;

  /**
   * Default: BACK_RING_INIT at 0. `attach`: BACK_RING_ATTACH at the shared rsp_prod read now
   * (reconnect/restart; the caller should then reject the page if
   * requestProdOverflow(readReqProd()), as Linux does). `index`: attach at an explicit index.
   */
  constructor(view: SharedRingView, opts: { attach?: boolean; index?: number } = {}) {
    this.sring = view;
    this.size = view.size;
    this.hdr = view.hdr;
    const start = opts.index !== undefined ? opts.index >>> 0 : opts.attach === true ? Atomics.load(view.hdr, RSP_PROD) : 0;
    this.cons = start;
    this.prodPvt = start;
  }

  get reqCons(): number {
    return this.cons;
  }
  set reqCons(v: number) {
    this.cons = v >>> 0;
  }
  get rspProdPvt(): number {
    return this.prodPvt;
  }
  set rspProdPvt(v: number) {
    this.prodPvt = v >>> 0;
  }

  /** Snapshot req_prod ONCE (caller keeps the copy; never re-read for the same pass). */
  readReqProd(): number {
    return Atomics.load(this.hdr, REQ_PROD);
  }

  /** XEN_RING_NR_UNCONSUMED_REQUESTS for a snapshot of req_prod: never more than there are response slots for. */
  unconsumed(reqProd: number): number {
    const req = (reqProd - this.cons) >>> 0;
    const rsp = (this.size - ((this.cons - this.prodPvt) >>> 0)) >>> 0;
    return req < rsp ? req : rsp;
  }

  /** RING_REQUEST_PROD_OVERFLOW: (prod - rspProdPvt) > size, i.e. the frontend is ill-behaved. */
  requestProdOverflow(reqProd: number): boolean {
    return ((reqProd - this.prodPvt) >>> 0) > this.size;
  }

  /** RING_REQUEST_CONS_OVERFLOW: (cons - rspProdPvt) >= size, so stop consuming. */
  requestConsOverflow(cons: number): boolean {
    return ((cons - this.prodPvt) >>> 0) >= this.size;
  }

  /** RING_COPY_REQUEST: copy slot idx (entryBytes, or `len`) into dst; the only way request bytes leave shared memory. */
  copyRequest(idx: number, dst: Uint8Array, dstOff = 0, len: number = this.sring.entryBytes): void {
    copySlot(this.sring, idx, dst, dstOff, len);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish rspProdPvt, fence, return whether to notify. */
  pushResponses(): boolean {
    const hdr = this.hdr;
    const old = hdr[RSP_PROD]!;
    const now = this.prodPvt;
    if (WMB_NEEDS_FENCE) fence();
    hdr[RSP_PROD] = now;
    fence();
    return eventInWindow(old, now, Atomics.load(hdr, RSP_EVENT));
  }

  /** RING_PUSH_RESPONSES: publish rspProdPvt without the notify check. */
  publishResponses(): void {
    if (WMB_NEEDS_FENCE) fence();
    this.hdr[RSP_PROD] = this.prodPvt;
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: true if work is pending (after setting req_event and re-checking). */
  finalCheckForRequests(): boolean {
    if (this.unconsumed(Atomics.load(this.hdr, REQ_PROD)) !== 0) return true;
    this.hdr[REQ_EVENT] = this.cons + 1;
    fence();
    return this.unconsumed(Atomics.load(this.hdr, REQ_PROD)) !== 0;
  }

  /**
   * Write req_event = value, then a full barrier. The caller must re-read req_prod afterwards
   * (see requestsAvailable, which does the whole dance).
   */
  armReqEvent(value: number): void {
    this.hdr[REQ_EVENT] = value;
    fence();
  }

  /**
   * Are at least `needed` requests posted beyond reqCons? If not, arm req_event = req_prod + 1,
   * fence, and re-check until req_prod stops moving (Linux xenvif_rx_ring_slots_available; RX
   * readiness, xen-netif.md §2.4). Counts raw req_prod - req_cons: the caller still checks
   * requestProdOverflow on its snapshot. Bounded, so a frontend flipping req_prod cannot spin
   * us: an honest one only moves forward and gets there within `size` rounds.
   */
  requestsAvailable(needed: number): boolean {
    if (needed > this.size) throw new RangeError(`cannot wait for ${needed} slots on a ${this.size}-slot ring`);
    let prod = Atomics.load(this.hdr, REQ_PROD);
    for (let round = 0; round <= this.size; round++) {
      if (((prod - this.cons) >>> 0) >= needed) return true;
      this.armReqEvent(prod + 1);
      const again = Atomics.load(this.hdr, REQ_PROD);
      if (again === prod) return false;
      prod = again;
    }
    return false;
  }
}

/** Frontend end: produces requests, consumes responses (FRONT_RING_INIT / FRONT_RING_ATTACH). */
export class FrontRing {
  readonly sring: SharedRingView;
  readonly size: number;
  private readonly hdr: Uint32Array;
  private prodPvt: number;
  private cons: number;

  /** FRONT_RING_INIT (the caller ran sharedRingInit on a fresh page), or FRONT_RING_ATTACH at `index`. */
  constructor(view: SharedRingView, opts: { index?: number } = {}) {
    this.sring = view;
    this.size = view.size;
    this.hdr = view.hdr;
    const start = opts.index !== undefined ? opts.index >>> 0 : 0;
    this.prodPvt = start;
    this.cons = start;
  }

  get reqProdPvt(): number {
    return this.prodPvt;
  }
  set reqProdPvt(v: number) {
    this.prodPvt = v >>> 0;
  }
  get rspCons(): number {
    return this.cons;
  }
  set rspCons(v: number) {
    this.cons = v >>> 0;
  }

  /** RING_FREE_REQUESTS. */
  freeRequests(): number {
    return (this.size - ((this.prodPvt - this.cons) >>> 0)) >>> 0;
  }

  /** Snapshot rsp_prod once. */
  readRspProd(): number {
    return Atomics.load(this.hdr, RSP_PROD);
  }

  /** XEN_RING_NR_UNCONSUMED_RESPONSES for a snapshot of rsp_prod. */
  unconsumed(rspProd: number): number {
    return (rspProd - this.cons) >>> 0;
  }

  /** RING_RESPONSE_PROD_OVERFLOW: (prod - rspCons) > size, i.e. the backend is ill-behaved. */
  responseProdOverflow(rspProd: number): boolean {
    return ((rspProd - this.cons) >>> 0) > this.size;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY. */
  pushRequests(): boolean {
    const hdr = this.hdr;
    const old = hdr[REQ_PROD]!;
    const now = this.prodPvt;
    if (WMB_NEEDS_FENCE) fence();
    hdr[REQ_PROD] = now;
    fence();
    return eventInWindow(old, now, Atomics.load(hdr, REQ_EVENT));
  }

  /** RING_PUSH_REQUESTS: publish reqProdPvt without the notify check. */
  publishRequests(): void {
    if (WMB_NEEDS_FENCE) fence();
    this.hdr[REQ_PROD] = this.prodPvt;
  }

  /** RING_FINAL_CHECK_FOR_RESPONSES. */
  finalCheckForResponses(): boolean {
    if (this.unconsumed(Atomics.load(this.hdr, RSP_PROD)) !== 0) return true;
    this.hdr[RSP_EVENT] = this.cons + 1;
    fence();
    return this.unconsumed(Atomics.load(this.hdr, RSP_PROD)) !== 0;
  }

  /** RING_COPY_RESPONSE. */
  copyResponse(idx: number, dst: Uint8Array, dstOff = 0, len: number = this.sring.entryBytes): void {
    copySlot(this.sring, idx, dst, dstOff, len);
  }
}
