// SPDX-License-Identifier: MIT
// ring.test.ts — the XSK ring views against a fake kernel in plain memory (no root needed).
import t from 'tap';
import { XskCompletionRing, XskFillRing, XskRxRing, XskTxRing } from '../../src/xsk/ring.js';
import { fakeRingMap, FakeKernel, XDP_HEADROOM } from './fake-kernel.js';

t.test('fill ring: reserve, put, submit; the kernel consumes; indices wrap at 2^32', async (t) => {
  const map = fakeRingMap(8, 8);
  const u32 = new Uint32Array(map.buffer);
  // Start just below the wrap, as a long-running socket would be.
  u32[0] = 0xfffffffc;
  u32[16] = 0xfffffffc;
  const fill = new XskFillRing(map);
  t.equal(fill.free(), 8);
  t.equal(fill.reserve(20), 8, 'no more than the ring holds');
  for (let i = 0; i < 8; i++) fill.put(i, i * 2048 + (i === 7 ? 0x1_0000_0000 : 0));
  fill.submit(8);
  t.equal(u32[0], 4, 'producer wrapped');
  t.equal(fill.reserve(1), 0, 'full');
  t.equal(fill.outstanding, 8);
  // Entry 7 carries a >4 GiB address: both halves written.
  const w = 192 / 4 + ((0xfffffffc + 7) & 7) * 2;
  t.equal(u32[w], 7 * 2048);
  t.equal(u32[w + 1], 1);
  u32[16] = 2; // the kernel consumed 6
  t.equal(fill.reserve(8), 6, 'the consumer word is re-read when the cached view is short');
  t.equal(fill.outstanding, 2);
  t.equal(fill.producer, 4);
  t.equal(fill.consumer, 2);
  t.equal(fill.needsWakeup, false);
  u32[32] = 1;
  t.equal(fill.needsWakeup, true);
  fill.submit(0);
  t.equal(u32[0], 4, 'submit(0) publishes nothing');
});

t.test('rx and completion rings: peek, read, release', async (t) => {
  const umem = new Uint8Array(16 * 2048);
  const k = new FakeKernel(umem, { fill: 16, completion: 16, rx: 8, tx: 8 });
  const { fill, rx, tx, completion } = k.rings();
  t.equal(rx.peek(8), 0, 'nothing yet');
  t.equal(k.receive(new Uint8Array(60)), false, 'no fill buffer: dropped, counted');
  t.equal(k.stats[4], 1);
  const n = fill.reserve(4);
  for (let i = 0; i < n; i++) fill.put(i, (i + 2) * 2048);
  fill.submit(n);
  for (let i = 0; i < 3; i++) t.ok(k.receive(new Uint8Array(60 + i).fill(i + 1)));
  t.equal(rx.peek(2), 2, 'at most max');
  t.equal(rx.peek(8), 3);
  t.equal(rx.addr(0), 2 * 2048 + XDP_HEADROOM, 'data at the XDP headroom of the first fill buffer');
  t.equal(rx.len(2), 62);
  t.equal(rx.options(1), 0);
  t.equal(umem[3 * 2048 + XDP_HEADROOM], 2);
  rx.release(3);
  t.equal(rx.consumer, 3);
  t.equal(rx.peek(8), 0);
  rx.release(0);

  t.equal(tx.reserve(3), 3);
  tx.put(0, 5 * 2048, 64);
  tx.put(1, 6 * 2048 + 10, 1514, 0);
  tx.put(2, 7 * 2048, 100);
  tx.submit(3);
  t.equal(tx.outstanding, 3);
  k.reverseCompletions = true;
  t.equal(k.kick(1), 0);
  t.same(k.sent, [[5 * 2048, 64], [6 * 2048 + 10, 1514], [7 * 2048, 100]], 'descriptors as written');
  t.equal(tx.outstanding, 0);
  t.equal(completion.peek(8), 3);
  t.same([completion.addr(0), completion.addr(1), completion.addr(2)], [7 * 2048, 6 * 2048 + 10, 5 * 2048]);
  completion.release(3);
  t.equal(completion.consumer, 3);
});

t.test('ring views refuse a mapping that does not fit', async (t) => {
  t.throws(() => new XskRxRing({ ...fakeRingMap(8, 16), size: 6 }), RangeError, 'size not a power of two');
  t.throws(() => new XskTxRing({ ...fakeRingMap(8, 16), size: 16 }), RangeError, 'entries past the end');
  t.throws(() => new XskCompletionRing({ ...fakeRingMap(8, 8), consumer: 66 }), RangeError, 'unaligned word');
  t.throws(() => new XskFillRing({ ...fakeRingMap(8, 8), desc: 196 }), RangeError, 'unaligned entries');
});
