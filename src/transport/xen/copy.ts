// SPDX-License-Identifier: MIT
// copy.ts — builds the GNTTABOP_copy segment array for one IOCTL_GNTDEV_GRANT_COPY per flush.
//
// A segment is struct gntdev_grant_copy_segment (linux uapi/xen/gntdev.h, 24 bytes): `source` @0
// and `dest` @8 are each either a user pointer or {u32 ref @0, u16 offset @4, u16 domid @6};
// u16 len @16, u16 flags @18 (GNTCOPY_source_gref 1, GNTCOPY_dest_gref 2), s16 status @20.
// TypeScript cannot know pointers, so the local side carries (bufferIndex << 40 | byteOffset)
// into `buffers`; addon/gntdev.cc bounds-checks it and swaps in the real address. Ops the kernel
// would reject for the whole batch (foreign offset + len past the 4 KiB page → EINVAL) are not
// sent: they get GNTST_bad_copy_arg here, so one bad request cannot fail its neighbours.
// Pure and Xen-free: test/transport/xen-copy.test.ts checks the bytes.
import { GNTST_bad_copy_arg, GNTST_general_error } from '../types.js';

export const SEG_BYTES = 24;
export const GNTCOPY_source_gref = 1;
export const GNTCOPY_dest_gref = 2;
export const XEN_PAGE = 4096;
export const LOCAL_SHIFT = 40;
const TWO32 = 2 ** 32;

/** Runs the batch: one ioctl over segs[0, count*24); writes statuses into the records; 0 or errno. */
export type CopyExec = (segs: Uint8Array, count: number, buffers: ArrayBuffer[]) => number;

export class CopyBatch {
  readonly segs: Uint8Array;
  private readonly dv: DataView;
  /** statuses[i] of op i (queue order), valid after flush(). */
  private readonly statuses: Int16Array;
  /** Segment index of op i, or -1 when the op was rejected before the ioctl. */
  private readonly segOf: Int32Array;
  private nOps = 0;
  private nSegs = 0;
  private readonly buffers: ArrayBuffer[] = [];
  private readonly bufIndex = new Map<ArrayBuffer, number>();
  /** errno of the last failed ioctl (0 if the last flush succeeded). */
  lastErrno = 0;

  constructor(
    readonly domid: number,
    readonly capacity = 4096,
  ) {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0x7fef) throw new RangeError(`CopyBatch: bad domid ${domid}`);
    this.segs = new Uint8Array(capacity * SEG_BYTES);
    this.dv = new DataView(this.segs.buffer);
    this.statuses = new Int16Array(capacity);
    this.segOf = new Int32Array(capacity);
  }

  get length(): number {
    return this.nOps;
  }
  get segments(): number {
    return this.nSegs;
  }

  /** Queue a copy from the granted page (gref, offset) into local[localOff..]. Returns the op index. */
  from(gref: number, offset: number, len: number, local: Uint8Array, localOff: number): number {
    return this.add(GNTCOPY_source_gref, gref, offset, len, local, localOff);
  }

  /** Queue a copy of local[localOff, +len) into the granted page (gref, offset). Returns the op index. */
  to(local: Uint8Array, localOff: number, gref: number, offset: number, len: number): number {
    return this.add(GNTCOPY_dest_gref, gref, offset, len, local, localOff);
  }

  private add(flags: number, gref: number, offset: number, len: number, local: Uint8Array, localOff: number): number {
    if (this.nOps >= this.capacity) throw new RangeError(`CopyBatch: more than ${this.capacity} ops queued without flush()`);
    if (!(local.buffer instanceof ArrayBuffer)) throw new TypeError('CopyBatch: the local side must be backed by an ArrayBuffer');
    const op = this.nOps++;
    const ok =
      gref >>> 0 === gref &&
      Number.isInteger(offset) && offset >= 0 &&
      Number.isInteger(len) && len >= 0 &&
      offset + len <= XEN_PAGE &&
      Number.isInteger(localOff) && localOff >= 0 && localOff + len <= local.byteLength;
    if (!ok) {
      this.segOf[op] = -1;
      this.statuses[op] = GNTST_bad_copy_arg;
      return op;
    }
    const s = this.nSegs++;
    this.segOf[op] = s;
    const base = s * SEG_BYTES;
    const foreignAt = flags === GNTCOPY_source_gref ? base : base + 8;
    const localAt = flags === GNTCOPY_source_gref ? base + 8 : base;
    const dv = this.dv;
    dv.setUint32(foreignAt, gref, true);
    dv.setUint16(foreignAt + 4, offset, true);
    dv.setUint16(foreignAt + 6, this.domid, true);
    const idx = this.bufferIndex(local.buffer);
    const off = local.byteOffset + localOff;
    dv.setUint32(localAt, off % TWO32, true);
    dv.setUint32(localAt + 4, idx * 2 ** (LOCAL_SHIFT - 32) + Math.floor(off / TWO32), true);
    dv.setUint16(base + 16, len, true);
    dv.setUint16(base + 18, flags, true);
    dv.setInt16(base + 20, GNTST_general_error, true); // stays if the ioctl fails before this one
    dv.setUint16(base + 22, 0, true);
    return op;
  }

  private bufferIndex(b: ArrayBuffer): number {
    let i = this.bufIndex.get(b);
    if (i === undefined) {
      i = this.buffers.length;
      if (i >= 1 << 16) throw new RangeError('CopyBatch: too many distinct local buffers');
      this.buffers.push(b);
      this.bufIndex.set(b, i);
    }
    return i;
  }

  /** Run the queued ops with one exec() call; statuses[i] is op i's GNTST_* code. Resets the batch. */
  flush(exec: CopyExec): Int16Array {
    const n = this.nOps;
    if (this.nSegs > 0) {
      this.lastErrno = exec(this.segs, this.nSegs, this.buffers);
    }
    for (let i = 0; i < n; i++) {
      const s = this.segOf[i]!;
      if (s >= 0) this.statuses[i] = this.dv.getInt16(s * SEG_BYTES + 20, true);
    }
    this.nOps = 0;
    this.nSegs = 0;
    this.buffers.length = 0;
    this.bufIndex.clear();
    return this.statuses.subarray(0, n);
  }
}

/** Decode one segment (for tests and debugging). */
export function decodeSegment(segs: Uint8Array, i: number): {
  flags: number;
  len: number;
  status: number;
  gref: number;
  offset: number;
  domid: number;
  bufferIndex: number;
  localOffset: number;
} {
  const dv = new DataView(segs.buffer, segs.byteOffset + i * SEG_BYTES, SEG_BYTES);
  const flags = dv.getUint16(18, true);
  const f = flags === GNTCOPY_source_gref ? 0 : 8;
  const l = flags === GNTCOPY_source_gref ? 8 : 0;
  const hi = dv.getUint32(l + 4, true);
  return {
    flags,
    len: dv.getUint16(16, true),
    status: dv.getInt16(20, true),
    gref: dv.getUint32(f, true),
    offset: dv.getUint16(f + 4, true),
    domid: dv.getUint16(f + 6, true),
    bufferIndex: Math.floor(hi / 2 ** (LOCAL_SHIFT - 32)),
    localOffset: (hi % 2 ** (LOCAL_SHIFT - 32)) * TWO32 + dv.getUint32(l, true),
  };
}
