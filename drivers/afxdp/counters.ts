// SPDX-License-Identifier: MIT
// drivers/afxdp/counters.ts — where the AF_XDP device's own counters live in the counters page.
//
// The channel's counters page (src/driver/channel.ts, K) holds 16 generic slots; the rest of the
// 4 KiB page is free. This driver publishes its device's progress in a block at slot 64: the
// four XSK rings' producer/consumer words (copied each loop pass — the kernel's side of every
// ring, so a watchdog sees the device move independently of the driver's own counters), the
// XDP_STATISTICS counters (read with getsockopt every statsMs) and the mode in use. All u32,
// free-running (64-bit kernel counters are published mod 2^32): compare differences.
// The block starts with a magic word so a reader knows it is there; readers map the page
// themselves (a driver is never imported by net_uk).

/** First slot (u32 index into the counters page) of the AF_XDP block. */
export const AFXDP_SLOT_BASE = 64;
/** 'AXDP', little-endian, in slot AFXDP_SLOT_BASE while the block is valid. */
export const AFXDP_MAGIC = 0x50445841;

/** Slot offsets from AFXDP_SLOT_BASE. */
export const X = {
  magic: 0,
  /** bit 0: zero-copy; bits 8..15: XDP mode (0 none, 1 native, 2 generic). */
  mode: 1,
  ifindex: 2,
  queue: 3,
  fillProd: 4,
  fillCons: 5,
  compProd: 6,
  compCons: 7,
  rxProd: 8,
  rxCons: 9,
  txProd: 10,
  txCons: 11,
  // XDP_STATISTICS (getsockopt), in the kernel's order
  rxDropped: 12,
  rxInvalidDescs: 13,
  txInvalidDescs: 14,
  rxRingFull: 15,
  rxFillRingEmptyDescs: 16,
  txRingEmptyDescs: 17,
  /** Frames the device dropped on transmit (sendto EBUSY; they are completed all the same). */
  txBusyDrops: 18,
  /** kick() calls that returned a transient error (EAGAIN, ENOBUFS, ENETDOWN). */
  kickErrors: 19,
  /** Times the statistics above were refreshed. */
  statsReads: 20,
  /** Received frames moved to the start of their pool frame (data came at XDP headroom). */
  rxMoved: 21,
  /** Completions or receptions naming a frame we never handed the kernel (should stay 0). */
  bogus: 22,
} as const;
export type AfxdpCounter = keyof typeof X;
export const AFXDP_SLOTS = 23;

export const XDP_MODE_CODE = { none: 0, native: 1, generic: 2 } as const;

/** The block as a typed view over a counters page (ArrayBuffer + byte offset of the page). */
export function afxdpView(buffer: ArrayBufferLike, countersOffset: number): Uint32Array {
  return new Uint32Array(buffer, countersOffset + AFXDP_SLOT_BASE * 4, AFXDP_SLOTS);
}

/** Read the block (Atomics: another process writes it); null if the driver has not published it. */
export function readAfxdpCounters(view: Uint32Array): Record<AfxdpCounter, number> | null {
  if (Atomics.load(view, X.magic) !== AFXDP_MAGIC) return null;
  const out = {} as Record<AfxdpCounter, number>;
  for (const k of Object.keys(X) as AfxdpCounter[]) out[k] = Atomics.load(view, X[k]);
  return out;
}
