// SPDX-License-Identifier: MIT
// traffic.ts — a sender and a receiver built on XskSocket, for the AF_XDP tests and measurements.
//
// The sender owns a pool of its own: frames are written once, then recycled through the
// completion ring. The receiver keeps its fill ring stocked and checks every frame (test
// ethertype, sequence, payload pattern). Both run in the caller's thread, pumped in turns, so a
// test needs no second process; `pump()` returns whether anything moved.
import { mapShared, type SharedRegion } from '../../src/native/index.js';
import { XskSocket } from '../../src/xsk/socket.js';
import { readFrame, writeFrame, type Test } from './netns.js';

const FRAME = 2048;

let n = 0;
/** A fresh pool file in /dev/shm, mapped; unmapped and removed at teardown. */
export function testPool(t: Test, frames: number): SharedRegion {
  const path = `/dev/shm/phx-xsk-test-${process.pid}-${Date.now()}-${n++}`;
  const region = mapShared(path, { create: true, exclusive: true, size: frames * FRAME });
  t.teardown(async () => {
    region.close();
    const { rmSync } = await import('node:fs');
    rmSync(path, { force: true });
  });
  return region;
}

export class Sender {
  private readonly u8: Uint8Array;
  private readonly free: Uint32Array;
  private nFree: number;
  private readonly frames: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly done: Uint32Array;
  seq = 0;

  constructor(
    readonly xsk: XskSocket,
    pool: SharedRegion,
    poolFrames: number,
    private readonly dst: Uint8Array,
    private readonly src: Uint8Array,
    private readonly len: number,
  ) {
    this.u8 = new Uint8Array(pool.buffer);
    this.free = new Uint32Array(poolFrames);
    for (let i = 0; i < poolFrames; i++) this.free[i] = poolFrames - 1 - i;
    this.nFree = poolFrames;
    this.frames = new Uint32Array(256);
    this.lens = new Uint32Array(256).fill(len);
    this.done = new Uint32Array(1024);
  }

  /** Reap completions, then send up to `batch` new frames (fewer if `limit` is near). Returns frames sent. */
  step(batch: number, limit: number): number {
    const k = this.xsk.reap(this.done);
    for (let i = 0; i < k; i++) this.free[this.nFree++] = this.done[i]!;
    let want = Math.min(batch, limit - this.seq, this.nFree, this.frames.length);
    if (want <= 0) {
      if (this.xsk.tx!.outstanding > 0) this.xsk.kick(1);
      return 0;
    }
    for (let i = 0; i < want; i++) {
      const f = this.free[--this.nFree]!;
      this.frames[i] = f;
      writeFrame(this.u8, f * FRAME, this.len, this.dst, this.src, this.seq + i);
    }
    const sent = this.xsk.send(this.frames, this.lens, 0, want);
    for (let i = sent; i < want; i++) this.free[this.nFree++] = this.frames[i]!; // did not fit
    want = sent;
    this.seq += sent;
    return sent;
  }

  get inFlight(): number {
    return this.free.length - this.nFree;
  }
}

export class Receiver {
  private readonly u8: Uint8Array;
  private readonly frames = new Uint32Array(256);
  private readonly offsets = new Uint32Array(256);
  private readonly lens = new Uint32Array(256);
  private readonly seen: Uint8Array;
  received = 0;
  duplicates = 0;
  /** Frames that were not test frames, or whose payload was damaged. */
  foreign = 0;
  lastOffset = -1;
  lastLen = -1;

  constructor(
    readonly xsk: XskSocket,
    pool: SharedRegion,
    poolFrames: number,
    expect: number,
  ) {
    this.u8 = new Uint8Array(pool.buffer);
    this.seen = new Uint8Array(expect);
    const all = new Uint32Array(poolFrames);
    for (let i = 0; i < poolFrames; i++) all[i] = i;
    const k = xsk.fillFrames(all, 0, Math.min(poolFrames, xsk.fill.size));
    if (k !== Math.min(poolFrames, xsk.fill.size)) throw new Error(`fill ring took ${k} frames`);
  }

  /** Take what arrived, check it, give the frames back to the fill ring. Returns frames taken. */
  step(): number {
    const k = this.xsk.receive(this.frames, this.offsets, this.lens, this.frames.length);
    for (let i = 0; i < k; i++) {
      const off = this.frames[i]! * FRAME + this.offsets[i]!;
      this.lastOffset = this.offsets[i]!;
      this.lastLen = this.lens[i]!;
      const seq = readFrame(this.u8, off, this.lens[i]!);
      if (seq < 0 || seq >= this.seen.length) this.foreign++;
      else if (this.seen[seq] !== 0) this.duplicates++;
      else {
        this.seen[seq] = 1;
        this.received++;
      }
    }
    if (k > 0 && this.xsk.fillFrames(this.frames, 0, k) !== k) throw new Error('fill ring overflow');
    return k;
  }

  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.seen.length && out.length < 20; i++) if (this.seen[i] === 0) out.push(i);
    return out;
  }
}
