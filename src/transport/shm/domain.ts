// SPDX-License-Identifier: MIT
// domain.ts — the shared-memory image of one shm "domain": header, grant table, port table, pages.
//
// In the shm transport a guest's memory is one file (normally under /dev/shm) that the guest's
// process and the backend both map. It stands for what Xen gives a netback: the guest's pages
// (reachable only through grants), its grant table and its event-channel ports.
//
//   page 0          header: magic, version, domid, nrGrants, nrPorts, nrPages, pid
//   grant table     nrGrants × grant_entry_v1 {flags u16, domid u16, frame u32}  (Xen's layout)
//   port table      nrPorts × {state u32, remoteDom u32, fdSelf i32, fdPeer i32}
//   pages           nrPages × 4 KiB of guest memory
//
// Everything after the header is written by the guest and therefore hostile to the backend: the
// backend validates the header once against the file size when it opens the file (openDomain),
// and copies each grant/port entry once before checking it. The geometry it uses afterwards is
// its own copy, never re-read.
import { statSync } from 'node:fs';
import { mapShared, type SharedRegion } from '../../native/index.js';

export const DOMAIN_MAGIC = 0x44584850; // "PHXD"
export const DOMAIN_VERSION = 1;
export const PAGE = 4096;
export const GRANT_ENTRY_BYTES = 8;
export const PORT_ENTRY_BYTES = 16;
export const PORT_FREE = 0;
export const PORT_UNBOUND = 1;
export const PORT_BOUND = 2;
/** Upper bounds a backend accepts from a domain header (keeps a hostile header from asking for absurd views). */
export const MAX_GRANTS = 1 << 16;
export const MAX_PORTS = 1024;
export const MAX_PAGES = 1 << 18; // 1 GiB of guest memory

export interface DomainGeometry {
  readonly domid: number;
  readonly nrGrants: number;
  readonly nrPorts: number;
  readonly nrPages: number;
  readonly grantOff: number;
  readonly portOff: number;
  readonly pagesOff: number;
  readonly bytes: number;
}

const roundUp = (n: number): number => Math.ceil(n / PAGE) * PAGE;

export function geometry(domid: number, nrGrants: number, nrPorts: number, nrPages: number): DomainGeometry {
  const grantOff = PAGE;
  const portOff = grantOff + roundUp(nrGrants * GRANT_ENTRY_BYTES);
  const pagesOff = portOff + roundUp(nrPorts * PORT_ENTRY_BYTES);
  return { domid, nrGrants, nrPorts, nrPages, grantOff, portOff, pagesOff, bytes: pagesOff + nrPages * PAGE };
}

export interface DomainImage {
  readonly geo: DomainGeometry;
  readonly region: SharedRegion;
  readonly dv: DataView;
  readonly u8: Uint8Array;
  close(): void;
}

/** Toolstack side: create a fresh domain file (trusted code; the guest fills it afterwards). */
export function createDomainFile(path: string, domid: number, opts: { nrGrants?: number; nrPorts?: number; nrPages: number }): DomainImage {
  const geo = geometry(domid, opts.nrGrants ?? 4096, opts.nrPorts ?? 64, opts.nrPages);
  const region = mapShared(path, { size: geo.bytes, create: true, exclusive: true });
  const dv = new DataView(region.buffer);
  dv.setUint32(0, DOMAIN_MAGIC, true);
  dv.setUint32(4, DOMAIN_VERSION, true);
  dv.setUint32(8, domid, true);
  dv.setUint32(12, geo.nrGrants, true);
  dv.setUint32(16, geo.nrPorts, true);
  dv.setUint32(20, geo.nrPages, true);
  return image(geo, region);
}

/**
 * Open an existing domain file. The header is read once and checked against the file size and
 * the expected domid; a domain that lies about itself is refused with a reason.
 */
export function openDomainFile(path: string, expectDomid: number): DomainImage {
  const size = statSync(path).size;
  if (size < PAGE) throw domainError(path, `file is ${size} bytes, smaller than the header page`);
  const region = mapShared(path, { size });
  try {
    const hdr = new DataView(region.buffer, 0, 32);
    const magic = hdr.getUint32(0, true);
    const version = hdr.getUint32(4, true);
    const domid = hdr.getUint32(8, true);
    const nrGrants = hdr.getUint32(12, true);
    const nrPorts = hdr.getUint32(16, true);
    const nrPages = hdr.getUint32(20, true);
    if (magic !== DOMAIN_MAGIC || version !== DOMAIN_VERSION) throw domainError(path, `bad magic/version ${magic.toString(16)}/${version}`);
    if (domid !== expectDomid) throw domainError(path, `header says domid ${domid}, expected ${expectDomid}`);
    if (nrGrants > MAX_GRANTS || nrPorts > MAX_PORTS || nrPages > MAX_PAGES) {
      throw domainError(path, `geometry out of bounds (grants ${nrGrants}, ports ${nrPorts}, pages ${nrPages})`);
    }
    const geo = geometry(domid, nrGrants, nrPorts, nrPages);
    if (geo.bytes > size) throw domainError(path, `geometry needs ${geo.bytes} bytes, file has ${size}`);
    return image(geo, region);
  } catch (e) {
    region.close();
    throw e;
  }
}

function image(geo: DomainGeometry, region: SharedRegion): DomainImage {
  return {
    geo,
    region,
    dv: new DataView(region.buffer),
    u8: new Uint8Array(region.buffer),
    close: () => region.close(),
  };
}

function domainError(path: string, why: string): Error {
  const e = new Error(`shm domain ${path}: ${why}`) as NodeJS.ErrnoException;
  e.code = 'EDOMAIN';
  e.path = path;
  return e;
}
