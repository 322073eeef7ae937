// SPDX-License-Identifier: MIT
// pool.ts — the packet pool: N fixed-size frames named by index, with a free stack and refcounts.
//
// Frames are named by index, never by pointer, so the same pool can be mapped by a driver
// process (DESIGN.md, the driver channel). Per-frame metadata (length, flags, refcount) are
// typed-array slots beside the data, so the hot path makes no objects. A frame delivered to
// several ports (flooding) is retained once per port and returns to the free stack when the last
// holder releases it. A release of a free frame is a bug and throws at once.
export const FRAME_BYTES = 2048;

/** Frame flags carried from TX to RX (checksum state as the sending guest declared it). */
export const FF_CSUM_BLANK = 1;
export const FF_DATA_VALIDATED = 2;

export class PacketPool {
  readonly frames: number;
  readonly frameBytes: number;
  readonly u8: Uint8Array;
  readonly len: Uint16Array;
  readonly flags: Uint8Array;
  private readonly refs: Uint16Array;
  private readonly freeStack: Uint32Array;
  private nFree: number;
  /** Frames wanted while the pool was empty (back-pressure, not drops). */
  exhausted = 0;
  private waiters: (() => void)[] = [];

  constructor(buffer: ArrayBuffer, frames: number, frameBytes = FRAME_BYTES) {
    if (buffer.byteLength < frames * frameBytes) throw new RangeError(`pool buffer of ${buffer.byteLength} bytes cannot hold ${frames} frames of ${frameBytes}`);
    this.frames = frames;
    this.frameBytes = frameBytes;
    this.u8 = new Uint8Array(buffer, 0, frames * frameBytes);
    this.len = new Uint16Array(frames);
    this.flags = new Uint8Array(frames);
    this.refs = new Uint16Array(frames);
    this.freeStack = new Uint32Array(frames);
    for (let i = 0; i < frames; i++) this.freeStack[i] = frames - 1 - i;
    this.nFree = frames;
  }

  get free(): number {
    return this.nFree;
  }

  /** Take a frame (refcount 1), or -1 when none is free. */
  alloc(): number {
    if (this.nFree === 0) {
      this.exhausted++;
      return -1;
    }
    const f = this.freeStack[--this.nFree]!;
    this.refs[f] = 1;
    this.len[f] = 0;
    this.flags[f] = 0;
    return f;
  }

  retain(f: number): void {
    this.refs[f]!++;
  }

  release(f: number): void {
    const r = this.refs[f]!;
    if (r === 0) throw new Error(`packet pool: frame ${f} released while free`);
    this.refs[f] = r - 1;
    if (r === 1) {
      this.freeStack[this.nFree++] = f;
      if (this.waiters.length > 0 && this.nFree >= 64) this.wake();
    }
  }

  offset(f: number): number {
    return f * this.frameBytes;
  }

  /** Run cb once when frames are free again (used to resume a ring paused on an empty pool). */
  whenFree(cb: () => void): void {
    this.waiters.push(cb);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const cb of w) queueMicrotask(cb);
  }
}
