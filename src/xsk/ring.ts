// SPDX-License-Identifier: MIT
// xsk/ring.ts — views over the four AF_XDP rings, driven with plain loads and stores.
//
// Each ring is a single-producer/single-consumer ring the kernel maps into this process
// (addon/xsk.cc hands it over as an ArrayBuffer): a producer word, a consumer word, a flags word
// (XDP_RING_NEED_WAKEUP) and 2^n entries — u64 UMEM addresses for fill/completion, 16-byte
// descriptors {addr u64, len u32, options u32} for RX/TX. We produce on fill and TX and consume
// on completion and RX. Indices are free-running uint32 (`(a - b) >>> 0`, slot `idx & mask`).
// The protocol is libxdp's xsk.h: the producer writes entries, then publishes its index with a
// store-release; the consumer reads the index with a load-acquire, reads entries, then publishes
// its own index. Peer-written words are read with Atomics.load (never torn, never cached by the
// compiler); our index is published with Atomics.store. On x86-64 (TSO) that is all the ordering
// needed; elsewhere fence() adds the barrier (src/native/barrier.ts).
// Batches: reserve(n)/put(i, …)/submit(k) and peek(n)/read(i)/release(k); no object per packet,
// no native call per packet. Addresses are JS numbers (exact below 2^53).
import { fence } from '../native/barrier.js';
import type { XskRingMap } from '../native/index.js';

const NEEDS_FENCE = process.arch !== 'x64' && process.arch !== 'ia32';
const TWO32 = 0x1_0000_0000;

abstract class XskRing {
  readonly size: number;
  readonly mask: number;
  /** The whole mapping as 32-bit words (zero-length once the socket is closed). */
  protected readonly u32: Uint32Array;
  protected readonly prodWord: number;
  protected readonly consWord: number;
  protected readonly flagsWord: number;
  /** Word index of entry 0. */
  protected readonly base: number;

  constructor(map: XskRingMap, entryBytes: number) {
    const { buffer, size, producer, consumer, flags, desc } = map;
    if (size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`XSK ring size ${size} is not a power of two`);
    for (const o of [producer, consumer, flags, desc]) {
      if (o % 4 !== 0) throw new RangeError(`XSK ring offset ${o} is not 4-byte aligned`);
    }
    if (desc % 8 !== 0 || desc + size * entryBytes > buffer.byteLength) {
      throw new RangeError(`XSK ring of ${size} x ${entryBytes} bytes at ${desc} does not fit its ${buffer.byteLength}-byte mapping`);
    }
    this.size = size;
    this.mask = size - 1;
    this.u32 = new Uint32Array(buffer);
    this.prodWord = producer >> 2;
    this.consWord = consumer >> 2;
    this.flagsWord = flags >> 2;
    this.base = desc >> 2;
  }

  /** The kernel asks to be woken (sendto/recvfrom) before it looks at this ring again. */
  get needsWakeup(): boolean {
    return (Atomics.load(this.u32, this.flagsWord) & 1) !== 0;
  }
  /** Shared producer and consumer words as they are now (for the counters page). */
  get producer(): number {
    return Atomics.load(this.u32, this.prodWord);
  }
  get consumer(): number {
    return Atomics.load(this.u32, this.consWord);
  }
}

/** Our side produces: fill and TX. */
abstract class XskProducerRing extends XskRing {
  /** Our producer index (published by submit). */
  protected prod: number;
  /** The kernel's consumer index as last read. */
  protected cons: number;

  constructor(map: XskRingMap, entryBytes: number) {
    super(map, entryBytes);
    this.prod = Atomics.load(this.u32, this.prodWord);
    this.cons = Atomics.load(this.u32, this.consWord);
  }

  /** Free slots; reads the kernel's consumer word only when the cached view has fewer than `want`. */
  free(want: number = this.size): number {
    let f = this.size - ((this.prod - this.cons) >>> 0);
    if (f < want) {
      this.cons = Atomics.load(this.u32, this.consWord);
      f = this.size - ((this.prod - this.cons) >>> 0);
    }
    return f;
  }

  /** How many of `n` entries fit now; write them with put(0..k-1), then submit(k). */
  reserve(n: number): number {
    const f = this.free(n);
    return n < f ? n : f;
  }

  /** Publish `n` entries written with put(0..n-1). */
  submit(n: number): void {
    if (n <= 0) return;
    if (NEEDS_FENCE) fence();
    this.prod = (this.prod + n) >>> 0;
    Atomics.store(this.u32, this.prodWord, this.prod);
  }

  /** Entries submitted that the kernel has not consumed yet. */
  get outstanding(): number {
    this.cons = Atomics.load(this.u32, this.consWord);
    return (this.prod - this.cons) >>> 0;
  }
}

/** Our side consumes: completion and RX. */
abstract class XskConsumerRing extends XskRing {
  /** Our consumer index (published by release). */
  protected cons: number;
  /** The kernel's producer index as last read. */
  protected prod: number;

  constructor(map: XskRingMap, entryBytes: number) {
    super(map, entryBytes);
    this.cons = Atomics.load(this.u32, this.consWord);
    this.prod = Atomics.load(this.u32, this.prodWord);
  }

  /** Entries ready, at most `max`; read them with the i = 0..k-1 accessors, then release(k). */
  peek(max: number): number {
    let avail = (this.prod - this.cons) >>> 0;
    if (avail < max) {
      this.prod = Atomics.load(this.u32, this.prodWord);
      if (NEEDS_FENCE) fence();
      avail = (this.prod - this.cons) >>> 0;
    }
    return avail < max ? avail : max;
  }

  /** Hand `n` entries back to the kernel. */
  release(n: number): void {
    if (n <= 0) return;
    if (NEEDS_FENCE) fence();
    this.cons = (this.cons + n) >>> 0;
    Atomics.store(this.u32, this.consWord, this.cons);
  }
}

/** Fill ring: UMEM addresses of free frames for the kernel to receive into. */
export class XskFillRing extends XskProducerRing {
  constructor(map: XskRingMap) {
    super(map, 8);
  }
  /** Entry i of the current reservation = `addr`. */
  put(i: number, addr: number): void {
    const w = this.base + ((((this.prod + i) >>> 0) & this.mask) << 1);
    this.u32[w] = addr >>> 0;
    this.u32[w + 1] = addr >= TWO32 ? Math.floor(addr / TWO32) : 0;
  }
}

/** TX ring: descriptors {addr, len, options} of frames to send. */
export class XskTxRing extends XskProducerRing {
  constructor(map: XskRingMap) {
    super(map, 16);
  }
  /** Entry i of the current reservation = send `len` bytes at UMEM address `addr`. */
  put(i: number, addr: number, len: number, options = 0): void {
    const w = this.base + ((((this.prod + i) >>> 0) & this.mask) << 2);
    const u = this.u32;
    u[w] = addr >>> 0;
    u[w + 1] = addr >= TWO32 ? Math.floor(addr / TWO32) : 0;
    u[w + 2] = len;
    u[w + 3] = options;
  }
}

/** Completion ring: UMEM addresses of frames the kernel has finished sending. */
export class XskCompletionRing extends XskConsumerRing {
  constructor(map: XskRingMap) {
    super(map, 8);
  }
  /** Address of ready entry i (0 ≤ i < peek()). */
  addr(i: number): number {
    const w = this.base + ((((this.cons + i) >>> 0) & this.mask) << 1);
    return this.u32[w]! + this.u32[w + 1]! * TWO32;
  }
}

/** RX ring: descriptors of received frames (addr includes the data offset within the chunk). */
export class XskRxRing extends XskConsumerRing {
  constructor(map: XskRingMap) {
    super(map, 16);
  }
  addr(i: number): number {
    const w = this.base + ((((this.cons + i) >>> 0) & this.mask) << 2);
    return this.u32[w]! + this.u32[w + 1]! * TWO32;
  }
  len(i: number): number {
    return this.u32[this.base + ((((this.cons + i) >>> 0) & this.mask) << 2) + 2]!;
  }
  options(i: number): number {
    return this.u32[this.base + ((((this.cons + i) >>> 0) & this.mask) << 2) + 3]!;
  }
}
