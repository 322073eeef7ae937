// SPDX-License-Identifier: MIT
// layout.ts — sizes and field offsets of every shared-memory struct the ring code touches.
//
// This is the one place these numbers are written down. sring.ts and netif.ts read fields
// through the flat constants below; LAYOUT restates them as a table keyed by C struct and member
// name, which test/ring/layout-xen.test.ts turns into a C program compiled against the real Xen
// public headers (Debian libxen-dev) to compare every offset and size. All fields are
// little-endian. Sources: xen/include/public/io/ring.h (DEFINE_RING_TYPES),
// io/netif.h, grant_table.h; see docs reference xen-netif.md §2.1–2.2.

// struct <name>_sring: the 64-byte header in front of the slots.
export const SRING_REQ_PROD = 0; // u32, written by the frontend
export const SRING_REQ_EVENT = 4; // u32, written by the backend
export const SRING_RSP_PROD = 8; // u32, written by the backend
export const SRING_RSP_EVENT = 12; // u32, written by the frontend
export const SRING_PVT = 16; // 4-byte union (netif: smartpoll_active u8)
export const SRING_PVT_BYTES = 4;
export const SRING_PAD = 20;
export const SRING_PAD_BYTES = 44;
export const SRING_RING = 64; // offsetof(ring): the first slot

// struct netif_tx_request (12 bytes; also the TX slot size)
export const TX_REQ_GREF = 0; // u32 grant_ref_t
export const TX_REQ_OFFSET = 4; // u16
export const TX_REQ_FLAGS = 6; // u16 NETTXF_*
export const TX_REQ_ID = 8; // u16
export const TX_REQ_SIZE = 10; // u16
export const TX_REQ_BYTES = 12;

// struct netif_tx_response (4 bytes inside a 12-byte slot)
export const TX_RSP_ID = 0; // u16
export const TX_RSP_STATUS = 2; // s16 NETIF_RSP_*
export const TX_RSP_BYTES = 4;

// struct netif_rx_request (8 bytes; also the RX slot size)
export const RX_REQ_ID = 0; // u16
export const RX_REQ_PAD = 2; // u16
export const RX_REQ_GREF = 4; // u32 grant_ref_t
export const RX_REQ_BYTES = 8;

// struct netif_rx_response (8 bytes)
export const RX_RSP_ID = 0; // u16
export const RX_RSP_OFFSET = 2; // u16
export const RX_RSP_FLAGS = 4; // u16 NETRXF_*
export const RX_RSP_STATUS = 6; // s16: bytes (>0) or NETIF_RSP_* (<0)
export const RX_RSP_BYTES = 8;

// struct netif_extra_info (8 bytes; fits both slot kinds, overlays the request id)
export const EXTRA_TYPE = 0; // u8 XEN_NETIF_EXTRA_TYPE_*
export const EXTRA_FLAGS = 1; // u8 XEN_NETIF_EXTRA_FLAG_*
export const EXTRA_U = 2; // 6-byte union
export const EXTRA_U_BYTES = 6;
export const EXTRA_GSO_SIZE = 2; // u16 MSS
export const EXTRA_GSO_TYPE = 4; // u8 XEN_NETIF_GSO_TYPE_*
export const EXTRA_GSO_PAD = 5; // u8
export const EXTRA_GSO_FEATURES = 6; // u16
export const EXTRA_MCAST_ADDR = 2; // u8[6]
export const EXTRA_MCAST_ADDR_BYTES = 6;
export const EXTRA_HASH_TYPE = 2; // u8: a _XEN_NETIF_CTRL_HASH_TYPE_* bit number
export const EXTRA_HASH_ALGORITHM = 3; // u8
export const EXTRA_HASH_VALUE = 4; // u8[4], read as a little-endian u32
export const EXTRA_HASH_VALUE_BYTES = 4;
export const EXTRA_BYTES = 8;

// struct grant_entry_v1 (8 bytes)
export const GNT_V1_FLAGS = 0; // u16 GTF_*
export const GNT_V1_DOMID = 2; // u16 domid_t
export const GNT_V1_FRAME = 4; // u32
export const GNT_V1_BYTES = 8;

export interface FieldLayout {
  readonly offset: number;
  readonly bytes: number;
  /** Scalar members only: how the codecs read it (arrays and unions have none). */
  readonly type?: 'u8' | 'u16' | 's16' | 'u32';
}

export interface StructLayout {
  /** The C type, as written after `sizeof(`. */
  readonly cType: string;
  /** sizeof(cType); for a ring page type, the header size offsetof(cType, ring) instead. */
  readonly bytes: number;
  readonly bytesIs: 'sizeof' | 'offsetof(ring)';
  /** Keyed by the C member designator (`u.gso.size`), as offsetof() accepts it. */
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

const f = (offset: number, bytes: number): FieldLayout => ({ offset, bytes });
const u8 = (offset: number): FieldLayout => ({ offset, bytes: 1, type: 'u8' });
const u16 = (offset: number): FieldLayout => ({ offset, bytes: 2, type: 'u16' });
const s16 = (offset: number): FieldLayout => ({ offset, bytes: 2, type: 's16' });
const u32 = (offset: number): FieldLayout => ({ offset, bytes: 4, type: 'u32' });

function sringLayout(cType: string, entryBytes: number) {
  return {
    cType,
    bytes: SRING_RING,
    bytesIs: 'offsetof(ring)',
    fields: {
      req_prod: u32(SRING_REQ_PROD),
      req_event: u32(SRING_REQ_EVENT),
      rsp_prod: u32(SRING_RSP_PROD),
      rsp_event: u32(SRING_RSP_EVENT),
      pvt: f(SRING_PVT, SRING_PVT_BYTES),
      'pvt.netif.smartpoll_active': u8(SRING_PVT),
      __pad: f(SRING_PAD, SRING_PAD_BYTES),
      // ring[1] in C: sizeof(member) is one slot.
      ring: f(SRING_RING, entryBytes),
    },
  } as const satisfies StructLayout;
}

/** Every shared struct, for the layout tests and for readers. */
export const LAYOUT = {
  txSring: sringLayout('struct netif_tx_sring', TX_REQ_BYTES),
  rxSring: sringLayout('struct netif_rx_sring', RX_REQ_BYTES),
  // One ring slot: union { req; rsp; } — the slot size is the larger of the two.
  txSlot: {
    cType: 'union netif_tx_sring_entry',
    bytes: TX_REQ_BYTES,
    bytesIs: 'sizeof',
    fields: { req: f(0, TX_REQ_BYTES), rsp: f(0, TX_RSP_BYTES) },
  },
  rxSlot: {
    cType: 'union netif_rx_sring_entry',
    bytes: RX_REQ_BYTES,
    bytesIs: 'sizeof',
    fields: { req: f(0, RX_REQ_BYTES), rsp: f(0, RX_RSP_BYTES) },
  },
  txRequest: {
    cType: 'struct netif_tx_request',
    bytes: TX_REQ_BYTES,
    bytesIs: 'sizeof',
    fields: {
      gref: u32(TX_REQ_GREF),
      offset: u16(TX_REQ_OFFSET),
      flags: u16(TX_REQ_FLAGS),
      id: u16(TX_REQ_ID),
      size: u16(TX_REQ_SIZE),
    },
  },
  txResponse: {
    cType: 'struct netif_tx_response',
    bytes: TX_RSP_BYTES,
    bytesIs: 'sizeof',
    fields: { id: u16(TX_RSP_ID), status: s16(TX_RSP_STATUS) },
  },
  rxRequest: {
    cType: 'struct netif_rx_request',
    bytes: RX_REQ_BYTES,
    bytesIs: 'sizeof',
    fields: { id: u16(RX_REQ_ID), pad: u16(RX_REQ_PAD), gref: u32(RX_REQ_GREF) },
  },
  rxResponse: {
    cType: 'struct netif_rx_response',
    bytes: RX_RSP_BYTES,
    bytesIs: 'sizeof',
    fields: {
      id: u16(RX_RSP_ID),
      offset: u16(RX_RSP_OFFSET),
      flags: u16(RX_RSP_FLAGS),
      status: s16(RX_RSP_STATUS),
    },
  },
  extraInfo: {
    cType: 'struct netif_extra_info',
    bytes: EXTRA_BYTES,
    bytesIs: 'sizeof',
    fields: {
      type: u8(EXTRA_TYPE),
      flags: u8(EXTRA_FLAGS),
      u: f(EXTRA_U, EXTRA_U_BYTES),
      'u.gso.size': u16(EXTRA_GSO_SIZE),
      'u.gso.type': u8(EXTRA_GSO_TYPE),
      'u.gso.pad': u8(EXTRA_GSO_PAD),
      'u.gso.features': u16(EXTRA_GSO_FEATURES),
      'u.mcast.addr': f(EXTRA_MCAST_ADDR, EXTRA_MCAST_ADDR_BYTES),
      'u.hash.type': u8(EXTRA_HASH_TYPE),
      'u.hash.algorithm': u8(EXTRA_HASH_ALGORITHM),
      'u.hash.value': f(EXTRA_HASH_VALUE, EXTRA_HASH_VALUE_BYTES),
      'u.pad': f(EXTRA_U, 6),
    },
  },
  grantEntryV1: {
    cType: 'struct grant_entry_v1',
    bytes: GNT_V1_BYTES,
    bytesIs: 'sizeof',
    fields: { flags: u16(GNT_V1_FLAGS), domid: u16(GNT_V1_DOMID), frame: u32(GNT_V1_FRAME) },
  },
} as const satisfies Record<string, StructLayout>;

/** Rings as ring.h sizes them: __CONST_RING_SIZE(cName, 4096). */
export const RING_LAYOUT = {
  tx: { cName: 'netif_tx', entryBytes: TX_REQ_BYTES, pageBytes: 4096, size: 256 },
  rx: { cName: 'netif_rx', entryBytes: RX_REQ_BYTES, pageBytes: 4096, size: 256 },
} as const;
