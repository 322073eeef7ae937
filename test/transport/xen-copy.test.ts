// SPDX-License-Identifier: MIT
// xen-copy.test.ts — the GNTTABOP_copy segment encoding (transport/xen/copy.ts), byte for byte.
import t from 'tap';
import { CopyBatch, decodeSegment, GNTCOPY_dest_gref, GNTCOPY_source_gref, SEG_BYTES } from '../../src/transport/xen/copy.js';
import { GNTST_bad_copy_arg, GNTST_general_error, GNTST_okay } from '../../src/transport/types.js';

t.test('a TX copy (guest gref -> local) is encoded as gntdev_grant_copy_segment', async (t) => {
  const b = new CopyBatch(7);
  const pool = new Uint8Array(new ArrayBuffer(8192), 4096, 4096);
  t.equal(b.from(0x12345678, 100, 1500, pool, 10), 0);
  t.equal(b.length, 1);
  t.equal(b.segments, 1);
  const dv = new DataView(b.segs.buffer);
  t.equal(dv.getUint32(0, true), 0x12345678, 'source.foreign.ref @0');
  t.equal(dv.getUint16(4, true), 100, 'source.foreign.offset @4');
  t.equal(dv.getUint16(6, true), 7, 'source.foreign.domid @6');
  t.equal(dv.getUint32(8, true), 4096 + 10, 'dest.virt low word: byteOffset + localOff');
  t.equal(dv.getUint32(12, true), 0, 'dest.virt high word: buffer index 0');
  t.equal(dv.getUint16(16, true), 1500, 'len @16');
  t.equal(dv.getUint16(18, true), GNTCOPY_source_gref, 'flags @18');
  t.equal(dv.getInt16(20, true), GNTST_general_error, 'status @20 pre-filled');
});

t.test('an RX copy (local -> guest gref) puts the grant in dest; distinct buffers get indices', async (t) => {
  const b = new CopyBatch(3);
  const a = new Uint8Array(100);
  const c = new Uint8Array(100);
  b.to(a, 5, 9, 2, 50);
  b.to(c, 7, 10, 0, 60);
  b.to(a, 0, 11, 4000, 96);
  const s0 = decodeSegment(b.segs, 0);
  const s1 = decodeSegment(b.segs, 1);
  const s2 = decodeSegment(b.segs, 2);
  t.match(s0, { flags: GNTCOPY_dest_gref, gref: 9, offset: 2, domid: 3, len: 50, bufferIndex: 0, localOffset: 5 });
  t.match(s1, { gref: 10, bufferIndex: 1, localOffset: 7, len: 60 });
  t.match(s2, { gref: 11, offset: 4000, bufferIndex: 0, localOffset: 0, len: 96 });
  const dv = new DataView(b.segs.buffer);
  t.equal(dv.getUint32(8, true), 9, 'dest.foreign.ref @8');
  t.equal(dv.getUint32(SEG_BYTES + 4, true), 1 << 8, 'buffer index 1 sits at bit 40 of the local word');
});

t.test('ops the kernel would reject for the whole batch never reach it', async (t) => {
  const b = new CopyBatch(1);
  const buf = new Uint8Array(4096);
  b.from(1, 4000, 200, buf, 0); // crosses the foreign page
  b.from(2, 0, 100, buf, 0); // fine
  b.from(-1, 0, 1, buf, 0); // bad gref
  b.from(3, 0, 100, buf, 4090); // local overrun
  b.to(buf, 0, 4, 0, 4097); // too long
  b.to(buf, -1, 4, 0, 1); // negative local offset
  t.equal(b.segments, 1, 'only the good op is encoded');
  let calls = 0;
  const st = b.flush((segs, count, buffers) => {
    calls++;
    t.equal(count, 1);
    t.equal(buffers.length, 1);
    t.equal(buffers[0], buf.buffer);
    segs[20] = 0; // the kernel writes GNTST_okay
    segs[21] = 0;
    return 0;
  });
  t.equal(calls, 1, 'one exec (= one ioctl) per flush');
  t.same([...st], [GNTST_bad_copy_arg, GNTST_okay, GNTST_bad_copy_arg, GNTST_bad_copy_arg, GNTST_bad_copy_arg, GNTST_bad_copy_arg]);
  t.equal(b.length, 0, 'flush resets the batch');
});

t.test('a failed ioctl leaves general_error; an empty batch makes no call', async (t) => {
  const b = new CopyBatch(1, 4);
  const buf = new Uint8Array(64);
  b.from(1, 0, 8, buf, 0);
  b.from(2, 0, 8, buf, 8);
  const st = b.flush(() => 22);
  t.equal(b.lastErrno, 22);
  t.same([...st], [GNTST_general_error, GNTST_general_error]);
  let called = false;
  t.equal(b.flush(() => ((called = true), 0)).length, 0);
  t.notOk(called);
  b.from(1, 4095, 2, buf, 0);
  t.same([...b.flush(() => ((called = true), 0))], [GNTST_bad_copy_arg]);
  t.notOk(called, 'a batch of only rejected ops makes no call either');
});

t.test('capacity, domid and buffer kind are checked', async (t) => {
  t.throws(() => new CopyBatch(-1), RangeError);
  t.throws(() => new CopyBatch(0x7ff0), RangeError);
  const b = new CopyBatch(0, 2);
  const buf = new Uint8Array(16);
  b.from(1, 0, 1, buf, 0);
  b.from(1, 0, 1, buf, 0);
  t.throws(() => b.from(1, 0, 1, buf, 0), RangeError, 'more than capacity without flush');
  const sab = new Uint8Array(new SharedArrayBuffer(16));
  t.throws(() => new CopyBatch(0).to(sab, 0, 1, 0, 1), TypeError);
});
