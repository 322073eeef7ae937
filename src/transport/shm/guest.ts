// SPDX-License-Identifier: MIT
// guest.ts — the guest's side of a shm domain: its pages, its grant table, its event-channel ports.
//
// A frontend (our test netfront) uses this to do what a Xen guest kernel does: allocate pages,
// grant them to the backend domain (gnttab_grant_foreign_access), end the grant, and allocate
// unbound event-channel ports. A grant entry is published like Xen's: frame and domid first,
// then the flags word that makes it valid.
import { EventFd } from '../../native/index.js';
import { GTF_permit_access, GTF_readonly } from '../types.js';
import { GRANT_ENTRY_BYTES, openDomainFile, PAGE, PORT_ENTRY_BYTES, PORT_FREE, PORT_UNBOUND, type DomainImage } from './domain.js';
import { EventFdChannel } from './evtchn.js';

export class ShmGuestDomain {
  readonly domid: number;
  private nextPage = 0;
  private readonly freePages: number[] = [];
  private readonly freeGrefs: number[] = [];
  private nextGref = 8; // Xen reserves the first grant entries; keep the habit.
  private readonly channels = new Map<number, EventFdChannel>();

  private constructor(readonly img: DomainImage) {
    this.domid = img.geo.domid;
    img.dv.setUint32(24, process.pid, true);
  }

  static open(memPath: string, domid: number): ShmGuestDomain {
    return new ShmGuestDomain(openDomainFile(memPath, domid));
  }

  get pageCount(): number {
    return this.img.geo.nrPages;
  }

  allocPage(): number {
    const p = this.freePages.pop();
    if (p !== undefined) return p;
    if (this.nextPage >= this.img.geo.nrPages) throw new Error(`domain ${this.domid}: out of pages (${this.img.geo.nrPages})`);
    return this.nextPage++;
  }

  freePage(page: number): void {
    this.freePages.push(page);
  }

  /** Byte offset of a page inside img.region.buffer. */
  pageOffset(page: number): number {
    return this.img.geo.pagesOff + page * PAGE;
  }

  pageView(page: number): Uint8Array {
    return new Uint8Array(this.img.region.buffer, this.pageOffset(page), PAGE);
  }

  grantAccess(page: number, toDomid: number, readonly: boolean): number {
    const gref = this.freeGrefs.pop() ?? this.nextGref++;
    if (gref >= this.img.geo.nrGrants) throw new Error(`domain ${this.domid}: grant table full (${this.img.geo.nrGrants})`);
    this.writeGrant(gref, (readonly ? GTF_readonly : 0) | GTF_permit_access, toDomid, page);
    return gref;
  }

  /** Write a raw grant entry (tests use this to forge hostile entries). */
  writeGrant(gref: number, flags: number, domid: number, frame: number): void {
    const off = this.img.geo.grantOff + gref * GRANT_ENTRY_BYTES;
    this.img.dv.setUint32(off + 4, frame, true);
    this.img.dv.setUint16(off + 2, domid, true);
    this.img.dv.setUint16(off, flags, true);
  }

  endAccess(gref: number): void {
    this.img.dv.setUint16(this.img.geo.grantOff + gref * GRANT_ENTRY_BYTES, 0, true);
    this.freeGrefs.push(gref);
  }

  /** EVTCHNOP_alloc_unbound: a port the domain `remoteDomid` may bind. */
  allocUnboundPort(remoteDomid: number): { port: number; channel: EventFdChannel } {
    const geo = this.img.geo;
    for (let port = 1; port < geo.nrPorts; port++) {
      const off = geo.portOff + port * PORT_ENTRY_BYTES;
      if (this.img.dv.getUint32(off, true) !== PORT_FREE || this.channels.has(port)) continue;
      const self = EventFd.create();
      const peer = EventFd.create();
      this.img.dv.setUint32(off + 4, remoteDomid, true);
      this.img.dv.setInt32(off + 8, self.fd, true);
      this.img.dv.setInt32(off + 12, peer.fd, true);
      this.img.dv.setUint32(off, PORT_UNBOUND, true);
      const channel = new EventFdChannel(port, self, peer);
      this.channels.set(port, channel);
      return { port, channel };
    }
    throw new Error(`domain ${this.domid}: no free event-channel port`);
  }

  closePort(port: number): void {
    this.channels.get(port)?.close();
    this.channels.delete(port);
    this.img.dv.setUint32(this.img.geo.portOff + port * PORT_ENTRY_BYTES, PORT_FREE, true);
  }

  close(): void {
    for (const port of [...this.channels.keys()]) this.closePort(port);
    this.img.close();
  }
}
