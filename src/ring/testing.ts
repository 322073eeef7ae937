// SPDX-License-Identifier: MIT
// testing.ts — a ring page in plain memory with both ends attached, and a seeded PRNG, for tests.
//
// Tests of anything that sits on a ring (netback's TX/RX paths, a modelled frontend) need both
// ends over one buffer, often at indices about to wrap 2^32; ringPairAt builds that the way the
// two real ends would (SHARED_RING_INIT, FRONT_RING_ATTACH, BACK_RING_ATTACH from the page), with
// a separate view per end. Not for production use: it owns its memory and no peer shares it.
import { BackRing, FrontRing, SharedRingView, sharedRingInit, XEN_PAGE_SIZE } from './sring.js';

export interface RingPair {
  buf: ArrayBuffer;
  byteOffset: number;
  front: FrontRing;
  back: BackRing;
}

/**
 * One ring page at `byteOffset` of a fresh buffer (default: the second page, so offsets are
 * exercised), initialised as SHARED_RING_INIT would but with every index moved to `start` (as if
 * `start` requests had already gone round). The buffer is filled with 0xa5 first, so nothing can
 * rely on zeroed memory.
 */
export function ringPairAt(entryBytes: number, start = 0, byteOffset = XEN_PAGE_SIZE): RingPair {
  const buf = new ArrayBuffer(byteOffset + 2 * XEN_PAGE_SIZE);
  new Uint8Array(buf).fill(0xa5);
  sharedRingInit(buf, byteOffset);
  const init = new SharedRingView(buf, byteOffset, entryBytes);
  init.reqProd = start;
  init.rspProd = start;
  init.reqEvent = start + 1;
  init.rspEvent = start + 1;
  const front = new FrontRing(new SharedRingView(buf, byteOffset, entryBytes), { index: start });
  const back = new BackRing(new SharedRingView(buf, byteOffset, entryBytes), { attach: true });
  return { buf, byteOffset, front, back };
}

/** mulberry32: a small seeded PRNG in [0, 1), so randomised tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
