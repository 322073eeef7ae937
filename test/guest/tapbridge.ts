// SPDX-License-Identifier: MIT
// tapbridge.ts — joins a Linux TAP device to a test netfront, so real programs talk through a vif.
//
// TAP → vif: while the TAP is readable, frames are read (one native read each: the addon has no
// batch read) and queued as TX requests, `budget` per turn, then published with ONE flushTx (one
// notification per batch). When the TX ring is full the frame in hand is kept, the TAP is no
// longer watched (the kernel's TAP queue holds the rest: back-pressure, not a drop) and reading
// resumes when the backend frees TX slots. vif → TAP: every frame the backend delivers on RX is
// written to the TAP at once (with its TCP/UDP checksum completed first if the sender left it
// blank: a TAP without a vnet header cannot say "checksum pending"); a write the kernel refuses
// is counted in tapWriteDropped. The netfront re-posts all RX buffers it consumed in one push.
// Adaptive polling as in main.ts: busy for spinUs after the last work, then asleep on events.
// The TAP is opened without IFF_VNET_HDR, so the kernel hands over frames with full checksums.
import type { NativeTap } from '../../src/native/index.js';
import { completeL4Checksum } from '../../src/netback/checksum.js';
import { NETRXF_csum_blank } from '../../src/ring/netif.js';
import type { TestNetfront } from './netfront.js';

export type TapLike = Pick<NativeTap, 'name' | 'read' | 'write' | 'watch' | 'unwatch' | 'close'>;
/** What the bridge uses of a TestNetfront (a fake one in unit tests). */
export type FrontLike = Pick<TestNetfront, 'send' | 'flushTx' | 'poll' | 'onFrame' | 'onWake' | 'onTxSpace'>;

const EAGAIN = 11;
/** Largest frame the vif carries (MTU 1500 + Ethernet header); bigger ones are counted and dropped. */
export const TAP_MAX_FRAME = 1514;

export class TapBridgeCounters {
  fromTap = 0; // frames read from the TAP and queued on the vif's TX ring
  fromTapBytes = 0;
  txRingFull = 0; // times the TX ring was full (reading paused until slots came back)
  tapBadLen = 0; // frames read from the TAP that a vif cannot carry (dropped, counted)
  toTap = 0; // frames received on the vif and written to the TAP
  toTapBytes = 0;
  tapWriteDropped = 0; // writes the kernel refused (EAGAIN, EIO: link down)
  csumCompleted = 0; // RX frames whose blank L4 checksum we filled in
  csumUnsupported = 0; // ... and those we could not (written as they were)
  lastErrno = 0;
}

export interface TapBridgeOptions {
  /** Frames read from the TAP per turn of the loop (default 64). */
  budget?: number;
  /** Keep polling this long after the last work before sleeping on events (default 50). */
  spinUs?: number;
}

export class TapBridge {
  readonly counters = new TapBridgeCounters();
  private readonly buf = new Uint8Array(2048);
  private pendingLen = 0; // a frame read from the TAP that the TX ring had no room for
  private watching = false;
  private closed = false;
  private scheduled = false;
  private lastWork = 0;
  private readonly budget: number;
  private readonly spinMs: number;
  private safety: NodeJS.Timeout | undefined;

  constructor(
    private readonly nf: FrontLike,
    private readonly tap: TapLike,
    o: TapBridgeOptions = {},
  ) {
    this.budget = o.budget ?? 64;
    this.spinMs = (o.spinUs ?? 50) / 1000;
  }

  start(): void {
    const nf = this.nf;
    nf.onFrame = (buf, off, len, flags) => this.toTap(buf, off, len, flags);
    nf.onTxSpace = () => {
      if (this.pendingLen > 0 || !this.watching) this.resume();
    };
    nf.onWake = () => this.work();
    this.watch();
    this.tick();
    // Lost-wake-up net only: events drive the bridge.
    this.safety = setInterval(() => this.work(), 100);
  }

  private watch(): void {
    if (this.watching || this.closed) return;
    this.watching = true;
    this.tap.watch(() => this.fromTap());
  }

  private unwatch(): void {
    if (!this.watching) return;
    this.watching = false;
    this.tap.unwatch();
  }

  /** Something happened: poll now, then keep spinning for a while. */
  private work(): void {
    this.lastWork = performance.now();
    if (!this.scheduled && !this.closed) {
      this.scheduled = true;
      setImmediate(() => this.tick());
    }
  }

  private tick(): void {
    this.scheduled = false;
    if (this.closed) return;
    const now = performance.now();
    const spinning = now - this.lastWork < this.spinMs;
    if (this.nf.poll(!spinning)) this.lastWork = now;
    if (spinning && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.tick());
    }
  }

  private fromTap(): void {
    if (this.closed) return;
    const c = this.counters;
    const nf = this.nf;
    let queued = 0;
    for (let n = 0; n < this.budget; n++) {
      let len = this.pendingLen;
      if (len === 0) {
        len = this.tap.read(this.buf, 0, this.buf.length);
        if (len < 0) {
          if (len !== -EAGAIN) c.lastErrno = -len;
          break;
        }
        if (len < 14 || len > TAP_MAX_FRAME) {
          c.tapBadLen++;
          continue;
        }
      }
      if (!nf.send(this.buf, 0, len)) {
        // Ring full: hold this frame, stop reading; onTxSpace resumes.
        this.pendingLen = len;
        c.txRingFull++;
        this.unwatch();
        break;
      }
      this.pendingLen = 0;
      c.fromTap++;
      c.fromTapBytes += len;
      queued++;
    }
    if (queued > 0) {
      nf.flushTx();
      this.work();
    }
  }

  private resume(): void {
    if (this.closed) return;
    this.watch();
    this.fromTap();
  }

  private toTap(buf: Uint8Array, off: number, len: number, flags: number): void {
    const c = this.counters;
    if (flags & NETRXF_csum_blank) {
      if (completeL4Checksum(buf, off, len)) c.csumCompleted++;
      else c.csumUnsupported++;
    }
    const err = this.tap.write(buf, off, len);
    if (err !== 0) {
      c.tapWriteDropped++;
      c.lastErrno = err;
      return;
    }
    c.toTap++;
    c.toTapBytes += len;
  }

  /** Stop moving frames and close the TAP (the kernel removes the interface with its last fd). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.safety !== undefined) clearInterval(this.safety);
    this.unwatch();
    this.nf.onWake = () => undefined;
    this.nf.onTxSpace = () => undefined;
    this.nf.onFrame = () => undefined;
    this.tap.close();
  }
}
