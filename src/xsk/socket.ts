// SPDX-License-Identifier: MIT
// xsk/socket.ts — an AF_XDP socket over the packet pool: ring views, batch send/receive, stats.
//
// XskSocket.open() registers the pool (frame i at i * frameSize, no copy between us and the
// kernel), binds (ifname, queue), steers the queue with an XDP program, and wraps the four rings
// (ring.ts). The batch helpers move whole arrays of frames with one native call per batch (the
// kick); callers that track more per frame (drivers/afxdp) use the rings directly.
// Received frames start XDP_PACKET_HEADROOM (256) bytes into their chunk (plus `headroom`):
// rxOffset(i) says where; TX descriptors may start anywhere in a chunk.
// Read next: ring.ts (the ring protocol), addon/xsk.cc (set-up, ownership), docs/afxdp.md.
import {
  openXsk,
  XSK_KICK_RX,
  XSK_KICK_TX,
  XSK_STAT_NAMES,
  type NativeXskSocket,
  type XskOptions,
  type XskStatName,
} from '../native/index.js';
import { XskCompletionRing, XskFillRing, XskRxRing, XskTxRing } from './ring.js';

export type XskStats = Record<XskStatName, number>;

export class XskSocket {
  readonly fill: XskFillRing;
  readonly completion: XskCompletionRing;
  readonly rx: XskRxRing | null;
  readonly tx: XskTxRing | null;
  readonly frameSize: number;
  /** Counters of our own: frames sent / completed / received through the batch helpers. */
  txSubmitted = 0;
  txCompleted = 0;
  rxReceived = 0;
  /** Kicks that returned a transient error (EAGAIN, ENOBUFS, ENETDOWN, EBUSY). */
  kickErrors = 0;
  private readonly statsOut = new Float64Array(XSK_STAT_NAMES.length);

  private constructor(
    readonly handle: NativeXskSocket,
    readonly ifname: string,
    frameSize: number,
  ) {
    const r = handle.rings;
    this.fill = new XskFillRing(r.fill);
    this.completion = new XskCompletionRing(r.completion);
    this.rx = r.rx ? new XskRxRing(r.rx) : null;
    this.tx = r.tx ? new XskTxRing(r.tx) : null;
    this.frameSize = frameSize;
  }

  static open(opts: XskOptions): XskSocket {
    return new XskSocket(openXsk(opts), opts.ifname, opts.frameSize ?? 2048);
  }

  /**
   * open(), retrying while bind() says EBUSY for up to `timeoutMs`: a socket that was just closed
   * (or whose process just died) releases its queue from a kernel work item, a moment later
   * (xp_release_deferred). A reloaded driver opens this way; anything else is thrown at once.
   */
  static async openWhenFree(opts: XskOptions, timeoutMs = 2000): Promise<XskSocket> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      try {
        return XskSocket.open(opts);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code !== 'EBUSY' || err.syscall !== 'bind' || performance.now() > end) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  get fd(): number {
    return this.handle.fd;
  }
  get queue(): number {
    return this.handle.queue;
  }
  get ifindex(): number {
    return this.handle.ifindex;
  }
  get zeroCopy(): boolean {
    return this.handle.zeroCopy;
  }
  /** 'native' | 'generic' | 'none': how the XDP program is attached. */
  get xdpMode(): 'native' | 'generic' | 'none' {
    return this.handle.xdpMode;
  }
  /** Why native XDP was not used ('' if it was, or was not asked for). */
  get xdpFallback(): string {
    return this.handle.xdpFallback;
  }
  get closed(): boolean {
    return this.handle.closed;
  }
  /** One line for logs: "veth0 q0: copy mode, native XDP". */
  describe(): string {
    const prog = this.xdpMode === 'none' ? 'no XDP program' : `${this.xdpMode} XDP (prog ${this.handle.progId})`;
    return `${this.ifname} q${this.queue}: ${this.zeroCopy ? 'zero-copy' : 'copy'} mode, ${prog}`;
  }

  /** Put frames[start..start+n) on the fill ring (as UMEM addresses); returns how many fit. */
  fillFrames(frames: Uint32Array, start: number, n: number): number {
    const k = this.fill.reserve(n);
    const fs = this.frameSize;
    for (let i = 0; i < k; i++) this.fill.put(i, frames[start + i]! * fs);
    this.fill.submit(k);
    if (k > 0 && this.fill.needsWakeup) this.kick(XSK_KICK_RX);
    return k;
  }

  /**
   * Queue frames[start..start+n) with lens[...] on the TX ring and kick once; returns how many
   * were queued (the rest did not fit: retry after reaping completions).
   */
  send(frames: Uint32Array, lens: Uint16Array | Uint32Array, start: number, n: number): number {
    const tx = this.tx;
    if (tx === null) throw new Error(`${this.describe()}: opened without a TX ring`);
    const k = tx.reserve(n);
    const fs = this.frameSize;
    for (let i = 0; i < k; i++) tx.put(i, frames[start + i]! * fs, lens[start + i]!);
    tx.submit(k);
    this.txSubmitted += k;
    if (k > 0 || tx.outstanding > 0) this.kick(XSK_KICK_TX);
    return k;
  }

  /** Move up to `max` completed frames into out[0..k) (frame indices); returns k. */
  reap(out: Uint32Array, max: number = out.length): number {
    const c = this.completion;
    const k = c.peek(max);
    const fs = this.frameSize;
    for (let i = 0; i < k; i++) out[i] = Math.floor(c.addr(i) / fs);
    c.release(k);
    this.txCompleted += k;
    return k;
  }

  /**
   * Take up to `max` received frames: frame index, data offset within the frame and length into
   * frames/offsets/lens[0..k); returns k. The frames are ours until put back on the fill ring.
   */
  receive(frames: Uint32Array, offsets: Uint16Array | Uint32Array, lens: Uint16Array | Uint32Array, max: number = frames.length): number {
    const rx = this.rx;
    if (rx === null) return 0;
    const k = rx.peek(max);
    const fs = this.frameSize;
    for (let i = 0; i < k; i++) {
      const a = rx.addr(i);
      const f = Math.floor(a / fs);
      frames[i] = f;
      offsets[i] = a - f * fs;
      lens[i] = rx.len(i);
    }
    rx.release(k);
    this.rxReceived += k;
    return k;
  }

  /** One native call: sendto and/or recvfrom wake-up. Returns 0 or a negative errno (transient, counted). */
  kick(what: number): number {
    const r = this.handle.kick(what);
    if (r !== 0) this.kickErrors++;
    return r;
  }

  /** XDP_STATISTICS into a reused array (no object): slot order XSK_STAT_NAMES. */
  readStats(): Float64Array {
    return this.handle.stats(this.statsOut);
  }

  /** XDP_STATISTICS as an object (status pages, tests). */
  stats(): XskStats {
    const s = this.readStats();
    const o = {} as XskStats;
    XSK_STAT_NAMES.forEach((name, i) => {
      o[name] = s[i]!;
    });
    return o;
  }

  /** Call cb when the socket is readable (RX) and/or writable (TX room): XSK_POLL_IN/OUT. */
  watch(events: number, cb: (events: number) => void): void {
    this.handle.watch(events, cb);
  }
  unwatch(): void {
    this.handle.unwatch();
  }
  /** Whether an active watch keeps the event loop alive (default yes). */
  unref(): void {
    this.handle.unref();
  }
  ref(): void {
    this.handle.ref();
  }

  /** Detach the XDP program, unmap the rings (views go zero-length), close the socket. Idempotent. */
  close(): void {
    this.handle.close();
  }
}
