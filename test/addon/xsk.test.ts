// SPDX-License-Identifier: MIT
// xsk.test.ts — addon/xsk.cc itself: argument checks, the finaliser detaching the XDP program,
// watch() waking on RX, kick()/stats(), and tools/xdp-raw-tx.c's C floor printed for reference.
//
// The data-path tests (zero loss, modes, errors users meet) are test/xsk/veth.test.ts; this file
// covers what they do not reach. Real traffic only inside a namespace this file creates (one veth
// pair, both ends in it), removed at teardown. Needs root: skips with the reason otherwise, fails
// under CI=true.
import t, { type Test as TapTest } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapShared, native, openXsk, xskCapability, XSK_KICK_RX, XSK_KICK_TX, XSK_POLL_IN, type NativeXskSocket, type SharedRegion } from '../../src/native/index.js';
import { shmPath, type Test } from './helpers.js';

const TOOL = fileURLToPath(new URL('../../tools/xdp-raw-tx.c', import.meta.url));
let seq = 0;

function rootOrSkip(t: TapTest): boolean {
  const cap = xskCapability();
  if (process.getuid?.() === 0 && cap.ok) return true;
  const why = `AF_XDP addon tests need root: ${process.getuid?.() === 0 ? cap.problems.join('; ') : 'not root (run as root / sudo)'}`;
  if (process.env.CI === 'true') t.fail(why);
  else t.pass('skipped', { skip: why });
  return false;
}

/** One namespace with a veth pair (a, b) in it, both up, one queue each; removed at teardown. */
function vethNs(t: Test): { ns: string; a: string; b: string } {
  const tag = `${process.pid % 100000}${seq++}`;
  const ns = `phx-axsk-${tag}`;
  const a = `xka${tag}`.slice(0, 15);
  const b = `xkb${tag}`.slice(0, 15);
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });
  const ip = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  // No IPv6 chatter (DAD, MLD) on the link: the only frames are the test's own.
  for (const k of ['all', 'default']) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  ip('link', 'add', a, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', b, 'numtxqueues', '1', 'numrxqueues', '1');
  ip('link', 'set', a, 'up');
  ip('link', 'set', b, 'up');
  return { ns, a, b };
}

function xdpAttached(ns: string, ifname: string): boolean {
  return /\bprog\/xdp\b|\bxdp(generic)?\b/.test(execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', ifname], { encoding: 'utf8' }));
}

function pool(t: Test, frames: number): SharedRegion {
  const r = mapShared(shmPath(t), { create: true, exclusive: true, size: frames * 2048 });
  t.teardown(() => r.close());
  return r;
}

t.test('arguments are checked before any syscall', async (t) => {
  const buf = new ArrayBuffer(8192);
  t.throws(() => openXsk({ ifname: '', umem: buf }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => openXsk({ ifname: 'x', umem: buf, fillSize: 3000 }), { code: 'ERR_OUT_OF_RANGE' });
  const Ctor = native.XskSocket as unknown as new (o: unknown) => unknown;
  t.throws(() => new Ctor(undefined), { code: 'ERR_INVALID_ARG_TYPE' }, 'a direct caller cannot crash the addon');
  t.throws(() => new Ctor({ ifname: 'x', umem: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
  const base = { ifname: 'lo', umem: buf, queue: 0, frames: 0, frameSize: 2048, headroom: 0, fillSize: 64, completionSize: 64, rxSize: 64, txSize: 64, zeroCopy: 0, xdp: 0, txBudget: 0 };
  t.throws(() => new Ctor({ ...base, frameSize: 1000 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => new Ctor({ ...base, queue: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => new Ctor({ ...base, rxSize: 0, txSize: 0 }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => new Ctor({ ...base, umem: new ArrayBuffer(100) }), { code: 'ERR_INVALID_ARG_VALUE' }, 'less than one frame');
  t.equal(native.xsk.xdpModes.native, 1);
  t.equal(native.xsk.zeroCopyModes.never, 2);
  t.equal(native.xsk.needWakeup, 1);
});

t.test('a socket nobody references is finalised and its XDP program detached', async (t) => {
  if (!rootOrSkip(t)) return;
  const v = vethNs(t);
  const p = pool(t, 1024);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  (() => {
    const s = openXsk({ ifname: v.a, netns: v.ns, umem: p.buffer, fillSize: 1024 });
    t.equal(s.xdpMode, 'native');
    void s.rings.fill.buffer.byteLength; // make the ring buffers exist, so their finalisers run too
  })();
  t.equal(xdpAttached(v.ns, v.a), true, 'attached while the socket lives');
  for (let i = 0; i < 50 && xdpAttached(v.ns, v.a); i++) {
    gc();
    await sleep(20);
  }
  t.equal(xdpAttached(v.ns, v.a), false, 'the finaliser closed the bpf_link');
});

t.test('watch() wakes on RX, kick() and stats() work per batch, close() is final', async (t) => {
  if (!rootOrSkip(t)) return;
  const v = vethNs(t);
  const pa = pool(t, 1024);
  const pb = pool(t, 1024);
  const rx = openXsk({ ifname: v.a, netns: v.ns, umem: pa.buffer, fillSize: 1024, rxSize: 512, txSize: 0 });
  t.teardown(() => rx.close());
  const tx = openXsk({ ifname: v.b, netns: v.ns, umem: pb.buffer, fillSize: 64, rxSize: 0, txSize: 512, xdp: 'none' });
  t.teardown(() => tx.close());
  t.ok(tx.txBudget >= 32, `tx budget ${tx.txBudget}`);

  // Post 256 frames on the fill ring by hand (u64 addresses), then kick RX once.
  postFill(rx, 256);
  t.equal(rx.kick(XSK_KICK_RX) <= 0, true);

  const woke = new Promise<number>((resolve) => rx.watch(XSK_POLL_IN, (ev) => {
    rx.unwatch();
    resolve(ev);
  }));
  t.equal(rx.watching, true);
  // 100 broadcast frames from b: TX descriptors written by hand, one kick.
  const frame = new Uint8Array(pb.buffer);
  for (let i = 0; i < 100; i++) {
    frame.fill(0xff, i * 2048, i * 2048 + 6);
    frame.set([2, 0, 0, 0, 0, 1, 0x88, 0xb5], i * 2048 + 6);
  }
  postTx(tx, 100, 64);
  t.equal(tx.kick(XSK_KICK_TX), 0, 'one kick sends the batch');
  t.equal((await woke) & XSK_POLL_IN, XSK_POLL_IN, 'watch() fired: readable');
  t.equal(rx.watching, false);
  const r = rx.rings.rx!;
  const u32 = new Uint32Array(r.buffer);
  let got = 0;
  for (let i = 0; i < 100 && got < 100; i++) {
    got = (Atomics.load(u32, r.producer >> 2) - Atomics.load(u32, r.consumer >> 2)) >>> 0;
    if (got < 100) await sleep(10);
  }
  t.equal(got, 100, 'all 100 frames on the RX ring');
  const st = rx.stats(new Float64Array(7));
  t.same([...st], [0, 0, 0, 0, st[4], 0, 0], 'no drops (fill-empty count may be anything)');
  t.throws(() => rx.stats(new Float64Array(2)), { code: 'ERR_INVALID_ARG_TYPE' });

  const ring = rx.rings.fill;
  rx.close();
  t.equal(rx.closed, true);
  t.equal(rx.fd, -1);
  t.equal(ring.buffer.byteLength, 0, 'ring buffers are detached by close()');
  t.throws(() => rx.kick(XSK_KICK_RX), { code: 'EBADF' });
  t.throws(() => rx.rings, { code: 'EBADF' });
  t.throws(() => rx.watch(XSK_POLL_IN, () => undefined), { code: 'EBADF' });
  t.equal(xdpAttached(v.ns, v.a), false, 'close() detached the program');
  rx.close();
});

function postFill(s: NativeXskSocket, n: number): void {
  const f = s.rings.fill;
  const u32 = new Uint32Array(f.buffer);
  const prod = Atomics.load(u32, f.producer >> 2);
  for (let i = 0; i < n; i++) {
    const w = (f.desc >> 2) + (((prod + i) & (f.size - 1)) << 1);
    u32[w] = i * 2048;
    u32[w + 1] = 0;
  }
  Atomics.store(u32, f.producer >> 2, (prod + n) >>> 0);
}

function postTx(s: NativeXskSocket, n: number, len: number): void {
  const r = s.rings.tx!;
  const u32 = new Uint32Array(r.buffer);
  const prod = Atomics.load(u32, r.producer >> 2);
  for (let i = 0; i < n; i++) {
    const w = (r.desc >> 2) + (((prod + i) & (r.size - 1)) << 2);
    u32[w] = i * 2048;
    u32[w + 1] = 0;
    u32[w + 2] = len;
    u32[w + 3] = 0;
  }
  Atomics.store(u32, r.producer >> 2, (prod + n) >>> 0);
}

t.test('tools/xdp-raw-tx.c: the C transmit floor on this veth, printed', async (t) => {
  if (!rootOrSkip(t)) return;
  const cc = spawnSync('cc', ['--version']);
  if (cc.status !== 0) {
    t.pass('skipped', { skip: 'no C compiler (apt-get install build-essential)' });
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'phx-rawtx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'xdp-raw-tx');
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, TOOL]);
  const v = vethNs(t);
  for (const size of ['64', '1514']) {
    const out = execFileSync('ip', ['netns', 'exec', v.ns, bin, '-i', v.a, '-d', v.b, '-s', size, '-t', '1'], { encoding: 'utf8', timeout: 20_000 });
    const last = out.trim().split('\n').pop() ?? '';
    t.comment(last);
    const m = /: ([\d.]+) Mpps/.exec(last);
    t.ok(m !== null && Number(m[1]) > 0.01, `${size} B frames flow (${m?.[1] ?? '?'} Mpps)`);
    t.match(last, /copy mode/, 'veth: copy mode');
  }
});
