// SPDX-License-Identifier: MIT
// barrier.ts — a full memory barrier usable from JavaScript on shared (mapped) memory.
//
// Ring protocols need a full barrier between "publish my index" and "read the peer's event
// field" (ring.h's RING_PUSH_*_AND_CHECK_NOTIFY and the final check). Mapped memory reaches JS as
// a plain (non-shared) ArrayBuffer; Atomics.load/store work on it (the ring reads peer-written
// indices with Atomics.load so they are never torn), but the fence must order *all* memory: an
// Atomics read-modify-write on a SharedArrayBuffer is a locked instruction on x86-64 (a full
// fence) and V8 treats it as a side effect no load or store may be moved across. That is what
// fence() issues, on a private one-word SharedArrayBuffer.
// Plain stores are not reordered with other stores on x86-64 (TSO), so a write barrier between
// "write entries" and "publish index" needs only that the compiler keep program order, which V8
// does for typed-array stores.
const cell = new Int32Array(new SharedArrayBuffer(4));

/** Full memory barrier (store→load ordering included) and compiler barrier. */
export function fence(): void {
  Atomics.add(cell, 0, 0);
}
