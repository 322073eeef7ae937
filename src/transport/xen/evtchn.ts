// SPDX-License-Identifier: MIT
// evtchn.ts — EventChannel over /dev/xen/evtchn, one fd per frontend domain.
//
// Each frontend domain gets its own evtchn fd, restricted to that domain (RESTRICT_DOMID), so a
// bug elsewhere cannot bind a port of another guest on it. The fd's uv_poll delivers the local
// ports that fired; a fired port stays masked until we write it back (unmask), which we do only
// after its handler ran: a guest that notifies in a loop gets one callback per turn of our loop,
// never a storm. An overflowed kernel ring (EFBIG, reset in C++) fires every handler.
import type { NativeEvtChn } from '../../native/index.js';
import type { EventChannel } from '../types.js';

/** The slice of the native evtchn this module uses (a fake in tests). */
export type EvtChnLike = Pick<NativeEvtChn, 'bindInterdomain' | 'unbind' | 'notify' | 'unmask' | 'watch' | 'unwatch' | 'close'>;

class XenPort implements EventChannel {
  handler: (() => void) | null = null;
  pending = false;
  closed = false;
  constructor(
    private readonly dom: DomainChannels,
    readonly localPort: number,
  ) {}
  notify(): void {
    if (!this.closed) this.dom.dev.notify(this.localPort);
  }
  setHandler(cb: () => void): void {
    this.handler = cb;
    if (this.pending) {
      this.pending = false;
      queueMicrotask(() => this.dom.fire(this));
    }
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dom.release(this);
  }
}

/** The bound ports of one frontend domain on one evtchn fd. */
export class DomainChannels {
  private readonly ports = new Map<number, XenPort>();
  private watching = false;

  constructor(
    readonly dev: EvtChnLike,
    readonly domid: number,
    private readonly onEmpty: () => void,
  ) {}

  get size(): number {
    return this.ports.size;
  }

  bind(remotePort: number): EventChannel {
    const local = this.dev.bindInterdomain(this.domid, remotePort);
    const p = new XenPort(this, local);
    this.ports.set(local, p);
    if (!this.watching) {
      this.watching = true;
      this.dev.watch((fired, overflow) => this.onFired(fired, overflow));
    }
    return p;
  }

  private onFired(fired: Uint32Array, overflow: boolean): void {
    const list = overflow ? [...this.ports.values()] : [...new Set(fired)].map((n) => this.ports.get(n));
    for (const p of list) {
      if (p !== undefined) this.fire(p);
    }
  }

  /** Run the handler, then unmask (late EOI). Without a handler yet, remember and keep masked. */
  fire(p: XenPort): void {
    if (p.closed) return;
    if (p.handler === null) {
      p.pending = true;
      return;
    }
    try {
      p.handler();
    } finally {
      if (!p.closed) this.dev.unmask(p.localPort);
    }
  }

  release(p: XenPort): void {
    if (this.ports.get(p.localPort) !== p) return;
    this.ports.delete(p.localPort);
    try {
      this.dev.unbind(p.localPort);
    } catch {
      // the domain is gone and the port with it
    }
    if (this.ports.size === 0) this.close();
  }

  close(): void {
    for (const p of this.ports.values()) p.closed = true;
    this.ports.clear();
    if (this.watching) this.dev.unwatch();
    this.watching = false;
    this.dev.close(); // the kernel unbinds whatever is still bound on the fd
    this.onEmpty();
  }
}
