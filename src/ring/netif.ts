// SPDX-License-Identifier: MIT
// netif.ts — netif.h constants and the little-endian codecs for TX/RX slots and extra-info slots.
//
// Readers decode from a DataView over a *private copy* of a slot (BackRing.copyRequest /
// FrontRing.copyResponse) into a caller-owned object that is reused for every packet; writers
// encode straight into a ring slot (`sring.dv`, `sring.slotOffset(idx)`) from their arguments.
// Nothing here allocates. Constant names are netif.h's own, so they can be grepped against it;
// test/ring/layout-xen.test.ts compares every value with the installed Xen headers.
// Watch the flag bit orders: csum_blank/data_validated are bits 0/1 on TX but 1/0 on RX.
// Read next: xen-netif.md §2.2–2.5 (wire format), layout.ts (the offsets used here).
import {
  EXTRA_FLAGS,
  EXTRA_GSO_FEATURES,
  EXTRA_GSO_PAD,
  EXTRA_GSO_SIZE,
  EXTRA_GSO_TYPE,
  EXTRA_HASH_ALGORITHM,
  EXTRA_HASH_TYPE,
  EXTRA_HASH_VALUE,
  EXTRA_MCAST_ADDR,
  EXTRA_MCAST_ADDR_BYTES,
  EXTRA_TYPE,
  EXTRA_U,
  EXTRA_U_BYTES,
  RX_REQ_BYTES,
  RX_REQ_GREF,
  RX_REQ_ID,
  RX_REQ_PAD,
  RX_RSP_FLAGS,
  RX_RSP_ID,
  RX_RSP_OFFSET,
  RX_RSP_STATUS,
  TX_REQ_BYTES,
  TX_REQ_FLAGS,
  TX_REQ_GREF,
  TX_REQ_ID,
  TX_REQ_OFFSET,
  TX_REQ_SIZE,
  TX_RSP_ID,
  TX_RSP_STATUS,
} from './layout.js';

/** Ring entry sizes (the union of request and response). */
export const NETIF_TX_SLOT = TX_REQ_BYTES;
export const NETIF_RX_SLOT = RX_REQ_BYTES;
/** __CONST_RING_SIZE(netif_tx|netif_rx, 4096): both 256. */
export const NETIF_RING_SIZE = 256;

export const XEN_NETIF_NR_SLOTS_MIN = 18;
export const XEN_NETIF_MAX_TX_SIZE = 0xffff;
export const ETH_HLEN = 14;

// Guest transmit: netif_tx_request.flags.
export const NETTXF_csum_blank = 1 << 0;
export const NETTXF_data_validated = 1 << 1;
export const NETTXF_more_data = 1 << 2;
export const NETTXF_extra_info = 1 << 3;

// Guest receive: netif_rx_response.flags. NB bits 0 and 1 are swapped relative to TX.
export const NETRXF_data_validated = 1 << 0;
export const NETRXF_csum_blank = 1 << 1;
export const NETRXF_more_data = 1 << 2;
export const NETRXF_extra_info = 1 << 3;
export const NETRXF_gso_prefix = 1 << 4; // deprecated

// Upper-case spellings of the same flags, for code that prefers them.
export const NETTXF_CSUM_BLANK = NETTXF_csum_blank;
export const NETTXF_DATA_VALIDATED = NETTXF_data_validated;
export const NETTXF_MORE_DATA = NETTXF_more_data;
export const NETTXF_EXTRA_INFO = NETTXF_extra_info;
export const NETRXF_DATA_VALIDATED = NETRXF_data_validated;
export const NETRXF_CSUM_BLANK = NETRXF_csum_blank;
export const NETRXF_MORE_DATA = NETRXF_more_data;
export const NETRXF_EXTRA_INFO = NETRXF_extra_info;
export const NETRXF_GSO_PREFIX = NETRXF_gso_prefix;

export const XEN_NETIF_EXTRA_TYPE_NONE = 0; // never valid on the wire
export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
export const XEN_NETIF_EXTRA_TYPE_HASH = 4;
export const XEN_NETIF_EXTRA_TYPE_MAX = 5;

export const XEN_NETIF_EXTRA_FLAG_MORE = 1 << 0;

export const XEN_NETIF_GSO_TYPE_NONE = 0;
export const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6 = 2;

// Hash extra: `type` is a bit *number*; the control ring uses the masks (1 << n).
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV4 = 0;
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = 1;
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV6 = 2;
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = 3;
export const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE = 0;
export const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ = 1;

export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
/** A "no response" placeholder: the status written for each extra-info slot. */
export const NETIF_RSP_NULL = 1;

export interface TxRequest {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}
export interface TxResponse {
  id: number;
  status: number;
}
export interface RxRequest {
  id: number;
  gref: number;
}
export interface RxResponse {
  id: number;
  offset: number;
  flags: number;
  status: number;
}
/** Every union view is decoded; `type` says which one is meaningful. */
export interface ExtraInfo {
  type: number;
  flags: number;
  gsoSize: number;
  gsoType: number;
  gsoFeatures: number;
  /** 6 bytes, reused across reads. */
  mcastAddr: Uint8Array;
  hashType: number;
  hashAlgorithm: number;
  hashValue: number;
}

// Factories give each reusable object its one shape (all fields present, in one order).
export function newTxRequest(): TxRequest {
  return { gref: 0, offset: 0, flags: 0, id: 0, size: 0 };
}
export function newTxResponse(): TxResponse {
  return { id: 0, status: 0 };
}
export function newRxRequest(): RxRequest {
  return { id: 0, gref: 0 };
}
export function newRxResponse(): RxResponse {
  return { id: 0, offset: 0, flags: 0, status: 0 };
}
export function newExtraInfo(): ExtraInfo {
  return {
    type: 0,
    flags: 0,
    gsoSize: 0,
    gsoType: 0,
    gsoFeatures: 0,
    mcastAddr: new Uint8Array(EXTRA_MCAST_ADDR_BYTES),
    hashType: 0,
    hashAlgorithm: 0,
    hashValue: 0,
  };
}

export function readTxRequest(dv: DataView, off: number, out: TxRequest): TxRequest {
  out.gref = dv.getUint32(off + TX_REQ_GREF, true);
  out.offset = dv.getUint16(off + TX_REQ_OFFSET, true);
  out.flags = dv.getUint16(off + TX_REQ_FLAGS, true);
  out.id = dv.getUint16(off + TX_REQ_ID, true);
  out.size = dv.getUint16(off + TX_REQ_SIZE, true);
  return out;
}

export function writeTxRequest(
  dv: DataView,
  off: number,
  gref: number,
  offset: number,
  flags: number,
  id: number,
  size: number,
): void {
  dv.setUint32(off + TX_REQ_GREF, gref, true);
  dv.setUint16(off + TX_REQ_OFFSET, offset, true);
  dv.setUint16(off + TX_REQ_FLAGS, flags, true);
  dv.setUint16(off + TX_REQ_ID, id, true);
  dv.setUint16(off + TX_REQ_SIZE, size, true);
}

export function readTxResponse(dv: DataView, off: number, out: TxResponse): TxResponse {
  out.id = dv.getUint16(off + TX_RSP_ID, true);
  out.status = dv.getInt16(off + TX_RSP_STATUS, true);
  return out;
}

/** Writes the 4 bytes of netif_tx_response; the rest of the 12-byte slot is left as it was. */
export function writeTxResponse(dv: DataView, off: number, id: number, status: number): void {
  dv.setUint16(off + TX_RSP_ID, id, true);
  dv.setInt16(off + TX_RSP_STATUS, status, true);
}

export function readRxRequest(dv: DataView, off: number, out: RxRequest): RxRequest {
  out.id = dv.getUint16(off + RX_REQ_ID, true);
  out.gref = dv.getUint32(off + RX_REQ_GREF, true);
  return out;
}

export function writeRxRequest(dv: DataView, off: number, id: number, gref: number): void {
  dv.setUint16(off + RX_REQ_ID, id, true);
  dv.setUint16(off + RX_REQ_PAD, 0, true);
  dv.setUint32(off + RX_REQ_GREF, gref, true);
}

export function readRxResponse(dv: DataView, off: number, out: RxResponse): RxResponse {
  out.id = dv.getUint16(off + RX_RSP_ID, true);
  out.offset = dv.getUint16(off + RX_RSP_OFFSET, true);
  out.flags = dv.getUint16(off + RX_RSP_FLAGS, true);
  out.status = dv.getInt16(off + RX_RSP_STATUS, true);
  return out;
}

/** Write into the slot of the request being answered (RX responses reuse the request's index). */
export function writeRxResponse(dv: DataView, off: number, id: number, offset: number, flags: number, status: number): void {
  dv.setUint16(off + RX_RSP_ID, id, true);
  dv.setUint16(off + RX_RSP_OFFSET, offset, true);
  dv.setUint16(off + RX_RSP_FLAGS, flags, true);
  dv.setInt16(off + RX_RSP_STATUS, status, true);
}

export function readExtraInfo(dv: DataView, off: number, out: ExtraInfo): ExtraInfo {
  out.type = dv.getUint8(off + EXTRA_TYPE);
  out.flags = dv.getUint8(off + EXTRA_FLAGS);
  out.gsoSize = dv.getUint16(off + EXTRA_GSO_SIZE, true);
  out.gsoType = dv.getUint8(off + EXTRA_GSO_TYPE);
  out.gsoFeatures = dv.getUint16(off + EXTRA_GSO_FEATURES, true);
  const addr = out.mcastAddr;
  for (let i = 0; i < EXTRA_MCAST_ADDR_BYTES; i++) addr[i] = dv.getUint8(off + EXTRA_MCAST_ADDR + i);
  out.hashType = dv.getUint8(off + EXTRA_HASH_TYPE);
  out.hashAlgorithm = dv.getUint8(off + EXTRA_HASH_ALGORITHM);
  out.hashValue = dv.getUint32(off + EXTRA_HASH_VALUE, true);
  return out;
}

/** A GSO extra (gso.pad written as 0). */
export function writeGsoExtra(
  dv: DataView,
  off: number,
  flags: number,
  gsoSize: number,
  gsoType: number,
  gsoFeatures: number,
): void {
  dv.setUint8(off + EXTRA_TYPE, XEN_NETIF_EXTRA_TYPE_GSO);
  dv.setUint8(off + EXTRA_FLAGS, flags);
  dv.setUint16(off + EXTRA_GSO_SIZE, gsoSize, true);
  dv.setUint8(off + EXTRA_GSO_TYPE, gsoType);
  dv.setUint8(off + EXTRA_GSO_PAD, 0);
  dv.setUint16(off + EXTRA_GSO_FEATURES, gsoFeatures, true);
}

/** A HASH extra; hashType is a _XEN_NETIF_CTRL_HASH_TYPE_* bit number. */
export function writeHashExtra(
  dv: DataView,
  off: number,
  flags: number,
  hashType: number,
  hashAlgorithm: number,
  hashValue: number,
): void {
  dv.setUint8(off + EXTRA_TYPE, XEN_NETIF_EXTRA_TYPE_HASH);
  dv.setUint8(off + EXTRA_FLAGS, flags);
  dv.setUint8(off + EXTRA_HASH_TYPE, hashType);
  dv.setUint8(off + EXTRA_HASH_ALGORITHM, hashAlgorithm);
  dv.setUint32(off + EXTRA_HASH_VALUE, hashValue, true);
}

/**
 * Write an extra-info slot; the union member written is the one `type` selects (GSO, MCAST_*,
 * HASH), missing fields as 0. Any other type gets a zeroed union.
 */
export function writeExtraInfo(dv: DataView, off: number, e: Partial<ExtraInfo> & { type: number; flags: number }): void {
  switch (e.type) {
    case XEN_NETIF_EXTRA_TYPE_GSO:
      writeGsoExtra(dv, off, e.flags, e.gsoSize ?? 0, e.gsoType ?? 0, e.gsoFeatures ?? 0);
      return;
    case XEN_NETIF_EXTRA_TYPE_HASH:
      writeHashExtra(dv, off, e.flags, e.hashType ?? 0, e.hashAlgorithm ?? 0, e.hashValue ?? 0);
      return;
    case XEN_NETIF_EXTRA_TYPE_MCAST_ADD:
    case XEN_NETIF_EXTRA_TYPE_MCAST_DEL: {
      dv.setUint8(off + EXTRA_TYPE, e.type);
      dv.setUint8(off + EXTRA_FLAGS, e.flags);
      const addr = e.mcastAddr;
      for (let i = 0; i < EXTRA_MCAST_ADDR_BYTES; i++) dv.setUint8(off + EXTRA_MCAST_ADDR + i, addr?.[i] ?? 0);
      return;
    }
    default:
      dv.setUint8(off + EXTRA_TYPE, e.type);
      dv.setUint8(off + EXTRA_FLAGS, e.flags);
      for (let i = 0; i < EXTRA_U_BYTES; i++) dv.setUint8(off + EXTRA_U + i, 0);
  }
}
