// SPDX-License-Identifier: MIT
// xen-devices.test.ts — addon/gntdev.cc and addon/evtchn.cc without Xen: missing devices say
// what to do, arguments are validated, and the grant-copy bounds checks run before any ioctl.
// (A real /dev/xen run is test/xen/, `make test-xen`.) /dev/null stands in for an open device:
// every ioctl on it fails with ENOTTY, which is enough to reach the code paths after open().
import { existsSync } from 'node:fs';
import t from 'tap';
import { bindInterdomain, mapGrants, native, openEvtChn, openGntDev } from '../../src/native/index.js';
import { runServe } from '../../src/cli/serve.js';
import { XenTransport } from '../../src/transport/xen/transport.js';
import { CopyBatch } from '../../src/transport/xen/copy.js';
import { GNTST_general_error } from '../../src/transport/types.js';

const FIX = /run in a Xen dom0\/driver domain; modprobe xen-gntdev xen-evtchn/;

t.test('missing devices: ENOENT with the fix', async (t) => {
  t.throws(() => openGntDev('/nonexistent/xen/gntdev'), { code: 'ENOENT', syscall: 'open', path: '/nonexistent/xen/gntdev', message: FIX });
  t.throws(() => openEvtChn({ path: '/nonexistent/xen/evtchn' }), { code: 'ENOENT', syscall: 'open', message: FIX });
  if (!existsSync('/dev/xen/gntdev')) {
    t.throws(() => openGntDev(), { code: 'ENOENT', path: '/dev/xen/gntdev', message: FIX }, 'the default path on this machine');
  }
  if (!existsSync('/dev/xen/evtchn')) t.throws(() => openEvtChn(), { code: 'ENOENT', path: '/dev/xen/evtchn', message: FIX });
  await t.rejects(XenTransport.connect({ gntdevPath: '/nonexistent/gntdev' }), { code: 'ENOENT', message: FIX }, 'the transport fails at connect');
  await t.rejects(XenTransport.connect({ gntdevPath: '/dev/null', evtchnPath: '/nonexistent/evtchn' }), { code: 'ENOENT', message: FIX });
  await t.rejects(XenTransport.connect({ selfDomid: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  if (!existsSync('/dev/xen/gntdev')) {
    await t.rejects(runServe(['--transport', 'xen']), { code: 'ENOENT', message: FIX }, 'phoenix serve --transport xen');
  }
  await t.rejects(runServe(['--transport', 'vmbus', '--xenstore', '/x']), /unknown transport "vmbus"/);
});

t.test('argument validation before the kernel', async (t) => {
  t.throws(() => openGntDev(''), { code: 'ERR_INVALID_ARG_TYPE' });
  const g = openGntDev('/dev/null');
  t.teardown(() => g.close());
  t.ok(g.fd >= 0);
  t.throws(() => mapGrants(g, -1, [1], true), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => mapGrants(g, 0x7ff0, [1], true), { code: 'ERR_OUT_OF_RANGE' }, 'DOMID_FIRST_RESERVED and above');
  t.throws(() => mapGrants(g, 1, [], true), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => mapGrants(g, 1, [2 ** 32], true), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => mapGrants(g, 1, [1], true), { code: 'ENOTTY', syscall: 'ioctl', message: /IOCTL_GNTDEV_MAP_GRANT_REF/ });
  t.throws(() => g.map(1, new Uint32Array(1025), true), { code: 'ERR_OUT_OF_RANGE' }, 'the addon checks too');
  t.throws(() => (g.map as (...a: unknown[]) => unknown)(1, [1], true), { code: 'ERR_INVALID_ARG_TYPE' });
  t.equal(g.unmap(new ArrayBuffer(8)), false, 'unmap of a foreign buffer is refused');

  const e = openEvtChn({ path: '/dev/null' });
  t.teardown(() => e.close());
  t.throws(() => bindInterdomain(e, 1, 0), { code: 'ERR_OUT_OF_RANGE' }, 'port 0 is never valid');
  t.throws(() => bindInterdomain(e, 40000, 5), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => bindInterdomain(e, 1, 5), { code: 'ENOTTY', message: /BIND_INTERDOMAIN/ });
  t.throws(() => e.notify(0), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => e.unbind(3), { code: 'ENOTTY' });
  t.throws(() => openEvtChn({ path: '/dev/null', restrictDomid: 1 }), { code: 'ENOTTY', message: /RESTRICT_DOMID/ });
  t.throws(() => openEvtChn({ path: '/dev/null', restrictDomid: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => new native.EvtChn(5 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });
  e.close();
  t.equal(e.fd, -1);
  t.throws(() => e.notify(1), { code: 'EBADF' }, 'a closed fd says so');
  e.close();
});

t.test('grant copy: one ioctl, bounds checked in C++ too', async (t) => {
  const g = openGntDev('/dev/null');
  t.teardown(() => g.close());
  const pool = new Uint8Array(8192);
  const b = new CopyBatch(1);
  b.from(1, 0, 100, pool, 0);
  b.to(pool, 100, 2, 0, 100);
  const st = b.flush((s, n, bufs) => g.copy(s, n, bufs));
  t.equal(b.lastErrno, 25, 'ENOTTY from /dev/null, reported as an errno, not thrown');
  t.same([...st], [GNTST_general_error, GNTST_general_error], 'statuses the kernel never wrote stay general_error');
  t.equal(g.copy(new Uint8Array(24), 0, []), 0, 'an empty batch is no ioctl');

  const seg = (flags: number, localWordHi: number, localLo: number, len: number, foff = 0): Uint8Array => {
    const s = new Uint8Array(24);
    const dv = new DataView(s.buffer);
    const f = flags === 1 ? 0 : 8;
    const l = flags === 1 ? 8 : 0;
    dv.setUint32(f, 1, true);
    dv.setUint16(f + 4, foff, true);
    dv.setUint32(l, localLo, true);
    dv.setUint32(l + 4, localWordHi, true);
    dv.setUint16(16, len, true);
    dv.setUint16(18, flags, true);
    return s;
  };
  t.throws(() => g.copy(seg(1, 0, 8100, 100), 1, [pool.buffer as ArrayBuffer]), { code: 'ERR_OUT_OF_RANGE' }, 'local overrun');
  t.throws(() => g.copy(seg(2, 1 << 8, 0, 10), 1, [pool.buffer as ArrayBuffer]), { code: 'ERR_OUT_OF_RANGE' }, 'unknown buffer index');
  t.throws(() => g.copy(seg(1, 0, 0, 100, 4000), 1, [pool.buffer as ArrayBuffer]), { code: 'ERR_OUT_OF_RANGE' }, 'foreign page crossing');
  t.throws(() => g.copy(seg(3, 0, 0, 1), 1, [pool.buffer as ArrayBuffer]), { code: 'ERR_INVALID_ARG_VALUE' }, 'both sides grants');
  t.throws(() => g.copy(new Uint8Array(23), 1, []), { code: 'ERR_OUT_OF_RANGE' }, 'short segment array');
  t.throws(() => g.copy(seg(1, 0, 0, 1), 1, [5 as unknown as ArrayBuffer]), { code: 'ERR_INVALID_ARG_TYPE' });
  g.close();
  t.equal(g.fd, -1);
  t.throws(() => g.copy(new Uint8Array(24), 0, []), { code: 'EBADF' });
});
