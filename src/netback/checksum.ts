// SPDX-License-Identifier: MIT
// checksum.ts — software completion of TCP/UDP checksums a guest left blank (NETTXF_csum_blank).
//
// Linux netfront offloads the L4 checksum of every IPv4/IPv6 TCP and UDP frame it sends: it sets
// NETTXF_csum_blank and leaves only a partial (pseudo-header) sum in the checksum field. Another
// vif can take such a frame as is (we pass NETRXF_csum_blank|data_validated on), but a TAP port
// or a NIC without offload needs the real checksum, so we compute it — as Linux netback's
// skb_checksum_setup(recalculate) does — from scratch: the guest's partial value is not trusted,
// the field is zeroed and the full sum (pseudo header + L4 header + payload) written back.
// Frames we cannot complete (not IP, not TCP/UDP, IPv4 fragments, truncated headers, lengths
// that disagree with the frame) are reported as false and left untouched; the caller counts them.
// Pure function over a byte range: unit-tested in test/netback/checksum.test.ts.

const ETH_P_IPV4 = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** One's-complement sum of buf[off, off+len) as big-endian 16-bit words, added to `sum` (not folded). */
export function sum16(buf: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) s += buf[i]! << 8;
  return s;
}

/** Fold a 32-bit-or-more sum to 16 bits (end-around carry). */
export function fold16(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** Where the L4 segment of an Ethernet frame starts, and its pseudo-header sum; undefined if not completable. */
function locateL4(buf: Uint8Array, off: number, len: number): { l4: number; l4len: number; proto: number; pseudo: number } | undefined {
  if (len < 14) return undefined;
  let p = off + 12;
  let type = (buf[p]! << 8) | buf[p + 1]!;
  p += 2;
  for (let tags = 0; (type === ETH_P_8021Q || type === ETH_P_8021AD) && tags < 2; tags++) {
    if (p + 4 > off + len) return undefined;
    type = (buf[p + 2]! << 8) | buf[p + 3]!;
    p += 4;
  }
  const end = off + len;
  if (type === ETH_P_IPV4) {
    if (p + 20 > end || buf[p]! >> 4 !== 4) return undefined;
    const ihl = (buf[p]! & 0x0f) * 4;
    const total = (buf[p + 2]! << 8) | buf[p + 3]!;
    const frag = ((buf[p + 6]! << 8) | buf[p + 7]!) & 0x3fff; // MF + fragment offset
    if (ihl < 20 || total < ihl || p + total > end || frag !== 0) return undefined;
    const proto = buf[p + 9]!;
    const l4len = total - ihl;
    const pseudo = sum16(buf, p + 12, 8) + proto + l4len;
    return { l4: p + ihl, l4len, proto, pseudo };
  }
  if (type === ETH_P_IPV6) {
    if (p + 40 > end || buf[p]! >> 4 !== 6) return undefined;
    const payload = (buf[p + 4]! << 8) | buf[p + 5]!;
    if (p + 40 + payload > end) return undefined;
    let next = buf[p + 6]!;
    let q = p + 40;
    // Hop-by-hop (0), routing (43), destination options (60): skip; anything else ends the chain.
    for (let hops = 0; (next === 0 || next === 43 || next === 60) && hops < 8; hops++) {
      if (q + 8 > p + 40 + payload) return undefined;
      const hlen = (buf[q + 1]! + 1) * 8;
      next = buf[q]!;
      q += hlen;
    }
    const l4len = p + 40 + payload - q;
    if (l4len < 0) return undefined;
    // Pseudo header: source + destination (32 bytes), upper-layer length (32-bit), next header.
    const pseudo = sum16(buf, p + 8, 32) + Math.floor(l4len / 0x10000) + (l4len & 0xffff) + next;
    return { l4: q, l4len, proto: next, pseudo };
  }
  return undefined;
}

/**
 * Complete the TCP or UDP checksum of the Ethernet frame buf[off, off+len) in place.
 * Returns false (frame untouched) if the frame is not one we can complete.
 */
export function completeL4Checksum(buf: Uint8Array, off: number, len: number): boolean {
  const at = locateL4(buf, off, len);
  if (at === undefined) return false;
  let field: number;
  if (at.proto === IPPROTO_TCP) {
    if (at.l4len < 20) return false;
    field = at.l4 + 16;
  } else if (at.proto === IPPROTO_UDP) {
    if (at.l4len < 8) return false;
    field = at.l4 + 6;
  } else return false;
  buf[field] = 0;
  buf[field + 1] = 0;
  let c = 0xffff - fold16(sum16(buf, at.l4, at.l4len, at.pseudo));
  if (c === 0 && at.proto === IPPROTO_UDP) c = 0xffff; // UDP: 0 means "no checksum"
  buf[field] = c >> 8;
  buf[field + 1] = c & 0xff;
  return true;
}

/** Check the TCP/UDP checksum of a frame (true if valid); undefined when the frame is not TCP/UDP over IP. */
export function verifyL4Checksum(buf: Uint8Array, off: number, len: number): boolean | undefined {
  const at = locateL4(buf, off, len);
  if (at === undefined || (at.proto !== IPPROTO_TCP && at.proto !== IPPROTO_UDP)) return undefined;
  return fold16(sum16(buf, at.l4, at.l4len, at.pseudo)) === 0xffff;
}
