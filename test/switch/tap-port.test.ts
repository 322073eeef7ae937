// SPDX-License-Identifier: MIT
// tap-port.test.ts — TapPort (src/switch/tap-port.ts): the switch side with a fake TAP, and, when
// PHOENIX_TEST_TAP=1 (root, /dev/net/tun, iproute2), against a real TAP: the host's stack answers
// a ping and accepts a UDP datagram whose checksum the "guest" left blank (FF_CSUM_BLANK) — so the
// software completion is right, or the kernel would drop it.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import t from 'tap';
import { openTap } from '../../src/native/index.js';
import { FF_CSUM_BLANK, PacketPool } from '../../src/netback/pool.js';
import type { Port } from '../../src/netback/service.js';
import { TapPort, type TapHost, type TapLike } from '../../src/switch/tap-port.js';
import { verifyL4Checksum } from '../../src/netback/checksum.js';

class Host implements TapHost {
  readonly pool = new PacketPool(new ArrayBuffer(16 * 2048), 16);
  ports: Port[] = [];
  got: Uint8Array[] = [];
  flushes = 0;
  attachPort(p: Port): void {
    p.port = 7;
    this.ports.push(p);
  }
  detachPort(p: Port): void {
    this.ports = this.ports.filter((x) => x !== p);
  }
  ingress(_from: Port, frame: number): number {
    this.got.push(this.pool.u8.slice(this.pool.offset(frame), this.pool.offset(frame) + this.pool.len[frame]!));
    this.pool.release(frame);
    return this.got.length % 2; // every other frame has "no destination"
  }
  flush(): void {
    this.flushes++;
  }
  put(bytes: number[], flags = 0): number {
    const f = this.pool.alloc();
    this.pool.u8.set(bytes, this.pool.offset(f));
    this.pool.len[f] = bytes.length;
    this.pool.flags[f] = flags;
    return f;
  }
}

class FakeTap implements TapLike {
  name = 'faketap';
  queue: number[][] = [];
  written: number[][] = [];
  writeErr = 0;
  cb: (() => void) | null = null;
  closed = false;
  read(buf: Uint8Array, off: number, max: number): number {
    const f = this.queue.shift();
    if (f === undefined) return -11;
    if (f.length === 0) return -5; // EIO
    buf.set(f.slice(0, max), off);
    return Math.min(f.length, max);
  }
  write(buf: Uint8Array, off: number, len: number): number {
    if (this.writeErr !== 0) return this.writeErr;
    this.written.push([...buf.subarray(off, off + len)]);
    return 0;
  }
  watch(cb: () => void): void {
    this.cb = cb;
  }
  unwatch(): void {
    this.cb = null;
  }
  close(): void {
    this.closed = true;
  }
}

const be16 = (v: number): number[] => [v >> 8, v & 0xff];
function udpFrame(dstMac: number[], srcMac: number[], src: number[], dst: number[], dport: number, data: number[]): number[] {
  const udpLen = 8 + data.length;
  const ip = [0x45, 0, ...be16(20 + udpLen), 0, 1, 0x40, 0, 64, 17, 0, 0, ...src, ...dst];
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (ip[i]! << 8) | ip[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  ip[10] = (~s >> 8) & 0xff;
  ip[11] = ~s & 0xff;
  return [...dstMac, ...srcMac, 0x08, 0x00, ...ip, ...be16(40000), ...be16(dport), ...be16(udpLen), 0xde, 0xad, ...data];
}

t.test('switch -> TAP: checksum completion, drops counted, frames released', async (t) => {
  const host = new Host();
  const tap = new FakeTap();
  const p = new TapPort(host, tap);
  t.equal(p.port, 7);
  t.equal(p.name, 'faketap');
  const free0 = host.pool.free;
  const f = udpFrame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], [10, 0, 0, 2], [10, 0, 0, 1], 9, [1, 2, 3]);
  t.ok(p.deliver(host.put(f, FF_CSUM_BLANK)));
  const w = new Uint8Array(tap.written[0]!);
  t.equal(verifyL4Checksum(w, 0, w.length), true, 'the blank checksum was completed');
  t.ok(p.deliver(host.put([...new Array<number>(12).fill(1), 0x08, 0x06, 0, 0], FF_CSUM_BLANK)), 'ARP with the flag: sent as is');
  t.equal(p.counters.txCsumCompleted, 1);
  t.equal(p.counters.txCsumUnsupported, 1);
  tap.writeErr = 11;
  t.notOk(p.deliver(host.put(f)), 'EAGAIN: dropped');
  t.equal(p.counters.txDropped, 1);
  t.equal(p.counters.lastErrno, 11);
  t.equal(host.pool.free, free0, 'every frame went back to the pool');
  p.flush();
  p.close();
  p.close();
  t.ok(tap.closed);
  t.same(host.ports, []);
  t.notOk(p.deliver(host.put(f)), 'closed: dropped');
  t.equal(host.pool.free, free0);
});

t.test('TAP -> switch: a budget per turn, bad lengths, an empty pool', async (t) => {
  const host = new Host();
  const tap = new FakeTap();
  const p = new TapPort(host, tap, 3);
  const frame = [...new Array<number>(60).fill(7)];
  tap.queue.push(frame, [1, 2, 3], new Array<number>(2048).fill(1), frame, frame, frame);
  tap.cb!();
  t.equal(host.got.length, 1, 'short and oversize frames are dropped');
  t.equal(p.counters.rxBadLen, 2);
  t.equal(tap.queue.length, 3, 'at most `budget` reads per turn');
  tap.cb!();
  t.equal(host.got.length, 4);
  t.equal(p.counters.rxNoDestination, 2);
  t.equal(host.flushes, 2);
  tap.queue.push([]);
  tap.cb!();
  t.equal(p.counters.lastErrno, 5, 'a read error is counted');
  const held: number[] = [];
  for (let f = host.pool.alloc(); f >= 0; f = host.pool.alloc()) held.push(f);
  tap.queue.push(frame);
  tap.cb!();
  t.equal(p.counters.rxNoBuffer, 1, 'pool empty: the frame waits in the TAP');
  for (const f of held) host.pool.release(f);
  tap.cb!();
  t.equal(p.counters.rxPackets, 5);
  t.equal(p.counters.rxBytes, 300);
  p.close();
  tap.cb?.();
});

t.test('openTap argument checks', async (t) => {
  t.throws(() => openTap('x'.repeat(16)), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => openTap('phx', '/nonexistent/tun'), { code: 'ENOENT', message: /modprobe tun/ });
});

t.test('a real TAP (PHOENIX_TEST_TAP=1)', { skip: process.env.PHOENIX_TEST_TAP === '1' ? false : 'set PHOENIX_TEST_TAP=1 (root, /dev/net/tun, iproute2) to run against a real TAP' }, async (t) => {
  const name = `phxt${process.pid % 100000}`;
  const net = [10, 213, process.pid % 250, 0];
  const hostIp = [net[0]!, net[1]!, net[2]!, 1];
  const guestIp = [net[0]!, net[1]!, net[2]!, 2];
  const guestMac = [0x02, 0x16, 0x3e, 0, 0, 2];
  const tapDev = openTap(name);
  const host = new Host();
  const p = new TapPort(host, tapDev);
  t.teardown(() => p.close());
  const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8' });
  ip('link', 'set', name, 'up');
  ip('addr', 'add', `${hostIp.join('.')}/24`, 'dev', name);
  ip('neigh', 'replace', guestIp.join('.'), 'lladdr', guestMac.map((b) => b.toString(16).padStart(2, '0')).join(':'), 'dev', name);
  const tapMac = ip('-o', 'link', 'show', name).match(/link\/ether ([0-9a-f:]+)/)![1]!.split(':').map((h) => parseInt(h, 16));
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  await new Promise<void>((r) => sock.bind(0, hostIp.join('.'), () => r()));
  const port = sock.address().port;
  const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
  const data = [...Buffer.from('phoenix checksum completion')];
  t.ok(p.deliver(host.put(udpFrame(tapMac, guestMac, guestIp, hostIp, port, data), FF_CSUM_BLANK)));
  const msg = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
  t.same(msg === undefined ? undefined : [...msg], data, 'the host stack accepted the completed checksum');
  // And the other way: the host answers us (its reply arrives through the TAP).
  sock.send(Buffer.from('pong'), 40000, guestIp.join('.'));
  for (let i = 0; i < 100 && !host.got.some((f) => f[23] === 17); i++) await new Promise((r) => setTimeout(r, 20));
  const reply = host.got.find((f) => f[12] === 0x08 && f[13] === 0 && f[23] === 17);
  t.ok(reply, 'a UDP datagram from the host came out of the TAP');
  t.equal(reply && verifyL4Checksum(reply, 0, reply.length), true);
});
