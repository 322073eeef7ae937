// SPDX-License-Identifier: MIT
// tap-port.ts — a switch port whose other side is a Linux TAP interface (addon/tun.cc).
//
// Lets the host (dom0) take part in the vifs' L2 segment: give the TAP an address and the
// guests can ping it. Switch → TAP: deliver() writes the frame at once (one write per frame,
// non-blocking) after completing its TCP/UDP checksum in software if the guest left it blank
// (FF_CSUM_BLANK: Linux netfront offloads every TCP/UDP checksum, and a TAP without a vnet
// header has no way to say "checksum pending"); then the frame reference goes back to the pool.
// TAP → switch: while the fd is readable, frames are read straight into pool frames (at most
// `budget` per turn of the loop, so a flood from the host cannot starve the rings) and handed to
// Netback.ingress. A full pool, a full TAP queue or a link that is down are counted, not thrown.
// Attached with the generic Netback.attachPort/detachPort API (src/netback/service.ts).
import type { NativeTap } from '../native/index.js';
import { completeL4Checksum } from '../netback/checksum.js';
import { FF_CSUM_BLANK, type PacketPool } from '../netback/pool.js';
import type { Port } from '../netback/service.js';

/** What a TAP port needs from the netback service (Netback implements it). */
export interface TapHost {
  readonly pool: PacketPool;
  attachPort(p: Port): void;
  detachPort(p: Port): void;
  ingress(from: Port, frame: number): number;
  flush(): void;
}

export type TapLike = Pick<NativeTap, 'name' | 'read' | 'write' | 'watch' | 'unwatch' | 'close'>;

const EAGAIN = 11;

export class TapPortCounters {
  txPackets = 0; // switch -> TAP
  txBytes = 0;
  txCsumCompleted = 0;
  txCsumUnsupported = 0; // FF_CSUM_BLANK on a frame we could not parse: sent as is
  txDropped = 0; // TAP queue full or link down
  rxPackets = 0; // TAP -> switch
  rxBytes = 0;
  rxNoBuffer = 0; // pool empty: left in the TAP queue
  rxBadLen = 0;
  rxNoDestination = 0;
  lastErrno = 0;
}

export class TapPort implements Port {
  port = -1;
  readonly counters = new TapPortCounters();
  private closed = false;

  constructor(
    private readonly host: TapHost,
    private readonly tap: TapLike,
    private readonly budget = 256,
  ) {
    host.attachPort(this);
    tap.watch(() => this.onReadable());
  }

  get name(): string {
    return this.tap.name;
  }

  deliver(frame: number): boolean {
    const pool = this.host.pool;
    const c = this.counters;
    if (this.closed) {
      pool.release(frame);
      c.txDropped++;
      return false;
    }
    const off = pool.offset(frame);
    const len = pool.len[frame]!;
    if (pool.flags[frame]! & FF_CSUM_BLANK) {
      if (completeL4Checksum(pool.u8, off, len)) c.txCsumCompleted++;
      else c.txCsumUnsupported++;
    }
    const err = this.tap.write(pool.u8, off, len);
    pool.release(frame);
    if (err !== 0) {
      c.txDropped++;
      c.lastErrno = err;
      return false;
    }
    c.txPackets++;
    c.txBytes += len;
    return true;
  }

  flush(): void {
    // deliver() writes at once: nothing is batched.
  }

  private onReadable(): void {
    if (this.closed) return;
    const pool = this.host.pool;
    const c = this.counters;
    let n = 0;
    for (; n < this.budget; n++) {
      const frame = pool.alloc();
      if (frame < 0) {
        c.rxNoBuffer++;
        break;
      }
      const got = this.tap.read(pool.u8, pool.offset(frame), pool.frameBytes);
      if (got < 0) {
        pool.release(frame);
        if (got !== -EAGAIN) c.lastErrno = -got;
        break;
      }
      if (got < 14 || got >= pool.frameBytes) {
        // >= frameBytes: may have been cut short; the TAP's MTU is larger than a pool frame.
        c.rxBadLen++;
        pool.release(frame);
        continue;
      }
      pool.len[frame] = got;
      pool.flags[frame] = 0; // the host's stack computed its checksums
      c.rxPackets++;
      c.rxBytes += got;
      if (this.host.ingress(this, frame) === 0) c.rxNoDestination++;
    }
    if (n > 0) this.host.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tap.unwatch();
    this.host.detachPort(this);
    this.tap.close();
  }
}
