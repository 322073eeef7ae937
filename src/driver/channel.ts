// SPDX-License-Identifier: MIT
// channel.ts — the driver channel: one shared file per driver instance, and both ends' views of it.
//
// This is the only module net_uk and a driver process share (DESIGN.md, "The driver channel";
// docs/driver-channel.md is the prose version of this file). net_uk creates the channel file
// fresh for every driver instance (createChannel) and is the *frontend* of both rings; the driver
// maps it (openChannel) and is the *backend*. The packet pool is a separate file that outlives
// drivers: frame i is bytes [i*frameBytes, (i+1)*frameBytes) of it. Frames are named by index.
//
//   page 0          header (net_uk writes it once, before the driver starts) + control words
//   TX ring         Xen sring, multi-page: net_uk → driver "send frame", driver → net_uk "sent"
//   RX ring         Xen sring, multi-page: net_uk → driver "free frame", driver → net_uk "received"
//   counters page   written only by the driver: pid, generation, heartbeat, req_cons, device
//
// Requests are copied out of the ring once and decoded from the copy (STYLE.md §9); the same
// for responses on the net_uk side: neither end trusts the other. All fields little-endian.
import { mapShared, type SharedRegion } from '../native/index.js';
import { BackRing, FrontRing, ringSize, SharedRingView, sharedRingInit, SRING_HEADER_BYTES, XEN_PAGE_SIZE } from '../ring/sring.js';

export const CHANNEL_MAGIC = 0x43584850; // "PHXC" little-endian
export const CHANNEL_VERSION = 1;
export const CHANNEL_PAGE = XEN_PAGE_SIZE;

// ---- header page (byte offsets; all u32) — written by net_uk before the driver is spawned
export const H_MAGIC = 0;
export const H_VERSION = 4;
export const H_GENERATION = 8; // driver instance number, bumped by net_uk per (re)start
export const H_N_FRAMES = 12; // frames in the pool file
export const H_FRAME_BYTES = 16; // bytes per frame (2048)
export const H_TX_SIZE = 20; // TX ring slots (power of two)
export const H_RX_SIZE = 24; // RX ring slots (power of two)
export const H_TX_OFFSET = 28; // byte offset of the TX sring header in this file
export const H_TX_BYTES = 32; // bytes of the TX sring (header + slots, page-rounded)
export const H_RX_OFFSET = 36;
export const H_RX_BYTES = 40;
export const H_COUNTERS_OFFSET = 44; // byte offset of the counters page
export const H_TOTAL_BYTES = 48; // size of the whole channel file
export const H_HEADER_BYTES = 52;
// Control words, in the header page, written by net_uk (or a test) at any time, read by the
// driver once per loop pass: fault-injection hooks for test drivers (drivers/sim). A real driver
// may ignore them; it must not write them.
export const H_CONTROL = 256; // u32 Control.*
export const H_CONTROL_ARG = 260; // u32 argument of the control op

/** Control ops (H_CONTROL). One-shot ops fire once each time the word changes to them. */
export const Control = {
  none: 0,
  /** Stop polling: no more progress, no heartbeat (the process stays alive). Clear to resume. */
  hang: 1,
  /** Work 100x slower: one request per pass, passes spaced out. */
  slow: 2,
  /** Die at once (SIGKILL to itself): a crash. */
  crash: 3,
  /** One-shot: the next TX response carries an id never sent (0xffff). */
  corruptTxId: 4,
  /** One-shot: the next RX response names a frame outside the pool. */
  corruptRxFrame: 5,
  /** The device stops: no TX completion, no RX, device counters freeze; the loop keeps running. */
  deviceStop: 6,
} as const;
export type ControlOp = (typeof Control)[keyof typeof Control];

// ---- ring entries (8-byte slots in both rings)
export const ENTRY_BYTES = 8;
// TX request {frame u32, len u16, id u16}; TX response {id u16, status i16} (+4 pad)
export const TXQ_FRAME = 0;
export const TXQ_LEN = 4;
export const TXQ_ID = 6;
export const TXP_ID = 0;
export const TXP_STATUS = 2;
// RX request {frame u32, id u16, pad u16}; RX response {frame u32, len u16, status i16}, written
// in the slot of the request it answers.
export const RXQ_FRAME = 0;
export const RXQ_ID = 4;
export const RXP_FRAME = 0;
export const RXP_LEN = 4;
export const RXP_STATUS = 6;
/** Response status: 0 ok; negative errors (netif.h's NETIF_RSP_* values). */
export const ST_OK = 0;
export const ST_ERROR = -1;
export const ST_DROPPED = -2;

// ---- counters page: u32 slots (free-running, wrap at 2^32; compare differences), driver-written
export const K = {
  pid: 0,
  generation: 1,
  /** Bumped every loop pass, and by a tick while the driver sleeps on its eventfd. */
  heartbeat: 2,
  /** DriverState.* */
  state: 3,
  /** The driver's req_cons of the TX and RX rings (its consumer progress). */
  txReqCons: 4,
  rxReqCons: 5,
  /** Device progress: frames the device finished sending / received into a frame / dropped. */
  devTxCompleted: 6,
  devRxReceived: 7,
  devRxDropped: 8,
  /** Frames handed to the device for sending, not yet completed, and RX frames the device holds. */
  devTxPending: 9,
  devRxPosted: 10,
  /** Requests the driver rejected (frame out of range, bad length): answered with ST_ERROR. */
  badRequests: 11,
  /** Times the driver went to sleep on its eventfd / was woken by it. */
  sleeps: 12,
  wakeups: 13,
  /** The last control word value the driver acted on (so a test can see a hook was taken). */
  controlSeen: 14,
  /** Loop passes that found work (vs heartbeat, which also counts idle passes). */
  busyPasses: 15,
} as const;
export type CounterName = keyof typeof K;
export const COUNTER_SLOTS = 16;

export const DriverState = { starting: 0, polling: 1, sleeping: 2, stopping: 3 } as const;

/** fds of the two eventfds in the driver process (child_process stdio slots 3 and 4). */
export const DRIVER_FD_KICK = 3; // net_uk → driver: requests posted
export const DRIVER_FD_NOTIFY = 4; // driver → net_uk: responses posted

export interface ChannelGeometry {
  txSize: number;
  rxSize: number;
  txOffset: number;
  txBytes: number;
  rxOffset: number;
  rxBytes: number;
  countersOffset: number;
  totalBytes: number;
}

const roundPage = (n: number): number => Math.ceil(n / CHANNEL_PAGE) * CHANNEL_PAGE;

/** Where everything lives for rings of (at least) txEntries/rxEntries slots (powers of two). */
export function channelGeometry(txEntries: number, rxEntries: number): ChannelGeometry {
  for (const [what, n] of [['TX', txEntries], ['RX', rxEntries]] as const) {
    if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0 || n > 32768) {
      throw new RangeError(`driver channel: ${what} ring of ${n} entries: must be a power of two in [1, 32768]`);
    }
  }
  const txBytes = roundPage(SRING_HEADER_BYTES + txEntries * ENTRY_BYTES);
  const rxBytes = roundPage(SRING_HEADER_BYTES + rxEntries * ENTRY_BYTES);
  const txOffset = CHANNEL_PAGE;
  const rxOffset = txOffset + txBytes;
  const countersOffset = rxOffset + rxBytes;
  return {
    // Page rounding may leave room for more slots than asked; ring.h sizes by the bytes.
    txSize: ringSize(ENTRY_BYTES, txBytes),
    rxSize: ringSize(ENTRY_BYTES, rxBytes),
    txOffset,
    txBytes,
    rxOffset,
    rxBytes,
    countersOffset,
    totalBytes: countersOffset + CHANNEL_PAGE,
  };
}

export interface ChannelParams {
  generation: number;
  nFrames: number;
  frameBytes?: number;
  /** Default 1024 (DESIGN: TX ≥ 1024). */
  txEntries?: number;
  /** Default 4096 (DESIGN: RX ≥ 4096). */
  rxEntries?: number;
}

abstract class ChannelBase {
  readonly u32: Uint32Array;
  readonly counters: Uint32Array;
  readonly txView: SharedRingView;
  readonly rxView: SharedRingView;
  readonly generation: number;
  readonly nFrames: number;
  readonly frameBytes: number;

  constructor(
    readonly region: SharedRegion,
    readonly geometry: ChannelGeometry,
  ) {
    const buf = region.buffer;
    this.u32 = new Uint32Array(buf, 0, CHANNEL_PAGE / 4);
    this.counters = new Uint32Array(buf, geometry.countersOffset, COUNTER_SLOTS);
    this.txView = new SharedRingView(buf, geometry.txOffset, ENTRY_BYTES, geometry.txBytes);
    this.rxView = new SharedRingView(buf, geometry.rxOffset, ENTRY_BYTES, geometry.rxBytes);
    this.generation = this.u32[H_GENERATION >> 2]!;
    this.nFrames = this.u32[H_N_FRAMES >> 2]!;
    this.frameBytes = this.u32[H_FRAME_BYTES >> 2]!;
  }

  get path(): string {
    return this.region.path;
  }

  /** A counters-page slot (Atomics: the driver writes them from another process). */
  counter(name: CounterName): number {
    return Atomics.load(this.counters, K[name]);
  }

  get control(): number {
    return Atomics.load(this.u32, H_CONTROL >> 2);
  }

  get controlArg(): number {
    return Atomics.load(this.u32, H_CONTROL_ARG >> 2);
  }

  close(): void {
    this.region.close();
  }
}

/** net_uk's end: frontend of both rings; reads the counters page; writes the control words. */
export class NetukChannel extends ChannelBase {
  readonly tx: FrontRing;
  readonly rx: FrontRing;
  private readonly scratch = new Uint8Array(ENTRY_BYTES);
  private readonly sdv = new DataView(this.scratch.buffer);

  constructor(region: SharedRegion, geometry: ChannelGeometry) {
    super(region, geometry);
    this.tx = new FrontRing(this.txView);
    this.rx = new FrontRing(this.rxView);
  }

  setControl(op: ControlOp, arg = 0): void {
    Atomics.store(this.u32, H_CONTROL_ARG >> 2, arg);
    Atomics.store(this.u32, H_CONTROL >> 2, op);
  }

  /** Write TX request {frame, len, id} at the private producer index (publish with tx.pushRequests()). */
  putTxRequest(frame: number, len: number, id: number): void {
    const v = this.txView;
    const o = v.slotOffset(this.tx.reqProdPvt);
    v.dv.setUint32(o + TXQ_FRAME, frame, true);
    v.dv.setUint16(o + TXQ_LEN, len, true);
    v.dv.setUint16(o + TXQ_ID, id, true);
    this.tx.reqProdPvt = this.tx.reqProdPvt + 1;
  }

  /** Write RX request {frame, id} at the private producer index (publish with rx.pushRequests()). */
  putRxRequest(frame: number, id: number): void {
    const v = this.rxView;
    const o = v.slotOffset(this.rx.reqProdPvt);
    v.dv.setUint32(o + RXQ_FRAME, frame, true);
    v.dv.setUint16(o + RXQ_ID, id, true);
    v.dv.setUint16(o + RXQ_ID + 2, 0, true);
    this.rx.reqProdPvt = this.rx.reqProdPvt + 1;
  }

  /** Copy TX response `idx` once; out = [id, status]. */
  getTxResponse(idx: number, out: Int32Array): void {
    this.tx.copyResponse(idx, this.scratch, 0, 4);
    out[0] = this.sdv.getUint16(TXP_ID, true);
    out[1] = this.sdv.getInt16(TXP_STATUS, true);
  }

  /** Copy RX response `idx` once; out = [frame, len, status]. */
  getRxResponse(idx: number, out: Int32Array): void {
    this.rx.copyResponse(idx, this.scratch, 0, 8);
    out[0] = this.sdv.getUint32(RXP_FRAME, true) | 0; // > 2^31 becomes negative: out of range either way
    out[1] = this.sdv.getUint16(RXP_LEN, true);
    out[2] = this.sdv.getInt16(RXP_STATUS, true);
  }

  /** All counters as an object (status, tests). */
  snapshot(): Record<CounterName, number> {
    const o = {} as Record<CounterName, number>;
    for (const k of Object.keys(K) as CounterName[]) o[k] = this.counter(k);
    return o;
  }
}

/** The driver's end: backend of both rings; writes the counters page; reads the control words. */
export class DriverChannel extends ChannelBase {
  readonly tx: BackRing;
  readonly rx: BackRing;
  private readonly scratch = new Uint8Array(ENTRY_BYTES);
  private readonly sdv = new DataView(this.scratch.buffer);

  constructor(region: SharedRegion, geometry: ChannelGeometry) {
    super(region, geometry);
    this.tx = new BackRing(this.txView);
    this.rx = new BackRing(this.rxView);
  }

  /** Copy TX request `idx` once; out = [frame, len, id]. */
  getTxRequest(idx: number, out: Int32Array): void {
    this.tx.copyRequest(idx, this.scratch);
    out[0] = this.sdv.getUint32(TXQ_FRAME, true) | 0;
    out[1] = this.sdv.getUint16(TXQ_LEN, true);
    out[2] = this.sdv.getUint16(TXQ_ID, true);
  }

  /** Copy RX request `idx` once; out = [frame, id]. */
  getRxRequest(idx: number, out: Int32Array): void {
    this.rx.copyRequest(idx, this.scratch);
    out[0] = this.sdv.getUint32(RXQ_FRAME, true) | 0;
    out[1] = this.sdv.getUint16(RXQ_ID, true);
  }

  /** Write TX response {id, status} at rspProdPvt (publish with tx.pushResponses()). */
  putTxResponse(id: number, status: number): void {
    const v = this.txView;
    const o = v.slotOffset(this.tx.rspProdPvt);
    v.dv.setUint16(o + TXP_ID, id, true);
    v.dv.setInt16(o + TXP_STATUS, status, true);
    this.tx.rspProdPvt = this.tx.rspProdPvt + 1;
  }

  /** Write RX response {frame, len, status} at rspProdPvt (the slot of the request it answers). */
  putRxResponse(frame: number, len: number, status: number): void {
    const v = this.rxView;
    const o = v.slotOffset(this.rx.rspProdPvt);
    v.dv.setUint32(o + RXP_FRAME, frame >>> 0, true);
    v.dv.setUint16(o + RXP_LEN, len, true);
    v.dv.setInt16(o + RXP_STATUS, status, true);
    this.rx.rspProdPvt = this.rx.rspProdPvt + 1;
  }

  set(name: CounterName, value: number): void {
    Atomics.store(this.counters, K[name], value >>> 0);
  }

  bump(name: CounterName, by = 1): void {
    Atomics.add(this.counters, K[name], by);
  }
}

/** net_uk: create a fresh channel file (any old file at `path` is overwritten). */
export function createChannel(path: string, p: ChannelParams): NetukChannel {
  const frameBytes = p.frameBytes ?? 2048;
  if (frameBytes % 2048 !== 0 && CHANNEL_PAGE % frameBytes !== 0) throw new RangeError(`driver channel: frame size ${frameBytes} must divide or be a multiple of the page`);
  if (!Number.isInteger(p.nFrames) || p.nFrames < 1) throw new RangeError(`driver channel: nFrames ${p.nFrames}`);
  const g = channelGeometry(p.txEntries ?? 1024, p.rxEntries ?? 4096);
  const region = mapShared(path, { create: true, size: g.totalBytes });
  new Uint8Array(region.buffer, 0, g.totalBytes).fill(0); // fresh state even over an old file
  const u32 = new Uint32Array(region.buffer, 0, H_HEADER_BYTES / 4);
  u32[H_VERSION >> 2] = CHANNEL_VERSION;
  u32[H_GENERATION >> 2] = p.generation >>> 0;
  u32[H_N_FRAMES >> 2] = p.nFrames;
  u32[H_FRAME_BYTES >> 2] = frameBytes;
  u32[H_TX_SIZE >> 2] = g.txSize;
  u32[H_RX_SIZE >> 2] = g.rxSize;
  u32[H_TX_OFFSET >> 2] = g.txOffset;
  u32[H_TX_BYTES >> 2] = g.txBytes;
  u32[H_RX_OFFSET >> 2] = g.rxOffset;
  u32[H_RX_BYTES >> 2] = g.rxBytes;
  u32[H_COUNTERS_OFFSET >> 2] = g.countersOffset;
  u32[H_TOTAL_BYTES >> 2] = g.totalBytes;
  sharedRingInit(region.buffer, g.txOffset);
  sharedRingInit(region.buffer, g.rxOffset);
  Atomics.store(u32, H_MAGIC >> 2, CHANNEL_MAGIC); // last: a complete header
  return new NetukChannel(region, g);
}

/** Driver: map and validate a channel file net_uk created. Throws with the reason on any mismatch. */
export function openChannel(path: string): DriverChannel {
  const region = mapShared(path);
  try {
    if (region.size < CHANNEL_PAGE) throw new Error(`${region.size} bytes is smaller than the header page`);
    const u32 = new Uint32Array(region.buffer, 0, H_HEADER_BYTES / 4);
    const at = (o: number): number => u32[o >> 2]!;
    if (Atomics.load(u32, H_MAGIC >> 2) !== CHANNEL_MAGIC) throw new Error(`bad magic 0x${at(H_MAGIC).toString(16)}`);
    if (at(H_VERSION) !== CHANNEL_VERSION) throw new Error(`version ${at(H_VERSION)}, this driver speaks ${CHANNEL_VERSION}`);
    const g = channelGeometry(at(H_TX_SIZE), at(H_RX_SIZE));
    const same = g.txOffset === at(H_TX_OFFSET) && g.txBytes === at(H_TX_BYTES) && g.rxOffset === at(H_RX_OFFSET) && g.rxBytes === at(H_RX_BYTES) && g.countersOffset === at(H_COUNTERS_OFFSET) && g.totalBytes === at(H_TOTAL_BYTES);
    if (!same || g.txSize !== at(H_TX_SIZE) || g.rxSize !== at(H_RX_SIZE)) throw new Error('ring geometry in the header does not match its sizes');
    if (region.size < g.totalBytes) throw new Error(`file is ${region.size} bytes, header says ${g.totalBytes}`);
    return new DriverChannel(region, g);
  } catch (e) {
    region.close();
    throw new Error(`driver channel ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Pool bytes a channel's frames live in (driver side: map the pool file named at spawn). */
export function mapPool(path: string, nFrames: number, frameBytes: number): SharedRegion {
  const region = mapShared(path);
  if (region.size < nFrames * frameBytes) {
    region.close();
    throw new Error(`packet pool ${path}: ${region.size} bytes cannot hold ${nFrames} frames of ${frameBytes}`);
  }
  return region;
}
