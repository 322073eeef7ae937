// SPDX-License-Identifier: MIT
// types.ts — what a netback needs from a transport: grants, event channels, xenstore.
//
// Two transports implement it: `shm` (shared-memory files, eventfds and our own xenstored, for
// machines without Xen) and `xen` (gntdev, evtchn, a real xenstored). VifBackend only sees this
// interface, so it runs unchanged on either.
//
// Grant copies are batched the way GNTTABOP_copy is: queue ops with copyFrom/copyTo, then
// flush() performs them and returns one GNTST_* status per op, in queue order. A transport may
// perform ops eagerly (shm does); callers must still read statuses only after flush().
import type { XenstoreClient } from './xenstore/client.js';

export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -3;
export const GNTST_bad_virt_addr = -5;
export const GNTST_permission_denied = -8;
export const GNTST_bad_copy_arg = -10;

/** grant_entry_v1 flags (xen/include/public/grant_table.h). */
export const GTF_permit_access = 1;
export const GTF_readonly = 1 << 2;

export interface MappedPage {
  /** The 4 KiB page is buffer[byteOffset, byteOffset + 4096). */
  readonly buffer: ArrayBuffer;
  readonly byteOffset: number;
  unmap(): void;
}

export interface GrantAccess {
  readonly domid: number;
  /** Map one page the domain granted us. Throws an Error with code 'EGRANT' and the GNTST status on refusal. */
  map(gref: number, writable: boolean): MappedPage;
  /** Queue a copy of `len` bytes from granted page (gref, offset) into dst[dstOff..]. Returns the op index. */
  copyFrom(gref: number, offset: number, len: number, dst: Uint8Array, dstOff: number): number;
  /** Queue a copy of src[srcOff, srcOff+len) into granted page (gref, offset). Returns the op index. */
  copyTo(src: Uint8Array, srcOff: number, gref: number, offset: number, len: number): number;
  /** Perform queued ops; statuses[i] is op i's GNTST_* code. Valid until the next copy is queued. */
  flush(): Int16Array;
  close(): void;
}

export interface EventChannel {
  readonly localPort: number;
  /** Send an event to the other end. */
  notify(): void;
  /** Called on the event loop when the other end notified us (coalesced). */
  setHandler(cb: () => void): void;
  close(): void;
}

export interface Transport {
  readonly kind: 'shm' | 'xen';
  /** Our own domain id (0 for dom0). */
  readonly selfDomid: number;
  readonly xenstore: XenstoreClient;
  /** Grant access to the pages of a frontend domain. */
  openGrants(domid: number): Promise<GrantAccess>;
  /** Bind to an unbound port the frontend allocated for us. */
  bindInterdomain(domid: number, remotePort: number): Promise<EventChannel>;
  /** Learn at once when a frontend domain goes away (its process exits, or the domain is destroyed). */
  watchDomainExit(domid: number, cb: () => void): Promise<{ close(): void }>;
  close(): Promise<void>;
}

export class GrantError extends Error {
  readonly code = 'EGRANT';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
