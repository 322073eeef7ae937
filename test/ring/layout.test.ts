// SPDX-License-Identifier: MIT
// layout.test.ts — the layout table is self-consistent and agrees with the codecs' view of bytes.
import t from 'tap';
import { LAYOUT, RING_LAYOUT, type StructLayout } from '../../src/ring/layout.js';
import { ringSize, SRING_HEADER_BYTES } from '../../src/ring/sring.js';

t.test('every field lies inside its struct; plain members do not overlap', async (t) => {
  for (const [name, s] of Object.entries(LAYOUT) as Array<[string, StructLayout]>) {
    const top = Object.entries(s.fields).filter(([k]) => !k.includes('.'));
    for (const [k, f] of Object.entries(s.fields)) {
      const limit = k === 'ring' ? Infinity : s.bytes;
      t.ok(f.offset >= 0 && f.bytes > 0 && f.offset + f.bytes <= limit, `${name}.${k} inside ${s.bytes} bytes`);
    }
    if (s.cType.startsWith('union ')) continue; // members overlay each other by design
    top.sort((a, b) => a[1].offset - b[1].offset);
    for (let i = 1; i < top.length; i++) {
      const [pk, p] = top[i - 1]!;
      const [ck, c] = top[i]!;
      t.ok(p.offset + p.bytes <= c.offset, `${name}: ${pk} ends before ${ck}`);
    }
    if (s.bytesIs === 'sizeof') {
      const covered = top.reduce((n, [, f]) => n + f.bytes, 0);
      t.equal(covered, s.bytes, `${name}: top-level members cover the struct (no hidden padding)`);
    }
    // Union members nest inside their parent member.
    for (const [k, f] of Object.entries(s.fields)) {
      if (!k.includes('.')) continue;
      const parent = s.fields[k.split('.')[0]!];
      t.ok(parent && f.offset >= parent.offset && f.offset + f.bytes <= parent.offset + parent.bytes, `${name}.${k} inside its union`);
    }
  }
});

t.test('the numbers everyone relies on', async (t) => {
  t.equal(LAYOUT.txSring.bytes, SRING_HEADER_BYTES);
  const h = LAYOUT.txSring.fields;
  t.same([h.req_prod.offset, h.req_event.offset, h.rsp_prod.offset, h.rsp_event.offset], [0, 4, 8, 12]);
  t.equal(LAYOUT.txSring.fields.pvt.offset, 16);
  t.equal(LAYOUT.txSring.fields.__pad.offset, 20);
  t.equal(LAYOUT.txSring.fields.__pad.bytes, 44);
  t.equal(LAYOUT.txRequest.bytes, 12);
  t.equal(LAYOUT.txResponse.bytes, 4);
  t.equal(LAYOUT.rxRequest.bytes, 8);
  t.equal(LAYOUT.rxResponse.bytes, 8);
  t.equal(LAYOUT.extraInfo.bytes, 8);
  t.equal(LAYOUT.grantEntryV1.bytes, 8);
  t.same(LAYOUT.grantEntryV1.fields, {
    flags: { offset: 0, bytes: 2, type: 'u16' },
    domid: { offset: 2, bytes: 2, type: 'u16' },
    frame: { offset: 4, bytes: 4, type: 'u32' },
  });
  t.ok(LAYOUT.extraInfo.bytes <= LAYOUT.rxRequest.bytes, 'an extra fits an RX slot');
  t.ok(LAYOUT.txResponse.bytes <= LAYOUT.txRequest.bytes && LAYOUT.rxResponse.bytes <= LAYOUT.rxRequest.bytes, 'responses fit the slots');
  for (const r of Object.values(RING_LAYOUT)) t.equal(ringSize(r.entryBytes, r.pageBytes), r.size, `${r.cName} ring size`);
});
