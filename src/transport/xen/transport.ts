// SPDX-License-Identifier: MIT
// transport.ts — the xen transport: gntdev, evtchn and a real xenstored, for a dom0/driver domain.
//
// What the shm transport emulates, Xen does: the hypervisor checks grants (XenGrantAccess) and
// event-channel binds (DomainChannels), and xenstored tells us when a domain dies (@releaseDomain).
// The devices are opened at connect(), before anything else, so a machine without Xen fails at
// once with the fix in the message. xenstore is the same XenstoreClient the shm transport uses,
// on /run/xenstored/socket (xenstored's own socket; /dev/xen/xenbus would need fromStream()).
import { openEvtChn, openGntDev, XEN_EVTCHN_PATH, XEN_GNTDEV_PATH } from '../../native/index.js';
import { XenstoreClient } from '../xenstore/client.js';
import type { EventChannel, GrantAccess, Transport } from '../types.js';
import { DomainChannels, type EvtChnLike } from './evtchn.js';
import { XenGrantAccess, type GntDevLike } from './grants.js';

export const XENSTORED_SOCKET = '/run/xenstored/socket';

export interface XenTransportOptions {
  xenstoreSocket?: string;
  /** Our domain id (default 0: dom0). */
  selfDomid?: number;
  gntdevPath?: string;
  evtchnPath?: string;
}

/** What XenTransport needs from the platform; tests pass fakes. */
export interface XenDevices {
  gntdev: GntDevLike & { close(): void };
  /** Open an evtchn fd that may bind only ports of `domid`. */
  openEvtchn(domid: number): EvtChnLike;
}

export function validateDomid(domid: unknown, what = 'domid'): number {
  if (typeof domid !== 'number' || !Number.isInteger(domid) || domid < 0 || domid > 0x7fef) {
    throw Object.assign(new RangeError(`xen transport: bad ${what} ${String(domid)} (0..32751)`), { code: 'ERR_OUT_OF_RANGE' });
  }
  return domid;
}

export class XenTransport implements Transport {
  readonly kind = 'xen' as const;
  private readonly domains = new Map<number, DomainChannels>();
  private readonly exitWatches = new Set<{ close(): void }>();
  private nextToken = 1;
  private closed = false;

  constructor(
    readonly xenstore: XenstoreClient,
    private readonly devices: XenDevices,
    readonly selfDomid = 0,
  ) {
    validateDomid(selfDomid, 'selfDomid');
  }

  static async connect(opts: XenTransportOptions = {}): Promise<XenTransport> {
    const selfDomid = validateDomid(opts.selfDomid ?? 0, 'selfDomid');
    const gntdev = openGntDev(opts.gntdevPath ?? XEN_GNTDEV_PATH);
    const evtchnPath = opts.evtchnPath ?? XEN_EVTCHN_PATH;
    try {
      openEvtChn({ path: evtchnPath }).close(); // fail now, not at the first frontend
      const xs = await XenstoreClient.connect(opts.xenstoreSocket ?? XENSTORED_SOCKET);
      return new XenTransport(xs, { gntdev, openEvtchn: (domid) => openEvtChn({ path: evtchnPath, restrictDomid: domid }) }, selfDomid);
    } catch (e) {
      gntdev.close();
      throw e;
    }
  }

  async openGrants(domid: number): Promise<GrantAccess> {
    return new XenGrantAccess(this.devices.gntdev, validateDomid(domid));
  }

  async bindInterdomain(domid: number, remotePort: number): Promise<EventChannel> {
    validateDomid(domid);
    if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 0xfffffffe) {
      throw Object.assign(new RangeError(`xen transport: bad event channel port ${remotePort}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    let dom = this.domains.get(domid);
    if (dom === undefined) {
      const d = new DomainChannels(this.devices.openEvtchn(domid), domid, () => {
        if (this.domains.get(domid) === d) this.domains.delete(domid);
      });
      this.domains.set(domid, d);
      dom = d;
    }
    try {
      return dom.bind(remotePort);
    } catch (e) {
      if (dom.size === 0) dom.close();
      throw e;
    }
  }

  /** Fires once when xenstored no longer knows the domain (it was destroyed), via @releaseDomain. */
  async watchDomainExit(domid: number, cb: () => void): Promise<{ close(): void }> {
    validateDomid(domid);
    const token = `phoenix-exit-${domid}-${this.nextToken++}`;
    let active = true;
    const handle = {
      close: (): void => {
        if (!active) return;
        active = false;
        this.exitWatches.delete(handle);
        if (!this.xenstore.closed) void this.xenstore.unwatch('@releaseDomain', token).catch(() => undefined);
      },
    };
    const check = async (): Promise<void> => {
      if (!active) return;
      let alive = true;
      try {
        alive = await this.xenstore.isDomainIntroduced(domid);
      } catch {
        return; // xenstore went away; the service notices that on its own
      }
      if (!alive && active) {
        handle.close();
        cb();
      }
    };
    this.exitWatches.add(handle);
    // A watch fires once at registration, so a domain already gone is reported too.
    await this.xenstore.watch('@releaseDomain', token, () => void check());
    return handle;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.exitWatches]) w.close();
    for (const d of [...this.domains.values()]) d.close();
    this.devices.gntdev.close();
    await this.xenstore.close();
  }
}
