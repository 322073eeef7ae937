// SPDX-License-Identifier: MIT
// netif.test.ts — netif.h codecs: exact bytes, round trips, reuse, and the constants' values.
import t from 'tap';
import * as N from '../../src/ring/netif.js';
import { ringSize } from '../../src/ring/sring.js';
import { seededRandom as rng } from '../../src/ring/testing.js';

const bytes = (dv: DataView, off: number, n: number): number[] => [...new Uint8Array(dv.buffer, dv.byteOffset + off, n)];

t.test('constants match netif.h', async (t) => {
  t.equal(N.NETIF_TX_SLOT, 12);
  t.equal(N.NETIF_RX_SLOT, 8);
  t.equal(N.NETIF_RING_SIZE, 256);
  t.equal(ringSize(N.NETIF_TX_SLOT), N.NETIF_RING_SIZE);
  t.equal(ringSize(N.NETIF_RX_SLOT), N.NETIF_RING_SIZE);
  t.equal(N.XEN_NETIF_NR_SLOTS_MIN, 18);
  t.equal(N.XEN_NETIF_MAX_TX_SIZE, 0xffff);
  t.equal(N.ETH_HLEN, 14);
  // TX and RX disagree on bits 0 and 1.
  t.equal(N.NETTXF_csum_blank, 1);
  t.equal(N.NETTXF_data_validated, 2);
  t.equal(N.NETRXF_data_validated, 1);
  t.equal(N.NETRXF_csum_blank, 2);
  t.equal(N.NETTXF_more_data, 4);
  t.equal(N.NETTXF_extra_info, 8);
  t.equal(N.NETRXF_more_data, 4);
  t.equal(N.NETRXF_extra_info, 8);
  t.equal(N.NETRXF_gso_prefix, 16);
  t.same(
    [N.NETTXF_CSUM_BLANK, N.NETTXF_DATA_VALIDATED, N.NETTXF_MORE_DATA, N.NETTXF_EXTRA_INFO],
    [N.NETTXF_csum_blank, N.NETTXF_data_validated, N.NETTXF_more_data, N.NETTXF_extra_info],
    'upper-case TX aliases',
  );
  t.same(
    [N.NETRXF_CSUM_BLANK, N.NETRXF_DATA_VALIDATED, N.NETRXF_MORE_DATA, N.NETRXF_EXTRA_INFO, N.NETRXF_GSO_PREFIX],
    [N.NETRXF_csum_blank, N.NETRXF_data_validated, N.NETRXF_more_data, N.NETRXF_extra_info, N.NETRXF_gso_prefix],
    'upper-case RX aliases',
  );
  t.same(
    [
      N.XEN_NETIF_EXTRA_TYPE_NONE,
      N.XEN_NETIF_EXTRA_TYPE_GSO,
      N.XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
      N.XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
      N.XEN_NETIF_EXTRA_TYPE_HASH,
      N.XEN_NETIF_EXTRA_TYPE_MAX,
    ],
    [0, 1, 2, 3, 4, 5],
  );
  t.equal(N.XEN_NETIF_EXTRA_FLAG_MORE, 1);
  t.same([N.XEN_NETIF_GSO_TYPE_NONE, N.XEN_NETIF_GSO_TYPE_TCPV4, N.XEN_NETIF_GSO_TYPE_TCPV6], [0, 1, 2]);
  t.same([N.NETIF_RSP_DROPPED, N.NETIF_RSP_ERROR, N.NETIF_RSP_OKAY, N.NETIF_RSP_NULL], [-2, -1, 0, 1]);
});

t.test('netif_tx_request: exact bytes and round trip', async (t) => {
  const dv = new DataView(new ArrayBuffer(32));
  N.writeTxRequest(dv, 4, 0x01020304, 0x0506, N.NETTXF_more_data | N.NETTXF_csum_blank, 0x0708, 0x090a);
  t.same(bytes(dv, 4, 12), [4, 3, 2, 1, 6, 5, 5, 0, 8, 7, 0x0a, 9], 'gref@0 offset@4 flags@6 id@8 size@10, LE');
  const out = N.newTxRequest();
  t.equal(N.readTxRequest(dv, 4, out), out, 'returns the object it was given');
  t.same(out, { gref: 0x01020304, offset: 0x0506, flags: 5, id: 0x0708, size: 0x090a });
  const random = rng(7);
  for (let i = 0; i < 2000; i++) {
    const v = [(random() * 2 ** 32) >>> 0, (random() * 65536) | 0, (random() * 65536) | 0, (random() * 65536) | 0, (random() * 65536) | 0] as const;
    N.writeTxRequest(dv, 0, ...v);
    N.readTxRequest(dv, 0, out);
    if (out.gref !== v[0] || out.offset !== v[1] || out.flags !== v[2] || out.id !== v[3] || out.size !== v[4]) {
      t.fail(`round trip ${v.join(',')}`);
      break;
    }
  }
  N.writeTxRequest(dv, 0, 0xffffffff, 0xffff, 0xffff, 0xffff, 0xffff);
  t.same(N.readTxRequest(dv, 0, out), { gref: 0xffffffff, offset: 0xffff, flags: 0xffff, id: 0xffff, size: 0xffff }, 'all-ones stay unsigned');
});

t.test('netif_tx_response: 4 bytes, signed status, rest of slot untouched', async (t) => {
  const dv = new DataView(new ArrayBuffer(12));
  new Uint8Array(dv.buffer).fill(0xcc);
  N.writeTxResponse(dv, 0, 0x1234, N.NETIF_RSP_DROPPED);
  t.same(bytes(dv, 0, 12), [0x34, 0x12, 0xfe, 0xff, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc]);
  const out = N.newTxResponse();
  t.same(N.readTxResponse(dv, 0, out), { id: 0x1234, status: -2 });
  for (const s of [N.NETIF_RSP_ERROR, N.NETIF_RSP_OKAY, N.NETIF_RSP_NULL, 32767, -32768]) {
    N.writeTxResponse(dv, 0, 9, s);
    t.equal(N.readTxResponse(dv, 0, out).status, s);
  }
});

t.test('netif_rx_request and netif_rx_response', async (t) => {
  const dv = new DataView(new ArrayBuffer(16));
  new Uint8Array(dv.buffer).fill(0xcc);
  N.writeRxRequest(dv, 8, 0xbeef, 0x11223344);
  t.same(bytes(dv, 8, 8), [0xef, 0xbe, 0, 0, 0x44, 0x33, 0x22, 0x11], 'id@0 pad@2 (zeroed) gref@4');
  const rq = N.newRxRequest();
  t.same(N.readRxRequest(dv, 8, rq), { id: 0xbeef, gref: 0x11223344 });

  N.writeRxResponse(dv, 0, 0x0102, 2, N.NETRXF_csum_blank | N.NETRXF_data_validated | N.NETRXF_more_data, 1514);
  t.same(bytes(dv, 0, 8), [2, 1, 2, 0, 7, 0, 0xea, 0x05], 'id@0 offset@2 flags@4 status@6');
  const rs = N.newRxResponse();
  t.same(N.readRxResponse(dv, 0, rs), { id: 0x0102, offset: 2, flags: 7, status: 1514 });
  N.writeRxResponse(dv, 0, 1, 0, 0, N.NETIF_RSP_ERROR);
  t.equal(N.readRxResponse(dv, 0, rs).status, -1, 'negative status');
  const random = rng(11);
  for (let i = 0; i < 2000; i++) {
    const id = (random() * 65536) | 0;
    const off = (random() * 65536) | 0;
    const fl = (random() * 65536) | 0;
    const st = ((random() * 65536) | 0) - 32768;
    N.writeRxResponse(dv, 0, id, off, fl, st);
    N.readRxResponse(dv, 0, rs);
    if (rs.id !== id || rs.offset !== off || rs.flags !== fl || rs.status !== st) {
      t.fail('rx response round trip');
      break;
    }
    const g = (random() * 2 ** 32) >>> 0;
    N.writeRxRequest(dv, 8, id, g);
    if (N.readRxRequest(dv, 8, rq).gref !== g || rq.id !== id) {
      t.fail('rx request round trip');
      break;
    }
  }
});

t.test('netif_extra_info: every union member', async (t) => {
  const dv = new DataView(new ArrayBuffer(24));
  const out = N.newExtraInfo();
  const addr = out.mcastAddr;

  N.writeExtraInfo(dv, 8, {
    type: N.XEN_NETIF_EXTRA_TYPE_GSO,
    flags: N.XEN_NETIF_EXTRA_FLAG_MORE,
    gsoSize: 1448,
    gsoType: N.XEN_NETIF_GSO_TYPE_TCPV6,
    gsoFeatures: 0x0102,
  });
  t.same(bytes(dv, 8, 8), [1, 1, 0xa8, 0x05, 2, 0, 2, 1], 'type@0 flags@1 gso.size@2 gso.type@4 gso.pad@5 gso.features@6');
  N.readExtraInfo(dv, 8, out);
  t.same([out.type, out.flags, out.gsoSize, out.gsoType, out.gsoFeatures], [1, 1, 1448, 2, 0x0102]);

  N.writeGsoExtra(dv, 0, 0, 9000, N.XEN_NETIF_GSO_TYPE_TCPV4, 0);
  t.same(bytes(dv, 0, 8), [1, 0, 0x28, 0x23, 1, 0, 0, 0]);

  N.writeExtraInfo(dv, 8, { type: N.XEN_NETIF_EXTRA_TYPE_MCAST_ADD, flags: 0, mcastAddr: Uint8Array.of(0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa) });
  t.same(bytes(dv, 8, 8), [2, 0, 0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa], 'mcast.addr@2');
  t.equal(N.readExtraInfo(dv, 8, out), out);
  t.equal(out.mcastAddr, addr, 'mcastAddr array reused, not replaced');
  t.same([...out.mcastAddr], [0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa]);
  N.writeExtraInfo(dv, 8, { type: N.XEN_NETIF_EXTRA_TYPE_MCAST_DEL, flags: 0 });
  t.same(bytes(dv, 8, 8), [3, 0, 0, 0, 0, 0, 0, 0], 'missing address written as zeros');

  N.writeExtraInfo(dv, 16, {
    type: N.XEN_NETIF_EXTRA_TYPE_HASH,
    flags: 0,
    hashType: N._XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
    hashAlgorithm: N.XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
    hashValue: 0xa1b2c3d4,
  });
  t.same(bytes(dv, 16, 8), [4, 0, 1, 1, 0xd4, 0xc3, 0xb2, 0xa1], 'hash.type@2 hash.algorithm@3 hash.value@4 LE');
  N.readExtraInfo(dv, 16, out);
  t.same([out.type, out.hashType, out.hashAlgorithm, out.hashValue], [4, 1, 1, 0xa1b2c3d4]);
  // The same 8 bytes seen through the other union members.
  t.equal(out.gsoSize, 0x0101, 'gso view of a hash extra is the raw bytes');
  t.same([...out.mcastAddr], [1, 1, 0xd4, 0xc3, 0xb2, 0xa1]);

  new Uint8Array(dv.buffer).fill(0x77);
  N.writeExtraInfo(dv, 0, { type: 9, flags: 0 });
  t.same(bytes(dv, 0, 8), [9, 0, 0, 0, 0, 0, 0, 0], 'unknown type: zeroed union');
  N.writeExtraInfo(dv, 8, { type: N.XEN_NETIF_EXTRA_TYPE_GSO, flags: 0 });
  t.same(bytes(dv, 8, 8), [1, 0, 0, 0, 0, 0, 0, 0], 'defaults are 0, pad cleared');

  const random = rng(3);
  for (let i = 0; i < 1000; i++) {
    const e = {
      type: N.XEN_NETIF_EXTRA_TYPE_GSO,
      flags: (random() * 256) | 0,
      gsoSize: (random() * 65536) | 0,
      gsoType: (random() * 256) | 0,
      gsoFeatures: (random() * 65536) | 0,
    };
    N.writeExtraInfo(dv, 0, e);
    N.readExtraInfo(dv, 0, out);
    if (out.type !== e.type || out.flags !== e.flags || out.gsoSize !== e.gsoSize || out.gsoType !== e.gsoType || out.gsoFeatures !== e.gsoFeatures) {
      t.fail('gso round trip');
      break;
    }
    const h = (random() * 2 ** 32) >>> 0;
    N.writeHashExtra(dv, 0, 1, 3, 1, h);
    if (N.readExtraInfo(dv, 0, out).hashValue !== h || out.flags !== 1 || out.hashType !== 3) {
      t.fail('hash round trip');
      break;
    }
  }
});

t.test('an extra overlays the request id field, so it fits either slot kind', async (t) => {
  const tx = new DataView(new ArrayBuffer(N.NETIF_TX_SLOT));
  N.writeTxRequest(tx, 0, 1, 2, 3, 4, 5);
  N.writeGsoExtra(tx, 0, 0, 1448, 1, 0);
  t.same(N.readTxRequest(tx, 0, N.newTxRequest()).size, 5, 'TX: bytes past 8 untouched');
  const rx = new DataView(new ArrayBuffer(N.NETIF_RX_SLOT));
  N.writeGsoExtra(rx, 0, 0, 1448, 1, 0);
  t.equal(N.readExtraInfo(rx, 0, N.newExtraInfo()).gsoSize, 1448, 'RX: all 8 bytes in an 8-byte slot');
});
