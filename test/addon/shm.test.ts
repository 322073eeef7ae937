// SPDX-License-Identifier: MIT
// shm.test.ts — mapShared: sharing across processes, close/detach, sizes, errors, finaliser.
import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mapShared, native, type SharedRegion } from '../../src/native/index.js';
import { child, mapped, settle, shmPath, until } from './helpers.js';

const PAGE = native.pageSize;

t.test('a region written here is read by another process, and the other way', async (t) => {
  const path = shmPath(t);
  const r = mapShared(path, { create: true, exclusive: true, size: 3 * PAGE });
  t.teardown(() => r.close());
  const u8 = new Uint8Array(r.buffer);
  u8.set([0xde, 0xad, 0xbe, 0xef], PAGE + 7);
  const reader = child(t, 'shm-read', [path, String(PAGE + 7), '4']);
  t.equal((await reader.line(/^[0-9a-f]+$/))[0], 'deadbeef', 'the child sees our bytes');

  // The child writes into the same file; our existing view sees it without remapping.
  const writer = child(t, 'shm-write', [path, String(2 * PAGE), 'c0ffee']);
  await writer.line(/^written$/);
  t.same([...u8.subarray(2 * PAGE, 2 * PAGE + 3)], [0xc0, 0xff, 0xee], 'we see the child\'s bytes in place');
});

t.test('a region another process created is mapped at the file\'s size', async (t) => {
  const path = shmPath(t);
  const creator = child(t, 'shm-create', [path, '5000', '0102030405']);
  const ready = await creator.line(/^ready (\d+)$/);
  t.equal(Number(ready[1]), 2 * PAGE, 'the creator got a page-rounded size');
  const r = mapShared(path);
  t.teardown(() => r.close());
  t.equal(r.size, 2 * PAGE, 'size defaults to the file size');
  t.equal(r.path, path);
  t.equal(r.hugepages, false);
  t.same([...new Uint8Array(r.buffer, 0, 5)], [1, 2, 3, 4, 5]);
  creator.proc.stdin?.end();
  await creator.exited;
  t.same([...new Uint8Array(r.buffer, 0, 5)], [1, 2, 3, 4, 5], 'still mapped after the creator left');
});

t.test('close() detaches views, then unmaps; twice is fine', async (t) => {
  const path = shmPath(t);
  const r = mapShared(path, { create: true, size: PAGE });
  const u8 = new Uint8Array(r.buffer);
  const dv = new DataView(r.buffer);
  u8[0] = 42;
  t.equal(r.closed, false);
  t.ok(mapped(path), 'listed in /proc/self/maps while open');
  r.close();
  t.equal(r.closed, true);
  t.equal(r.buffer.byteLength, 0, 'the buffer is detached');
  t.equal(u8.length, 0, 'existing typed views become zero-length');
  t.equal(u8[0], undefined, 'reads through a stale view find nothing (no crash)');
  t.throws(() => dv.getUint8(0), TypeError, 'an existing DataView throws');
  t.throws(() => new DataView(r.buffer), TypeError, 'a new DataView throws');
  t.notOk(mapped(path), 'munmap happened');
  t.doesNotThrow(() => r.close(), 'second close is a no-op');
  t.equal(r.closed, true);
  // The data survives in the file: map it again.
  const again = mapShared(path);
  t.teardown(() => again.close());
  t.equal(new Uint8Array(again.buffer)[0], 42);
});

t.test('an unreferenced region is unmapped by its finaliser; after close() the finaliser does nothing', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const a = shmPath(t);
  const b = shmPath(t);
  (() => {
    const r = mapShared(a, { create: true, size: PAGE });
    new Uint8Array(r.buffer)[0] = 1;
    mapShared(b, { create: true, size: PAGE }).close();
  })();
  t.ok(mapped(a), 'mapped while (possibly) reachable');
  const gone = await until(() => {
    gc();
    return !mapped(a);
  }, 10_000);
  t.ok(gone, 'the finaliser unmapped the region');
  t.notOk(mapped(b));
  await settle(50); // let any remaining finalisers run: a double munmap would not crash, but ASan/UBSan would see misuse
});

t.test('sizes', async (t) => {
  const path = shmPath(t);
  const r = mapShared(path, { create: true, size: 100 });
  t.teardown(() => r.close());
  t.equal(r.size, PAGE, 'rounded up to a page');
  t.equal(r.buffer.byteLength, PAGE);
  t.equal(statSync(path).size, PAGE, 'the file was sized to match (ftruncate)');

  const bigger = mapShared(path, { create: true, size: 3 * PAGE });
  t.teardown(() => bigger.close());
  t.equal(statSync(path).size, 3 * PAGE, 'create on an existing smaller file grows it');
  const smaller = mapShared(path, { create: true, size: PAGE });
  t.teardown(() => smaller.close());
  t.equal(smaller.size, PAGE);
  t.equal(statSync(path).size, 3 * PAGE, '...and never shrinks it');

  const part = mapShared(path, { size: 2 * PAGE });
  t.teardown(() => part.close());
  t.equal(part.size, 2 * PAGE, 'a given size may be less than the file');

  t.throws(() => mapShared(path, { size: 4 * PAGE }), { code: 'EINVAL', syscall: 'mmap', path, message: /bytes, less than the requested/ }, 'the file must be at least `size`');
  const empty = shmPath(t);
  writeFileSync(empty, '');
  t.throws(() => mapShared(empty), { code: 'EINVAL', message: /nothing to map/ }, 'an empty file has nothing to map');

  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
    t.throws(() => mapShared(path, { size: bad }), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }, `size ${bad}`);
  }
  t.throws(() => mapShared(path, { size: '4096' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
  const fresh = shmPath(t);
  t.throws(() => mapShared(fresh, { create: true }), { code: 'ERR_INVALID_ARG_VALUE' }, 'create needs size');
  t.notOk(existsSync(fresh), 'and nothing was created');
  t.throws(() => mapShared(fresh, { exclusive: true, size: PAGE }), { code: 'ERR_INVALID_ARG_VALUE' }, 'exclusive needs create');
  t.throws(() => new native.Mapping(fresh, -1, 0), { code: 'ERR_OUT_OF_RANGE' }, 'the native side checks too');
  t.throws(() => new native.Mapping(fresh, 0, native.mapFlags.create), { code: 'ERR_INVALID_ARG_VALUE' });
});

t.test('errors look like Node\'s and say what to do', async (t) => {
  const missing = shmPath(t);
  t.throws(() => mapShared(missing), {
    code: 'ENOENT',
    errno: -2,
    syscall: 'open',
    path: missing,
    message: new RegExp(`^ENOENT: no such file or directory, open '${missing}' — create it with`),
  });
  t.throws(() => mapShared('/nonexistent-dir/x', { create: true, size: PAGE }), { code: 'ENOENT', message: /directory \/nonexistent-dir does not exist/ });
  const path = shmPath(t);
  mapShared(path, { create: true, exclusive: true, size: PAGE }).close();
  t.throws(() => mapShared(path, { create: true, exclusive: true, size: PAGE }), { code: 'EEXIST', syscall: 'open', path, message: /drop `exclusive`/ });
});

t.test('readonly maps PROT_READ: reads follow the writer, a write faults', async (t) => {
  const path = shmPath(t);
  const rw = mapShared(path, { create: true, size: PAGE });
  t.teardown(() => rw.close());
  const ro = mapShared(path, { readonly: true });
  t.teardown(() => ro.close());
  new Uint8Array(rw.buffer)[10] = 77;
  t.equal(new Uint8Array(ro.buffer)[10], 77, 'the read-only view sees writes through the other mapping');
  const writer = child(t, 'shm-write-readonly', [path]);
  await writer.line(/^read 0$/);
  const { signal } = await writer.exited;
  t.equal(signal, 'SIGSEGV', 'writing to a PROT_READ mapping faults');
  t.notOk(writer.lines.includes('wrote'));
  t.equal(new Uint8Array(rw.buffer)[0], 0, 'and nothing reached the file');
});

// PHOENIX_TEST_HUGEPAGES names another hugetlbfs mount to try (default /dev/hugepages).
t.test('hugepages: works on hugetlbfs, otherwise an explained error', async (t) => {
  t.throws(() => mapShared(shmPath(t), { create: true, size: PAGE, hugepages: true }), {
    code: 'EINVAL',
    syscall: 'statfs',
    message: /\/dev\/shm is not a hugetlbfs mount; mount hugetlbfs on \/dev\/hugepages .*nr_hugepages/,
  });
  const dir = process.env.PHOENIX_TEST_HUGEPAGES ?? '/dev/hugepages';
  const path = shmPath(t, dir);
  let r: SharedRegion;
  try {
    r = mapShared(path, { create: true, size: 4096, hugepages: true });
  } catch (err) {
    t.match(err, { message: /nr_hugepages/, code: /^(ENOENT|EINVAL|ENOMEM|ENOSPC)$/ }, `no usable huge pages in ${dir}: ${(err as Error).message}`);
    t.notOk(existsSync(path), 'a failed attempt leaves no file behind');
    return;
  }
  t.teardown(() => r.close());
  const mounts = readFileSync('/proc/mounts', 'utf8');
  t.ok(mounts.split('\n').some((l) => l.split(' ')[1] === dir && l.split(' ')[2] === 'hugetlbfs'), `${dir} is hugetlbfs`);
  t.equal(r.hugepages, true);
  t.equal(r.size, 2 * 1024 * 1024, 'rounded to the huge page size');
  new Uint8Array(r.buffer)[r.size - 1] = 1;
  const again = mapShared(path, { hugepages: true });
  t.teardown(() => again.close());
  t.equal(again.size, r.size, 'an existing hugetlbfs file maps at its size');
  t.equal(new Uint8Array(again.buffer)[r.size - 1], 1);
});
