// TapBridge against a fake TAP and a fake netfront: batching, back-pressure without loss when the
// TX ring is full, order kept, refused writes and bad lengths counted, blank checksums completed.
import t from 'tap';
import { verifyL4Checksum } from '../../src/netback/checksum.js';
import { NETRXF_csum_blank } from '../../src/ring/netif.js';
import { TapBridge, type FrontLike, type TapLike } from './tapbridge.js';

class FakeTap implements TapLike {
  readonly name = 'fake0';
  queue: Uint8Array[] = [];
  written: Uint8Array[] = [];
  writeErr = 0;
  cb: (() => void) | null = null;
  closed = false;
  read(buf: Uint8Array, off: number, max: number): number {
    const f = this.queue.shift();
    if (f === undefined) return -11;
    buf.set(f.subarray(0, max), off);
    return Math.min(f.length, max);
  }
  write(buf: Uint8Array, off: number, len: number): number {
    if (this.writeErr !== 0) return this.writeErr;
    this.written.push(buf.slice(off, off + len));
    return 0;
  }
  watch(cb: () => void): void {
    this.cb = cb;
  }
  unwatch(): void {
    this.cb = null;
  }
  close(): void {
    this.closed = true;
  }
  /** Level-triggered readiness, as uv_poll gives it: call back while frames wait and we are watched. */
  pump(max = 100): void {
    for (let i = 0; i < max && this.cb !== null && this.queue.length > 0; i++) this.cb();
  }
}

class FakeFront implements FrontLike {
  space = 0;
  sent: Uint8Array[] = [];
  flushes = 0;
  onFrame: FrontLike['onFrame'] = () => undefined;
  onWake: FrontLike['onWake'] = () => undefined;
  onTxSpace: FrontLike['onTxSpace'] = () => undefined;
  send(buf: Uint8Array, off: number, len: number): boolean {
    if (this.space === 0) return false;
    this.space--;
    this.sent.push(buf.slice(off, off + len));
    return true;
  }
  flushTx(): void {
    this.flushes++;
  }
  poll(): boolean {
    return false;
  }
  /** The backend completed n TX requests. */
  complete(n: number): void {
    this.space += n;
    this.onTxSpace();
  }
}

function frame(seq: number, len = 100): Uint8Array {
  const f = new Uint8Array(len);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = seq >> 8;
  f[15] = seq & 0xff;
  return f;
}
const seqOf = (f: Uint8Array): number => (f[14]! << 8) | f[15]!;

function setup(space: number): { tap: FakeTap; nf: FakeFront; br: TapBridge } {
  const tap = new FakeTap();
  const nf = new FakeFront();
  nf.space = space;
  const br = new TapBridge(nf, tap, { budget: 64, spinUs: 0 });
  br.start();
  t.teardown(() => br.close());
  return { tap, nf, br };
}

t.test('a full TX ring pauses reading: frames wait in the TAP, none is lost, order kept', async (t) => {
  const { tap, nf, br } = setup(4);
  for (let i = 0; i < 10; i++) tap.queue.push(frame(i));
  tap.pump();
  t.equal(nf.sent.length, 4, 'as many frames as the ring had room for');
  t.equal(br.counters.txRingFull, 1, 'the full ring is counted');
  t.equal(tap.cb, null, 'the TAP is no longer watched');
  t.equal(tap.queue.length, 5, 'the rest stays queued in the kernel (one frame is held by the bridge)');
  nf.complete(3);
  t.equal(nf.sent.length, 7, 'completions resume reading');
  nf.complete(100);
  tap.pump();
  t.same(nf.sent.map(seqOf), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every frame, in order');
  t.equal(br.counters.fromTap, 10);
  t.not(tap.cb, null, 'watched again');
});

t.test('frames are sent in batches: one flush per turn of at most budget frames', async (t) => {
  const { tap, nf } = setup(1000);
  for (let i = 0; i < 100; i++) tap.queue.push(frame(i));
  tap.cb!();
  t.equal(nf.sent.length, 64, 'budget frames in one turn');
  t.equal(nf.flushes, 1, 'one flush (one notification) for the batch');
  tap.cb!();
  t.equal(nf.sent.length, 100);
  t.equal(nf.flushes, 2);
});

t.test('frames a vif cannot carry are counted, not sent', async (t) => {
  const { tap, nf, br } = setup(10);
  tap.queue.push(new Uint8Array(10), new Uint8Array(1600), frame(7));
  tap.pump();
  t.same(nf.sent.map(seqOf), [7]);
  t.equal(br.counters.tapBadLen, 2);
});

function udpFrame(): Uint8Array {
  const payload = 18;
  const f = new Uint8Array(14 + 20 + 8 + payload);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 20 + 8 + payload);
  f[22] = 64;
  f[23] = 17;
  f.set([10, 0, 0, 1], 26);
  f.set([10, 0, 0, 2], 30);
  dv.setUint16(34, 1234);
  dv.setUint16(36, 5678);
  dv.setUint16(38, 8 + payload);
  dv.setUint16(40, 0x1111); // a partial (pseudo-header) sum, as a guest leaves it
  for (let i = 0; i < payload; i++) f[42 + i] = i * 7;
  return f;
}

t.test('RX: blank checksums are completed before the TAP; refused writes are counted', async (t) => {
  const { tap, nf, br } = setup(0);
  const f = udpFrame();
  t.equal(verifyL4Checksum(f, 0, f.length), false, 'the frame starts with a wrong checksum');
  nf.onFrame(f, 0, f.length, NETRXF_csum_blank);
  t.equal(tap.written.length, 1);
  t.equal(verifyL4Checksum(tap.written[0]!, 0, f.length), true, 'written with a valid UDP checksum');
  t.equal(br.counters.csumCompleted, 1);
  tap.writeErr = 11;
  nf.onFrame(frame(1), 0, 100, 0);
  t.equal(br.counters.tapWriteDropped, 1, 'EAGAIN from the TAP is a counted drop');
  t.equal(br.counters.lastErrno, 11);
  t.equal(br.counters.toTap, 1);
});

t.test('close() stops the bridge and closes the TAP', async (t) => {
  const { tap, nf, br } = setup(10);
  br.close();
  t.ok(tap.closed);
  t.equal(tap.cb, null);
  tap.queue.push(frame(1));
  nf.complete(1);
  t.equal(nf.sent.length, 0, 'nothing moves after close');
});
