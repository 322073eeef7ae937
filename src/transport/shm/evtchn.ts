// SPDX-License-Identifier: MIT
// evtchn.ts — event channels over eventfd: one eventfd each way per interdomain channel.
//
// The frontend allocates an "unbound port": two eventfds, one it waits on (fdSelf) and one its
// peer waits on (fdPeer), recorded in its domain's port table. The backend binds the port by
// duplicating both descriptors out of the frontend's process with pidfd_getfd(2), after checking
// that the port is unbound, is meant for it, and that both descriptors really are eventfds.
// Events coalesce like Xen's: several notifies before the handler runs call it once.
import { EventFd } from '../../native/index.js';
import type { EventChannel } from '../types.js';

export class EventFdChannel implements EventChannel {
  private closed = false;
  constructor(
    readonly localPort: number,
    /** The eventfd our side waits on. */
    private readonly inbound: EventFd,
    /** The eventfd the other side waits on. */
    private readonly outbound: EventFd,
  ) {}

  notify(): void {
    if (!this.closed) this.outbound.signal();
  }

  setHandler(cb: () => void): void {
    this.inbound.unwatch();
    this.inbound.watch(() => cb());
  }

  /** Let the process exit even while this channel is watched. */
  unref(): void {
    this.inbound.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbound.close();
    this.outbound.close();
  }
}
