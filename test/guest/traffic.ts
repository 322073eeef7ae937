// SPDX-License-Identifier: MIT
// traffic.ts — the test traffic format: sequence-numbered, checksummed frames, and their checker.
//
//   0  dst MAC, 6 src MAC, 12 ethertype 0x88b5 (IEEE local experimental)
//   14 magic "PHXT"   18 flow u32   22 seq u32   26 length u16 (whole frame)   28 FNV-1a 32 of [32, len)
//   32 payload: byte i = (seq * 131 + flow * 7 + i) & 0xff
// The checker verifies the magic, the length, the checksum and, per flow, that sequence numbers
// arrive exactly in order with none missing (any gap or repeat is counted, never hidden).
export const ETHERTYPE_TEST = 0x88b5;
export const TEST_MAGIC = 0x50485854;
export const HDR = 32;
export const MIN_FRAME = 60;
export const MAX_FRAME = 1514;

export function fnv1a(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** Write a test frame of `len` bytes at buf[off..]. */
export function buildFrame(buf: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array, flow: number, seq: number, len: number): void {
  buf.set(dst, off);
  buf.set(src, off + 6);
  const dv = new DataView(buf.buffer, buf.byteOffset + off, len);
  dv.setUint16(12, ETHERTYPE_TEST);
  dv.setUint32(14, TEST_MAGIC);
  dv.setUint32(18, flow);
  dv.setUint32(22, seq);
  dv.setUint16(26, len);
  const seed = (seq * 131 + flow * 7) & 0xff;
  for (let i = HDR; i < len; i++) buf[off + i] = (seed + i) & 0xff;
  dv.setUint32(28, fnv1a(buf, off + HDR, off + len));
}

/** Deterministic size sequence in [min, max] (a cheap LCG, same on both ends). */
export function sizeFor(seq: number, min: number, max: number): number {
  if (min === max) return min;
  const x = (Math.imul(seq, 2654435761) >>> 0) % (max - min + 1);
  return min + x;
}

export interface FlowStats {
  received: number;
  bytes: number;
  bad: number; // wrong magic/length/checksum
  gaps: number; // sequence numbers skipped (lost)
  reordered: number; // a sequence number lower than expected (duplicate or out of order)
  next: number; // next expected sequence number
}

export class TrafficChecker {
  readonly flows = new Map<number, FlowStats>();
  other = 0; // frames that are not test frames (ARP etc.)
  verifyPayload = true;

  private last: FlowStats | undefined;
  private lastFlow = -1;

  check(buf: Uint8Array, off: number, len: number): void {
    if (len < HDR || buf[off + 12] !== 0x88 || buf[off + 13] !== 0xb5) {
      this.other++;
      return;
    }
    const flow = be32(buf, off + 18);
    let f = flow === this.lastFlow ? this.last : this.flows.get(flow);
    if (f === undefined) this.flows.set(flow, (f = { received: 0, bytes: 0, bad: 0, gaps: 0, reordered: 0, next: 0 }));
    this.last = f;
    this.lastFlow = flow;
    if (be32(buf, off + 14) !== TEST_MAGIC || ((buf[off + 26]! << 8) | buf[off + 27]!) !== len || (this.verifyPayload && be32(buf, off + 28) !== fnv1a(buf, off + HDR, off + len))) {
      f.bad++;
      return;
    }
    const seq = be32(buf, off + 22);
    f.received++;
    f.bytes += len;
    if (seq === f.next) f.next++;
    else if (seq > f.next) {
      f.gaps += seq - f.next;
      f.next = seq + 1;
    } else f.reordered++;
  }

  total(): { received: number; bad: number; gaps: number; reordered: number; bytes: number } {
    let received = 0, bad = 0, gaps = 0, reordered = 0, bytes = 0;
    for (const f of this.flows.values()) {
      received += f.received;
      bad += f.bad;
      gaps += f.gaps;
      reordered += f.reordered;
      bytes += f.bytes;
    }
    return { received, bad, gaps, reordered, bytes };
  }
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * Fast path for benchmarks: a frame built once per size, of which only the sequence number
 * changes (the checksum is left as built, so the receiver must run with payload checks off).
 */
export function stampSeq(buf: Uint8Array, off: number, seq: number): void {
  buf[off + 22] = seq >>> 24;
  buf[off + 23] = (seq >>> 16) & 0xff;
  buf[off + 24] = (seq >>> 8) & 0xff;
  buf[off + 25] = seq & 0xff;
}
