// SPDX-License-Identifier: MIT
// peer.ts — the sim NIC's "wire": a shared file with two frame rings, one end in the sim driver,
// the other in whoever owns the peer (a test, or `phoenix serve --uplink sim`).
//
//   page 0        header: magic "PHXW", slots per ring
//   out ring      Xen sring of 2048-byte slots {len u16, pad u16, bytes[2044]}: frames the NIC
//                 sent (driver = frontend producing, peer = backend consuming; the peer's empty
//                 response frees the slot)
//   in ring       the same, the other way: frames the peer puts on the wire for the NIC to receive
//
// Reusing the Xen ring keeps one set of index rules (event-index, final checks) in the project.
// Frames are copied into and out of slots; nothing is read twice. The peer side polls (the test
// decides when); the driver side is woken through the driver's own kick eventfd (onInject).
import { mapShared, type SharedRegion } from '../../src/native/index.js';
import { BackRing, FrontRing, ringSize, SharedRingView, sharedRingInit, SRING_HEADER_BYTES } from '../../src/ring/sring.js';

export const PEER_MAGIC = 0x57584850; // "PHXW"
export const WIRE_SLOT = 2048;
export const WIRE_MAX_FRAME = WIRE_SLOT - 4;
const PAGE = 4096;

function geometry(slots: number): { ringBytes: number; outOff: number; inOff: number; total: number } {
  if (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError(`sim peer: ${slots} slots: must be a power of two`);
  const ringBytes = Math.ceil((SRING_HEADER_BYTES + slots * WIRE_SLOT) / PAGE) * PAGE;
  return { ringBytes, outOff: PAGE, inOff: PAGE + ringBytes, total: PAGE + 2 * ringBytes };
}

function views(region: SharedRegion, slots: number): { out: SharedRingView; in: SharedRingView } {
  const g = geometry(slots);
  return {
    out: new SharedRingView(region.buffer, g.outOff, WIRE_SLOT, g.ringBytes),
    in: new SharedRingView(region.buffer, g.inOff, WIRE_SLOT, g.ringBytes),
  };
}

/** The test's end: drains what the NIC sent, injects what the NIC should receive. */
export class SimPeer {
  private readonly outRing: BackRing;
  private readonly inRing: FrontRing;
  /** Set by the owner: wake the driver (normally its supervisor's kick eventfd). */
  onInject: () => void = () => undefined;
  readonly stats = { received: 0, injected: 0, injectFull: 0 };

  private constructor(
    readonly region: SharedRegion,
    readonly slots: number,
  ) {
    const v = views(region, slots);
    this.outRing = new BackRing(v.out);
    this.inRing = new FrontRing(v.in);
  }

  static create(path: string, slots = 256): SimPeer {
    const g = geometry(slots);
    const region = mapShared(path, { create: true, size: g.total });
    new Uint8Array(region.buffer, 0, g.total).fill(0);
    sharedRingInit(region.buffer, g.outOff);
    sharedRingInit(region.buffer, g.inOff);
    const u32 = new Uint32Array(region.buffer, 0, 2);
    u32[1] = ringSize(WIRE_SLOT, g.ringBytes);
    Atomics.store(u32, 0, PEER_MAGIC);
    return new SimPeer(region, u32[1]!);
  }

  get path(): string {
    return this.region.path;
  }

  /** Free slots for inject(). */
  get injectSpace(): number {
    this.reapIn();
    return this.inRing.freeRequests();
  }

  /** Put one frame on the wire towards the NIC; false if the wire is full. Wakes the driver if it asked to be. */
  inject(buf: Uint8Array, off: number, len: number, push = true): boolean {
    if (len < 1 || len > WIRE_MAX_FRAME) throw new RangeError(`sim peer: frame of ${len} bytes`);
    this.reapIn();
    if (this.inRing.freeRequests() === 0) {
      this.stats.injectFull++;
      return false;
    }
    const v = this.inRing.sring;
    const o = v.slotOffset(this.inRing.reqProdPvt);
    v.dv.setUint16(o, len, true);
    v.u8.set(buf.subarray(off, off + len), o + 4);
    this.inRing.reqProdPvt = this.inRing.reqProdPvt + 1;
    this.stats.injected++;
    if (push) this.flush();
    return true;
  }

  /** Publish injected frames; wake the driver if its event index says so. */
  flush(): void {
    if (this.inRing.pushRequests()) this.onInject();
  }

  /** Hand every frame the NIC sent to cb (a view valid during the call); returns how many. */
  receive(cb: (buf: Uint8Array, off: number, len: number) => void): number {
    const r = this.outRing;
    const prod = r.readReqProd();
    if (r.requestProdOverflow(prod)) throw new Error('sim peer: the driver overran the out ring');
    const tmp = new Uint8Array(WIRE_SLOT);
    let n = 0;
    while (r.reqCons !== prod) {
      r.copyRequest(r.reqCons, tmp);
      r.reqCons = r.reqCons + 1;
      const len = tmp[0]! | (tmp[1]! << 8);
      r.rspProdPvt = r.rspProdPvt + 1; // empty response: the slot is free again
      n++;
      if (len >= 1 && len <= WIRE_MAX_FRAME) {
        this.stats.received++;
        cb(tmp, 4, len);
      }
    }
    if (n > 0) r.publishResponses();
    return n;
  }

  private reapIn(): void {
    const prod = this.inRing.readRspProd();
    if (this.inRing.responseProdOverflow(prod)) throw new Error('sim peer: the driver overran the in ring responses');
    this.inRing.rspCons = prod;
  }

  close(): void {
    this.region.close();
  }
}

/** The driver's end of the wire. */
export class SimWire {
  private readonly outRing: FrontRing;
  private readonly inRing: BackRing;

  private constructor(readonly region: SharedRegion) {
    const u32 = new Uint32Array(region.buffer, 0, 2);
    if (Atomics.load(u32, 0) !== PEER_MAGIC) throw new Error(`sim wire ${region.path}: bad magic`);
    const slots = u32[1]!;
    const g = geometry(slots);
    if (region.size < g.total) throw new Error(`sim wire ${region.path}: ${region.size} bytes, need ${g.total}`);
    const v = views(region, slots);
    this.outRing = new FrontRing(v.out);
    this.inRing = new BackRing(v.in);
  }

  static open(path: string): SimWire {
    return new SimWire(mapShared(path));
  }

  /** Send a frame on the wire; false if the peer has not drained (the device is busy). */
  send(src: Uint8Array, off: number, len: number): boolean {
    const r = this.outRing;
    const prod = r.readRspProd();
    if (!r.responseProdOverflow(prod)) r.rspCons = prod;
    if (r.freeRequests() === 0) return false;
    const v = r.sring;
    const o = v.slotOffset(r.reqProdPvt);
    v.dv.setUint16(o, len, true);
    v.u8.set(src.subarray(off, off + len), o + 4);
    r.reqProdPvt = r.reqProdPvt + 1;
    r.publishRequests();
    return true;
  }

  /** Length of the next frame on the wire, or -1. */
  peekLength(): number {
    const r = this.inRing;
    const prod = r.readReqProd();
    if (r.reqCons === prod || r.requestProdOverflow(prod)) return -1;
    return r.sring.dv.getUint16(r.sring.slotOffset(r.reqCons), true);
  }

  /** Copy the next frame (of `len`, from peekLength) into dst[off..] and free its slot. */
  take(dst: Uint8Array, off: number, len: number): void {
    const r = this.inRing;
    const v = r.sring;
    const o = v.slotOffset(r.reqCons) + 4;
    dst.set(v.u8.subarray(o, o + len), off);
    r.reqCons = r.reqCons + 1;
    r.rspProdPvt = r.rspProdPvt + 1;
    r.publishResponses();
  }

  /** Drop the next frame (too big for a pool frame). */
  skip(): void {
    const r = this.inRing;
    r.reqCons = r.reqCons + 1;
    r.rspProdPvt = r.rspProdPvt + 1;
    r.publishResponses();
  }

  /** Arm the in-ring event before sleeping; true if frames arrived meanwhile. */
  finalCheck(): boolean {
    return this.inRing.finalCheckForRequests();
  }

  close(): void {
    this.region.close();
  }
}
