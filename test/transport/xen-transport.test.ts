// SPDX-License-Identifier: MIT
// xen-transport.test.ts — XenTransport, XenGrantAccess and DomainChannels over fake devices and
// phoenix's own xenstored: what the TypeScript side does with gntdev/evtchn, without Xen.
import t from 'tap';
import type { EvtChnLike } from '../../src/transport/xen/evtchn.js';
import type { GntDevLike } from '../../src/transport/xen/grants.js';
import { validateDomid, XenTransport } from '../../src/transport/xen/transport.js';
import { GNTST_okay } from '../../src/transport/types.js';
import { decodeSegment } from '../../src/transport/xen/copy.js';
import { startRig } from '../xenstore/fixtures/rig.js';

class FakeGntDev implements GntDevLike {
  mapped = new Map<ArrayBuffer, number>();
  copies: ReturnType<typeof decodeSegment>[][] = [];
  closed = false;
  map(domid: number, refs: Uint32Array, _writable: boolean): ArrayBuffer {
    if (refs[0] === 666) throw Object.assign(new Error('EFAULT: bad address, mmap'), { code: 'EFAULT' });
    const b = new ArrayBuffer(4096 * refs.length);
    this.mapped.set(b, domid);
    return b;
  }
  unmap(b: ArrayBuffer): boolean {
    return this.mapped.delete(b);
  }
  copyThrows: Error | null = null;
  copy(segs: Uint8Array, count: number): number {
    if (this.copyThrows !== null) throw this.copyThrows;
    const batch = [];
    for (let i = 0; i < count; i++) {
      batch.push(decodeSegment(segs, i));
      segs[i * 24 + 20] = 0;
      segs[i * 24 + 21] = 0;
    }
    this.copies.push(batch);
    return 0;
  }
  close(): void {
    this.closed = true;
  }
}

class FakeEvtChn implements EvtChnLike {
  next = 10;
  bound = new Set<number>();
  unmasked: number[] = [];
  notified: number[] = [];
  cb: ((ports: Uint32Array, overflow: boolean) => void) | null = null;
  closed = false;
  constructor(readonly domid: number) {}
  bindInterdomain(domid: number, port: number): number {
    if (domid !== this.domid) throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
    if (port === 99) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
    const p = this.next++;
    this.bound.add(p);
    return p;
  }
  unbind(port: number): number {
    if (!this.bound.delete(port)) throw new Error('not bound');
    return 0;
  }
  notify(port: number): number {
    this.notified.push(port);
    return 0;
  }
  unmask(port: number): void {
    this.unmasked.push(port);
  }
  watch(cb: (ports: Uint32Array, overflow: boolean) => void): void {
    this.cb = cb;
  }
  unwatch(): void {
    this.cb = null;
  }
  close(): void {
    this.closed = true;
  }
  fire(ports: number[], overflow = false): void {
    this.cb?.(Uint32Array.from(ports), overflow);
  }
}

async function rigTransport(t: Parameters<typeof startRig>[0]) {
  const rig = await startRig(t);
  const gnt = new FakeGntDev();
  const evs: FakeEvtChn[] = [];
  const xs = await rig.dom0();
  const tr = new XenTransport(xs, {
    gntdev: gnt,
    openEvtchn: (domid) => {
      const e = new FakeEvtChn(domid);
      evs.push(e);
      return e;
    },
  });
  return { rig, gnt, evs, tr };
}

t.test('grants: ring pages by map, data by one batched copy per flush', async (t) => {
  const { gnt, tr } = await rigTransport(t);
  const g = await tr.openGrants(5);
  t.equal(g.domid, 5);
  const page = g.map(8, true);
  t.equal(page.byteOffset, 0);
  t.equal(page.buffer.byteLength, 4096);
  t.equal(gnt.mapped.get(page.buffer), 5);
  t.throws(() => g.map(666, true), { code: 'EGRANT', status: -1 }, 'a refused map is a GrantError');
  t.throws(() => g.map(-1, true), { code: 'EGRANT', status: -3 });
  page.unmap();
  page.unmap();
  t.equal(gnt.mapped.size, 0, 'unmapped once');
  const pool = new Uint8Array(8192);
  t.equal(g.copyFrom(3, 10, 100, pool, 2048), 0);
  t.equal(g.copyTo(pool, 0, 4, 0, 60), 1);
  t.same([...g.flush()], [GNTST_okay, GNTST_okay]);
  t.equal(gnt.copies.length, 1, 'one ioctl for the batch');
  t.match(gnt.copies[0], [{ flags: 1, gref: 3, offset: 10, domid: 5, localOffset: 2048, len: 100 }, { flags: 2, gref: 4, localOffset: 0, len: 60 }]);
  gnt.copyThrows = Object.assign(new Error('EBADF: this GntDev is closed'), { errno: -9 });
  g.copyFrom(3, 0, 10, pool, 0);
  t.same([...g.flush()], [-1], 'a device error is GNTST_general_error, not an exception');
  t.equal((g as unknown as { lastErrno: number }).lastErrno, 9);
  gnt.copyThrows = new Error('no errno');
  g.copyFrom(3, 0, 10, pool, 0);
  g.flush();
  t.equal((g as unknown as { lastErrno: number }).lastErrno, 5, 'EIO when the error has no errno');
  gnt.copyThrows = null;
  g.map(9, false);
  g.close();
  g.close();
  t.equal(gnt.mapped.size, 0, 'close unmaps what is left');
  t.throws(() => g.map(9, true), { code: 'EGRANT' }, 'closed');
  await t.rejects(tr.openGrants(0x8000), { code: 'ERR_OUT_OF_RANGE' });
  await tr.close();
  t.ok(gnt.closed);
});

t.test('event channels: one restricted fd per domain, late unmask, overflow, close', async (t) => {
  const { evs, tr } = await rigTransport(t);
  const a = await tr.bindInterdomain(3, 7);
  const b = await tr.bindInterdomain(3, 8);
  const c = await tr.bindInterdomain(4, 7);
  t.equal(evs.length, 2, 'one fd per frontend domain');
  t.same([evs[0]!.domid, evs[1]!.domid], [3, 4]);
  const e3 = evs[0]!;
  let na = 0;
  let nb = 0;
  const unmaskedDuring: number[] = [];
  a.setHandler(() => {
    na++;
    unmaskedDuring.push(e3.unmasked.filter((p) => p === a.localPort).length);
  });
  e3.fire([a.localPort, a.localPort]);
  t.equal(na, 1, 'duplicates coalesce');
  t.same(unmaskedDuring, [0], 'still masked while the handler runs');
  t.same(e3.unmasked, [a.localPort], 'unmasked after the handler');
  e3.fire([b.localPort]);
  t.equal(nb, 0);
  t.same(e3.unmasked, [a.localPort], 'no handler yet: kept masked');
  b.setHandler(() => nb++);
  await new Promise((r) => setImmediate(r));
  t.equal(nb, 1, 'an event before setHandler is delivered once it is set');
  e3.fire([], true);
  t.same([na, nb], [2, 2], 'overflow fires every port');
  a.notify();
  t.same(e3.notified, [a.localPort]);
  e3.fire([12345]);
  a.close();
  a.notify();
  t.same(e3.notified, [a.localPort], 'no notify after close');
  t.notOk(e3.closed);
  b.close();
  t.ok(e3.closed, 'the fd closes with its last port');
  await t.rejects(tr.bindInterdomain(4, 99), { code: 'EINVAL' });
  t.notOk(evs[1]!.closed, 'a failed bind keeps the domain fd that has other ports');
  await t.rejects(tr.bindInterdomain(6, 99), { code: 'EINVAL' });
  t.ok(evs[2]!.closed, 'a failed first bind closes the new fd');
  await t.rejects(tr.bindInterdomain(4, 0), { code: 'ERR_OUT_OF_RANGE' });
  const d = await tr.bindInterdomain(3, 9);
  t.equal(evs.length, 4, 'a domain whose fd closed gets a new one');
  t.not(d.localPort, 0);
  await tr.close();
  t.ok(evs[1]!.closed && evs[3]!.closed, 'close() closes every fd');
  c.close();
});

t.test('watchDomainExit: @releaseDomain + IS_DOMAIN_INTRODUCED', async (t) => {
  const { rig, tr } = await rigTransport(t);
  await rig.server.introduceDomain(5);
  await rig.server.introduceDomain(6);
  let fired5 = 0;
  let fired6 = 0;
  const w5 = await tr.watchDomainExit(5, () => fired5++);
  const w6 = await tr.watchDomainExit(6, () => fired6++);
  await rig.server.releaseDomain(5);
  for (let i = 0; i < 100 && fired5 === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(fired5, 1, 'fires when the domain is released');
  t.equal(fired6, 0, 'not for another domain');
  w5.close();
  w6.close();
  await rig.server.releaseDomain(6);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(fired6, 0, 'closed watches stay quiet');
  let gone = 0;
  await tr.watchDomainExit(42, () => gone++);
  for (let i = 0; i < 100 && gone === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(gone, 1, 'a domain already gone is reported at once');
  await t.rejects(tr.watchDomainExit(-1, () => undefined), { code: 'ERR_OUT_OF_RANGE' });
  await tr.watchDomainExit(7, () => undefined);
  await tr.close();
  await tr.close();
  t.throws(() => validateDomid('1'), RangeError);
  t.throws(() => new XenTransport(tr.xenstore, { gntdev: new FakeGntDev(), openEvtchn: (d) => new FakeEvtChn(d) }, 0x7ff0), RangeError);
});
