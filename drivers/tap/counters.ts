// SPDX-License-Identifier: MIT
// drivers/tap/counters.ts — where the TAP device's own counters live in the counters page.
//
// Like drivers/afxdp/counters.ts: the channel's 16 generic slots (src/driver/channel.ts, K) come
// first; this driver publishes a block at slot 64 that starts with a magic word. Two kinds of
// counter: what the driver saw at the fd (every read and write, updated each pass), and the
// kernel's own statistics of the interface (`ip -s -j link show`, refreshed every statsMs, so
// frames the kernel dropped because we did not read fast enough are visible here and in
// K.devRxDropped). All u32, free-running (larger values published mod 2^32): compare differences.

/** First slot (u32 index into the counters page) of the TAP block. */
export const TAP_SLOT_BASE = 64;
/** 'TAPD', little-endian, in slot TAP_SLOT_BASE while the block is valid. */
export const TAP_MAGIC = 0x44504154;

/** Slot offsets from TAP_SLOT_BASE. */
export const T = {
  magic: 0,
  ifindex: 1,
  /** Frames written to the fd (channel TX → kernel) and their bytes. */
  written: 2,
  writtenBytes: 3,
  /** write() said EAGAIN: the request stays queued and is retried (never dropped for it). */
  writeAgain: 4,
  /** write() said EIO (link down) or another errno: answered ST_ERROR. */
  writeLinkDown: 5,
  writeErrors: 6,
  /** Frames read from the fd into pool frames (kernel → channel RX) and their bytes. */
  read: 7,
  readBytes: 8,
  /** Read frames of a size we cannot pass on (< 14 bytes, or filling the frame: maybe cut). */
  readBadLen: 9,
  readErrors: 10,
  /** The kernel's view of the interface (ip -s link): rx = frames we wrote, tx = frames for us. */
  kRxPackets: 11,
  kRxDropped: 12,
  kTxPackets: 13,
  /** Frames the kernel dropped on their way to us (its queue to our fd was full). */
  kTxDropped: 14,
  statsReads: 15,
  lastErrno: 16,
} as const;
export type TapCounter = keyof typeof T;
export const TAP_SLOTS = 17;

/** The block as a typed view over a counters page (ArrayBuffer + byte offset of the page). */
export function tapView(buffer: ArrayBufferLike, countersOffset: number): Uint32Array {
  return new Uint32Array(buffer, countersOffset + TAP_SLOT_BASE * 4, TAP_SLOTS);
}

/** Read the block (Atomics: another process writes it); null if the driver has not published it. */
export function readTapCounters(view: Uint32Array): Record<TapCounter, number> | null {
  if (Atomics.load(view, T.magic) !== TAP_MAGIC) return null;
  const out = {} as Record<TapCounter, number>;
  for (const k of Object.keys(T) as TapCounter[]) out[k] = Atomics.load(view, T[k]);
  return out;
}
