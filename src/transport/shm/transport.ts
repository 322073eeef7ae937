// SPDX-License-Identifier: MIT
// transport.ts — the shm transport, backend side: grants, event channels and xenstore without Xen.
//
// Where a domain's memory file is and which process runs it are facts the toolstack wrote into
// xenstore under /local/domain/<id>/shm (owned by dom0, read-only to the guest), so a guest
// cannot point the backend at somebody else's file or process. Everything inside the file is
// the guest's and is validated on use (see domain.ts, grants.ts).
import { EventFd, pidfdGetFd, watchExit } from '../../native/index.js';
import { XenstoreClient } from '../xenstore/client.js';
import type { EventChannel, GrantAccess, Transport } from '../types.js';
import { openDomainFile, PORT_BOUND, PORT_ENTRY_BYTES, PORT_UNBOUND } from './domain.js';
import { EventFdChannel } from './evtchn.js';
import { ShmGrantAccess } from './grants.js';

export class ShmTransport implements Transport {
  readonly kind = 'shm' as const;
  private nextPort = 1;
  private readonly channels = new Set<EventFdChannel>();

  private constructor(
    readonly xenstore: XenstoreClient,
    readonly selfDomid: number,
  ) {}

  static async connect(opts: { xenstoreSocket: string; selfDomid?: number }): Promise<ShmTransport> {
    const xs = await XenstoreClient.connect(opts.xenstoreSocket);
    return new ShmTransport(xs, opts.selfDomid ?? 0);
  }

  private async domainFacts(domid: number): Promise<{ mem: string; pid: number }> {
    const base = `/local/domain/${domid}/shm`;
    const mem = await this.xenstore.read(`${base}/mem`);
    const pidText = await this.xenstore.read(`${base}/pid`);
    if (mem === undefined || pidText === undefined) {
      throw Object.assign(new Error(`shm domain ${domid}: ${base}/mem and ${base}/pid must be written by the toolstack`), { code: 'ENOENT' });
    }
    const pid = Number(pidText);
    if (!/^[1-9][0-9]{0,9}$/.test(pidText) || !(pid > 0 && pid < 2 ** 22)) {
      throw Object.assign(new Error(`shm domain ${domid}: bad pid "${pidText}" in ${base}/pid`), { code: 'EINVAL' });
    }
    return { mem, pid };
  }

  async openGrants(domid: number): Promise<GrantAccess> {
    const { mem } = await this.domainFacts(domid);
    return new ShmGrantAccess(openDomainFile(mem, domid), this.selfDomid);
  }

  async bindInterdomain(domid: number, remotePort: number): Promise<EventChannel> {
    const { mem, pid } = await this.domainFacts(domid);
    const img = openDomainFile(mem, domid);
    try {
      if (!Number.isInteger(remotePort) || remotePort < 0 || remotePort >= img.geo.nrPorts) {
        throw Object.assign(new Error(`domain ${domid}: port ${remotePort} out of range (0..${img.geo.nrPorts - 1})`), { code: 'EINVAL' });
      }
      const off = img.geo.portOff + remotePort * PORT_ENTRY_BYTES;
      // One read per field; the guest may change the entry at any moment.
      const state = img.dv.getUint32(off, true);
      const remoteDom = img.dv.getUint32(off + 4, true);
      const fdSelf = img.dv.getInt32(off + 8, true);
      const fdPeer = img.dv.getInt32(off + 12, true);
      if (state !== PORT_UNBOUND || remoteDom !== this.selfDomid) {
        throw Object.assign(new Error(`domain ${domid}: port ${remotePort} is not an unbound port for domain ${this.selfDomid}`), { code: 'EINVAL' });
      }
      if (fdSelf < 0 || fdPeer < 0 || fdSelf === fdPeer) {
        throw Object.assign(new Error(`domain ${domid}: port ${remotePort} has bad descriptors`), { code: 'EINVAL' });
      }
      const toGuest = EventFd.fromFd(pidfdGetFd(pid, fdSelf));
      let fromGuest: EventFd;
      try {
        fromGuest = EventFd.fromFd(pidfdGetFd(pid, fdPeer));
      } catch (e) {
        toGuest.close();
        throw e;
      }
      img.dv.setUint32(off, PORT_BOUND, true);
      const ch = new EventFdChannel(this.nextPort++, fromGuest, toGuest);
      this.channels.add(ch);
      const close = ch.close.bind(ch);
      ch.close = () => {
        this.channels.delete(ch);
        close();
      };
      return ch;
    } finally {
      img.close();
    }
  }

  async watchDomainExit(domid: number, cb: () => void): Promise<{ close(): void }> {
    const { pid } = await this.domainFacts(domid);
    return watchExit(pid, cb);
  }

  async close(): Promise<void> {
    for (const ch of [...this.channels]) ch.close();
    await this.xenstore.close();
  }
}
