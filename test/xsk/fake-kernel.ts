// SPDX-License-Identifier: MIT
// fake-kernel.ts — the kernel's half of the four XSK rings, in plain memory, for tests without root.
//
// Each ring lives in its own ArrayBuffer laid out as the kernel lays it out (producer word,
// consumer word on the next cache line, flags word, then the entries at `desc`), so the real
// ring views (src/xsk/ring.ts) drive it unchanged. The fake kernel takes fill addresses, "receives"
// frames into them at XDP_PACKET_HEADROOM like copy mode does, takes TX descriptors on kick()
// and completes them (in order, or reversed to show the driver does not depend on order). It is
// a memory-backed device for the driver's tests (STYLE.md §11); the veth tests are the real one.
import type { XskRingMap } from '../../src/native/index.js';
import { XskCompletionRing, XskFillRing, XskRxRing, XskTxRing } from '../../src/xsk/ring.js';

export const XDP_HEADROOM = 256;
const TWO32 = 0x1_0000_0000;

/** A ring mapping shaped like the kernel's (offsets as Linux 6.x reports them). */
export function fakeRingMap(size: number, entryBytes: number): XskRingMap {
  const desc = 192;
  return { buffer: new ArrayBuffer(desc + size * entryBytes), size, producer: 0, consumer: 64, flags: 128, desc };
}

class KRing {
  readonly u32: Uint32Array;
  constructor(readonly map: XskRingMap) {
    this.u32 = new Uint32Array(map.buffer);
  }
  get prod(): number {
    return this.u32[this.map.producer >> 2]!;
  }
  set prod(v: number) {
    this.u32[this.map.producer >> 2] = v >>> 0;
  }
  get cons(): number {
    return this.u32[this.map.consumer >> 2]!;
  }
  set cons(v: number) {
    this.u32[this.map.consumer >> 2] = v >>> 0;
  }
  set needWakeup(on: boolean) {
    this.u32[this.map.flags >> 2] = on ? 1 : 0;
  }
  /** Word index of entry idx (entry size in words). */
  word(idx: number, words: number): number {
    return (this.map.desc >> 2) + ((idx & (this.map.size - 1)) * words);
  }
}

export class FakeKernel {
  readonly fillMap: XskRingMap;
  readonly compMap: XskRingMap;
  readonly rxMap: XskRingMap;
  readonly txMap: XskRingMap;
  private readonly fq: KRing;
  private readonly cq: KRing;
  private readonly rq: KRing;
  private readonly tq: KRing;
  /** Frames sent: [addr, len] pairs in the order the kernel took them. */
  readonly sent: Array<[number, number]> = [];
  /** Descriptors taken but not completed yet. */
  private uncompleted: number[] = [];
  kicks = 0;
  rxWakes = 0;
  /** Complete TX in reverse order of submission (within one kick). */
  reverseCompletions = false;
  /** Hold completions back until complete() is called. */
  holdCompletions = false;
  /** A stuck device: kick() takes nothing from the TX ring. */
  stalled = false;
  stats = new Float64Array(7);

  constructor(
    readonly umem: Uint8Array,
    sizes: { fill: number; completion: number; rx: number; tx: number },
  ) {
    this.fillMap = fakeRingMap(sizes.fill, 8);
    this.compMap = fakeRingMap(sizes.completion, 8);
    this.rxMap = fakeRingMap(sizes.rx, 16);
    this.txMap = fakeRingMap(sizes.tx, 16);
    this.fq = new KRing(this.fillMap);
    this.cq = new KRing(this.compMap);
    this.rq = new KRing(this.rxMap);
    this.tq = new KRing(this.txMap);
  }

  rings(): { fill: XskFillRing; completion: XskCompletionRing; rx: XskRxRing; tx: XskTxRing } {
    return {
      fill: new XskFillRing(this.fillMap),
      completion: new XskCompletionRing(this.compMap),
      rx: new XskRxRing(this.rxMap),
      tx: new XskTxRing(this.txMap),
    };
  }

  /** Entries user space has put on the fill ring and we have not taken. */
  get fillAvailable(): number {
    return (this.fq.prod - this.fq.cons) >>> 0;
  }

  set fillNeedsWakeup(on: boolean) {
    this.fq.needWakeup = on;
  }

  /** Receive `bytes` into the next fill buffer; false (and rx_fill_ring_empty) when there is none, or the RX ring is full. */
  receive(bytes: Uint8Array): boolean {
    if (this.fillAvailable === 0) {
      this.stats[4]!++;
      this.stats[0]!++;
      return false;
    }
    if (((this.rq.prod - this.rq.cons) >>> 0) >= this.rxMap.size) {
      this.stats[3]!++;
      return false;
    }
    const w = this.fq.word(this.fq.cons, 2);
    const chunk = this.fq.u32[w]! + this.fq.u32[w + 1]! * TWO32;
    this.fq.cons = this.fq.cons + 1;
    const addr = chunk + XDP_HEADROOM;
    this.umem.set(bytes, addr);
    const r = this.rq.word(this.rq.prod, 4);
    this.rq.u32[r] = addr >>> 0;
    this.rq.u32[r + 1] = Math.floor(addr / TWO32);
    this.rq.u32[r + 2] = bytes.length;
    this.rq.u32[r + 3] = 0;
    this.rq.prod = this.rq.prod + 1;
    return true;
  }

  /** What sendto does in copy mode: take every TX descriptor, then complete them (unless held). */
  kick(what: number): number {
    if (what & 2) this.rxWakes++;
    if (!(what & 1)) return 0;
    this.kicks++;
    if (this.stalled) return -11;
    const taken: number[] = [];
    while (this.tq.cons !== this.tq.prod) {
      if (((this.cq.prod - this.cq.cons) >>> 0) + this.uncompleted.length + taken.length >= this.compMap.size) return -11; // EAGAIN: CQ full
      const w = this.tq.word(this.tq.cons, 4);
      const addr = this.tq.u32[w]! + this.tq.u32[w + 1]! * TWO32;
      this.sent.push([addr, this.tq.u32[w + 2]!]);
      taken.push(addr);
      this.tq.cons = this.tq.cons + 1;
    }
    if (this.reverseCompletions) taken.reverse();
    this.uncompleted.push(...taken);
    if (!this.holdCompletions) this.complete();
    return 0;
  }

  /** Post every held completion. */
  complete(): void {
    for (const addr of this.uncompleted) {
      const w = this.cq.word(this.cq.prod, 2);
      this.cq.u32[w] = addr >>> 0;
      this.cq.u32[w + 1] = Math.floor(addr / TWO32);
      this.cq.prod = this.cq.prod + 1;
    }
    this.uncompleted = [];
  }

  /** Put a completion for an address nobody sent (a buggy kernel, for the driver's sanity check). */
  bogusCompletion(addr: number): void {
    const w = this.cq.word(this.cq.prod, 2);
    this.cq.u32[w] = addr >>> 0;
    this.cq.u32[w + 1] = 0;
    this.cq.prod = this.cq.prod + 1;
  }
}
