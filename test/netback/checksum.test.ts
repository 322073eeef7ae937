// SPDX-License-Identifier: MIT
// checksum.test.ts — software L4 checksum completion (src/netback/checksum.ts) against an
// independent RFC 1071 reference that builds the pseudo header as bytes.
import t from 'tap';
import { completeL4Checksum, fold16, sum16, verifyL4Checksum } from '../../src/netback/checksum.js';

function rfc1071(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const be16 = (v: number): number[] => [v >> 8, v & 0xff];

function eth(type: number, vlan = false): number[] {
  const h = [2, 0, 0, 0, 0, 1, 0, 0x16, 0x3e, 0x5a, 0, 1];
  if (vlan) h.push(0x81, 0x00, 0x00, 0x05);
  return [...h, ...be16(type)];
}

function ipv4(proto: number, l4: number[], opts: { frag?: number } = {}): number[] {
  const total = 20 + l4.length;
  const h = [0x45, 0, ...be16(total), 0, 1, ...be16(opts.frag ?? 0x4000), 64, proto, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1];
  const c = rfc1071(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return [...h, ...l4];
}

function ipv6(next: number, payload: number[]): number[] {
  const src = [0xfe, 0x80, ...new Array<number>(13).fill(0), 2];
  const dst = [0xfe, 0x80, ...new Array<number>(13).fill(0), 1];
  return [0x60, 0, 0, 0, ...be16(payload.length), next, 64, ...src, ...dst, ...payload];
}

function udp(data: number[]): number[] {
  return [...be16(40000), ...be16(5002), ...be16(8 + data.length), 0x12, 0x34, ...data]; // 0x1234: a guest's partial sum
}
function tcp(data: number[]): number[] {
  return [...be16(40000), ...be16(5002), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, ...be16(512), 0xab, 0xcd, 0, 0, ...data];
}

function expectV4(frame: number[], l4off: number, proto: number, field: number): number {
  const l4 = frame.slice(l4off);
  l4[field] = 0;
  l4[field + 1] = 0;
  const ip = frame.slice(l4off - 20, l4off);
  const pseudo = [...ip.slice(12, 20), 0, proto, ...be16(l4.length)];
  const c = rfc1071([...pseudo, ...l4]);
  return c === 0 && proto === 17 ? 0xffff : c;
}

const payload = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);

t.test('IPv4 UDP and TCP, odd and even lengths, with and without a VLAN tag', async (t) => {
  for (const vlan of [false, true]) {
    for (const n of [0, 1, 2, 333, 1400]) {
      for (const [proto, seg, field] of [
        [17, udp(payload(n)), 6],
        [6, tcp(payload(n)), 16],
      ] as const) {
        const f = [...eth(0x0800, vlan), ...ipv4(proto, seg)];
        const l4off = (vlan ? 18 : 14) + 20;
        const want = expectV4(f, l4off, proto, field);
        const buf = new Uint8Array([9, 9, ...f, 9]); // not at offset 0, trailing padding
        t.ok(completeL4Checksum(buf, 2, f.length), `proto ${proto} n=${n} vlan=${vlan}`);
        t.equal((buf[2 + l4off + field]! << 8) | buf[2 + l4off + field + 1]!, want);
        t.equal(verifyL4Checksum(buf, 2, f.length), true);
        t.equal(buf[0], 9);
        t.equal(buf[buf.length - 1], 9, 'nothing outside the frame is touched');
      }
    }
  }
});

t.test('Ethernet padding after the IP datagram is not summed', async (t) => {
  const f = [...eth(0x0800), ...ipv4(17, udp([1, 2, 3]))];
  const want = expectV4(f, 34, 17, 6);
  const padded = new Uint8Array([...f, ...new Array<number>(60 - f.length).fill(0xee)]);
  t.ok(completeL4Checksum(padded, 0, padded.length));
  t.equal((padded[40]! << 8) | padded[41]!, want);
});

t.test('IPv6 UDP and TCP, also behind a destination-options header', async (t) => {
  const data = payload(101);
  const plain = [...eth(0x86dd), ...ipv6(17, udp(data))];
  const b1 = new Uint8Array(plain);
  t.ok(completeL4Checksum(b1, 0, b1.length));
  t.equal(verifyL4Checksum(b1, 0, b1.length), true);
  // independent reference
  const l4 = udp(data);
  l4[6] = 0;
  l4[7] = 0;
  const pseudo = [...plain.slice(22, 54), 0, 0, ...be16(l4.length), 0, 0, 0, 17];
  t.equal((b1[60]! << 8) | b1[61]!, rfc1071([...pseudo, ...l4]));
  const opts = [6, 0, 1, 4, 0, 0, 0, 0]; // next = TCP, 8 bytes, PadN
  const withExt = new Uint8Array([...eth(0x86dd), ...ipv6(60, [...opts, ...tcp(data)])]);
  t.ok(completeL4Checksum(withExt, 0, withExt.length));
  t.equal(verifyL4Checksum(withExt, 0, withExt.length), true);
});

t.test('frames we cannot complete are left untouched', async (t) => {
  const cases: [string, number[]][] = [
    ['short', [1, 2, 3]],
    ['ARP', [...eth(0x0806), ...new Array<number>(28).fill(1)]],
    ['ICMP', [...eth(0x0800), ...ipv4(1, [8, 0, 0, 0, 0, 1, 0, 1])]],
    ['IPv4 fragment', [...eth(0x0800), ...ipv4(17, udp([1, 2]), { frag: 0x2000 })]],
    ['truncated IPv4', [...eth(0x0800), ...ipv4(17, udp([1, 2])).slice(0, 28)]],
    ['truncated UDP header', [...eth(0x0800), ...ipv4(17, [1, 2, 3])]],
    ['truncated TCP header', [...eth(0x0800), ...ipv4(6, [1, 2, 3, 4, 5, 6, 7, 8])]],
    ['IPv6 payload past the frame', [...eth(0x86dd), ...ipv6(17, udp([1])).slice(0, 45)]],
    ['IPv6 bad ext header', [...eth(0x86dd), ...ipv6(60, [17, 200, 0, 0])]],
    ['bad IP version', [...eth(0x0800), 0x65, ...new Array<number>(40).fill(0)]],
    ['vlan cut short', [...eth(0x8100).slice(0, 14), 0, 1]],
  ];
  for (const [what, f] of cases) {
    const b = new Uint8Array(f);
    t.equal(completeL4Checksum(b, 0, b.length), false, what);
    t.same([...b], f, `${what}: untouched`);
  }
  t.equal(verifyL4Checksum(new Uint8Array(cases[1]![1]), 0, cases[1]![1].length), undefined);
});

t.test('sum16/fold16', async (t) => {
  t.equal(fold16(sum16(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0, 4)), 0xffff);
  t.equal(sum16(new Uint8Array([1, 2, 3]), 0, 3), 0x0102 + 0x0300, 'odd tail is padded with zero');
  t.equal(fold16(0x1_0000_0001), 2);
});
