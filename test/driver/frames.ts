// SPDX-License-Identifier: MIT
// frames.ts — IPv4 ICMP echo and UDP frames for driver tests that talk to a real kernel.
import { fold16, sum16 } from '../../src/netback/checksum.js';

export const mac = (s: string): Uint8Array => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
export const ip4 = (s: string): number[] => s.split('.').map(Number);

export interface L3 {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  src: string;
  dst: string;
}

function ipHeader(b: Uint8Array, o: number, a: L3, proto: number, l4len: number, id: number): void {
  b.set(a.dstMac, o);
  b.set(a.srcMac, o + 6);
  b[o + 12] = 0x08;
  b[o + 13] = 0x00;
  const ip = o + 14;
  const total = 20 + l4len;
  b.set([0x45, 0, total >> 8, total & 0xff, (id >> 8) & 0xff, id & 0xff, 0x40, 0, 64, proto, 0, 0, ...ip4(a.src), ...ip4(a.dst)], ip);
  const c = 0xffff - fold16(sum16(b, ip, 20));
  b[ip + 10] = c >> 8;
  b[ip + 11] = c & 0xff;
}

/** ICMP echo request with `payload` bytes (byte i = (seq + i) & 0xff); returns the frame length. */
export function icmpEcho(b: Uint8Array, o: number, a: L3, ident: number, seq: number, payload: number): number {
  const l4 = o + 34;
  const len = 8 + payload;
  ipHeader(b, o, a, 1, len, seq);
  b.set([8, 0, 0, 0, ident >> 8, ident & 0xff, (seq >> 8) & 0xff, seq & 0xff], l4);
  for (let i = 0; i < payload; i++) b[l4 + 8 + i] = (seq + i) & 0xff;
  const c = 0xffff - fold16(sum16(b, l4, len));
  b[l4 + 2] = c >> 8;
  b[l4 + 3] = c & 0xff;
  return 34 + len;
}

/** An echo reply to icmpEcho(ident, seq, payload), intact? Returns seq, or -1. */
export function echoReplySeq(b: Uint8Array, o: number, len: number, ident: number): number {
  if (len < 42 || b[o + 12] !== 0x08 || b[o + 13] !== 0 || b[o + 23] !== 1) return -1;
  const l4 = o + 14 + (b[o + 14]! & 15) * 4;
  if (b[l4] !== 0 || ((b[l4 + 4]! << 8) | b[l4 + 5]!) !== ident) return -1;
  const seq = (b[l4 + 6]! << 8) | b[l4 + 7]!;
  for (let i = l4 + 8; i < o + len; i++) if (b[i] !== ((seq + i - l4 - 8) & 0xff)) return -1;
  return seq;
}

/**
 * UDP datagram with `payload` bytes (byte i = (seq + i) & 0xff, seq in the first 4 bytes). csum:
 * 'full' computes the checksum; 'partial' leaves only the pseudo-header sum, as Linux netfront
 * does with NETTXF_csum_blank; 'wrong' writes a bad one. Returns the frame length.
 */
export function udp(b: Uint8Array, o: number, a: L3, sport: number, dport: number, seq: number, payload: number, csum: 'full' | 'partial' | 'wrong'): number {
  const l4 = o + 34;
  const len = 8 + payload;
  ipHeader(b, o, a, 17, len, seq);
  b.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, len >> 8, len & 0xff, 0, 0], l4);
  for (let i = 0; i < payload; i++) b[l4 + 8 + i] = (seq + i) & 0xff;
  if (payload >= 4) b.set([seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff], l4 + 8);
  const pseudo = sum16(b, o + 26, 8, 17 + len);
  if (csum === 'partial') {
    const p = fold16(pseudo);
    b[l4 + 6] = p >> 8;
    b[l4 + 7] = p & 0xff;
  } else {
    let c = 0xffff - fold16(sum16(b, l4, len, pseudo));
    if (c === 0) c = 0xffff;
    if (csum === 'wrong') c ^= 0x5a5a;
    b[l4 + 6] = c >> 8;
    b[l4 + 7] = c & 0xff;
  }
  return 34 + len;
}

/** The seq of a UDP datagram built by udp() to port `dport`, or -1. */
export function udpSeq(b: Uint8Array, o: number, len: number, dport: number): number {
  if (len < 46 || b[o + 12] !== 0x08 || b[o + 13] !== 0 || b[o + 23] !== 17) return -1;
  const l4 = o + 14 + (b[o + 14]! & 15) * 4;
  if (((b[l4 + 2]! << 8) | b[l4 + 3]!) !== dport) return -1;
  return ((b[l4 + 8]! << 24) | (b[l4 + 9]! << 16) | (b[l4 + 10]! << 8) | b[l4 + 11]!) >>> 0;
}
