// SPDX-License-Identifier: MIT
// grants.ts — GrantAccess over /dev/xen/gntdev: ring pages by mapping, packet data by grant copy.
//
// map() is for the two ring pages only (read-write, kept while connected); packet data never
// goes through a live mapping: copyFrom/copyTo queue GNTTABOP_copy segments (copy.ts) and
// flush() issues ONE IOCTL_GNTDEV_GRANT_COPY for the batch, so the guest cannot change bytes
// after we checked them (no double fetch) and a bad grant costs one status, not a crash. The
// hypervisor checks each grant (permission, owner, read-only) — the checks ShmGrantAccess does
// by hand. One GntDev fd is shared by every domain (XenTransport owns it).
import type { NativeGntDev } from '../../native/index.js';
import { GNTST_general_error, GrantError, type GrantAccess, type MappedPage } from '../types.js';
import { CopyBatch } from './copy.js';

/** The slice of the native gntdev this class uses (a fake in tests). */
export type GntDevLike = Pick<NativeGntDev, 'map' | 'unmap' | 'copy'>;

export class XenGrantAccess implements GrantAccess {
  private readonly batch: CopyBatch;
  private readonly maps = new Set<ArrayBuffer>();
  private closed = false;
  private readonly exec: (segs: Uint8Array, count: number, buffers: ArrayBuffer[]) => number;

  constructor(
    private readonly dev: GntDevLike,
    readonly domid: number,
    capacity = 4096,
  ) {
    this.batch = new CopyBatch(domid, capacity);
    // A guest's bad grant is a status, never an exception: so is a device that went away
    // (transport closed under us), reported as the errno of the failed call.
    this.exec = (segs, count, buffers) => {
      try {
        return this.dev.copy(segs, count, buffers);
      } catch (e) {
        const errno = (e as NodeJS.ErrnoException).errno;
        return typeof errno === 'number' && errno !== 0 ? Math.abs(errno) : 5; // EIO
      }
    };
  }

  map(gref: number, writable: boolean): MappedPage {
    if (this.closed) throw new GrantError(GNTST_general_error, `grants of domain ${this.domid}: closed`);
    if (gref >>> 0 !== gref) throw new GrantError(-3, `domain ${this.domid}: bad grant reference ${gref}`);
    let buffer: ArrayBuffer;
    try {
      buffer = this.dev.map(this.domid, Uint32Array.of(gref), writable);
    } catch (e) {
      throw Object.assign(new GrantError(GNTST_general_error, `domain ${this.domid}: cannot map grant ${gref}: ${(e as Error).message}`), { cause: e });
    }
    this.maps.add(buffer);
    const unmap = (): void => {
      if (this.maps.delete(buffer)) this.dev.unmap(buffer);
    };
    return { buffer, byteOffset: 0, unmap };
  }

  copyFrom(gref: number, offset: number, len: number, dst: Uint8Array, dstOff: number): number {
    return this.batch.from(gref, offset, len, dst, dstOff);
  }

  copyTo(src: Uint8Array, srcOff: number, gref: number, offset: number, len: number): number {
    return this.batch.to(src, srcOff, gref, offset, len);
  }

  flush(): Int16Array {
    return this.batch.flush(this.exec);
  }

  /** errno of the last failed grant-copy ioctl, 0 if it succeeded. */
  get lastErrno(): number {
    return this.batch.lastErrno;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.maps) this.dev.unmap(b);
    this.maps.clear();
  }
}
