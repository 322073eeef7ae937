// SPDX-License-Identifier: MIT
// wire.ts — the xenstore wire protocol (xen/include/public/io/xs_wire.h): header, types, errors, framing.
//
// Every message in either direction is a 16-byte little-endian header {type, req_id, tx_id, len}
// followed by `len` payload bytes, len <= XENSTORE_PAYLOAD_MAX (4096). Payloads are mostly
// nul-terminated strings; a WRITE value and a READ reply are raw bytes. Errors travel as the
// errno *name* ("ENOENT\0") in an XS_ERROR reply that echoes req_id and tx_id. A peer that sends
// a longer len has broken the protocol: xenstored drops the connection (docs/misc/xenstore.txt),
// so FrameDecoder throws and the owner closes that one connection.
// Numbers and names checked against Xen 4.17.7 and current staging; see test/xenstore/wire.test.ts.

export const HEADER_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

/** enum xsd_sockmsg_type. 20 was XS_RESTRICT (removed in 4.9); 23..26 are newer than 4.17. */
export const XsType = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
} as const;
/** XS_DEBUG is the old name of XS_CONTROL. */
export const XS_DEBUG = XsType.CONTROL;
export type XsTypeName = keyof typeof XsType;

const TYPE_NAMES = new Map<number, XsTypeName>(Object.entries(XsType).map(([k, v]) => [v, k as XsTypeName]));
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `UNKNOWN(${type})`;
}
export function isKnownType(type: number): boolean {
  return TYPE_NAMES.has(type);
}

/** xsd_errors[] in xs_wire.h order; an errno outside this list is sent as EINVAL. */
export const XSD_ERRORS = [
  'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO',
  'ENOTEMPTY', 'ENOSYS', 'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG', 'EPERM',
] as const;
export type XsErrorName = (typeof XSD_ERRORS)[number];
export function isXsErrorName(s: string): s is XsErrorName {
  return (XSD_ERRORS as readonly string[]).includes(s);
}

/** A xenstore failure: `code` is the xenstore error name (or a socket-level code such as ECONNRESET). */
export class XenstoreError extends Error {
  constructor(
    readonly code: string,
    message?: string,
    readonly op?: string,
    readonly path?: string,
  ) {
    super(message ?? code);
    this.name = 'XenstoreError';
  }
}

export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

export function encodeMessage(type: number, reqId: number, txId: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt32LE(type >>> 0, 0);
  out.writeUInt32LE(reqId >>> 0, 4);
  out.writeUInt32LE(txId >>> 0, 8);
  out.writeUInt32LE(payload.length, 12);
  payload.copy(out, HEADER_SIZE);
  return out;
}

/** Thrown by FrameDecoder when the peer announces a payload longer than the limit. */
export class FrameError extends Error {
  readonly code = 'EPROTO';
}

/**
 * Reassembles messages from a byte stream: chunks may split a header or payload anywhere, or
 * carry several messages. Payloads are copied out, so they never pin a large socket chunk.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(private readonly maxPayload: number = XENSTORE_PAYLOAD_MAX) {}

  push(chunk: Buffer): XsMessage[] {
    if (this.failed) throw new FrameError('xenstore stream already broken');
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: XsMessage[] = [];
    let off = 0;
    while (this.buf.length - off >= HEADER_SIZE) {
      const len = this.buf.readUInt32LE(off + 12);
      if (len > this.maxPayload) {
        this.failed = true;
        this.buf = Buffer.alloc(0);
        throw new FrameError(`xenstore message payload ${len} exceeds ${this.maxPayload}`);
      }
      if (this.buf.length - off < HEADER_SIZE + len) break;
      out.push({
        type: this.buf.readUInt32LE(off),
        reqId: this.buf.readUInt32LE(off + 4),
        txId: this.buf.readUInt32LE(off + 8),
        payload: Buffer.from(this.buf.subarray(off + HEADER_SIZE, off + HEADER_SIZE + len)),
      });
      off += HEADER_SIZE + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
    return out;
  }

  /** Bytes received but not yet part of a whole message. */
  get pending(): number {
    return this.buf.length;
  }
}

/** The nul-terminated strings of a payload; bytes after the last nul are ignored (get_strings). */
export function splitStrings(payload: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      out.push(payload.toString('latin1', start, i));
      start = i + 1;
    }
  }
  return out;
}

/** xenstored's onearg(): exactly one string, its nul the last byte; otherwise undefined. */
export function oneArg(payload: Buffer): string | undefined {
  if (payload.length === 0 || payload.indexOf(0) !== payload.length - 1) return undefined;
  return payload.toString('latin1', 0, payload.length - 1);
}

/** Each string followed by a nul. Paths and tokens are ASCII; latin1 keeps bytes 1:1 either way. */
export function joinStrings(...parts: (string | Buffer)[]): Buffer {
  const bufs: Buffer[] = [];
  for (const p of parts) {
    bufs.push(typeof p === 'string' ? Buffer.from(p, 'latin1') : p, Buffer.alloc(1));
  }
  return Buffer.concat(bufs);
}
