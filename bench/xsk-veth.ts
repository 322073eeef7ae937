// SPDX-License-Identifier: MIT
// bench/xsk-veth.ts — AF_XDP capacity from Node.js on a veth pair (copy mode, native XDP).
//
// Usage (root): node --import=@tapjs/typescript/import bench/xsk-veth.ts [--seconds 3] [--batch 64]
// Makes two fresh namespaces joined by a single-queue veth, runs, removes them (also on ^C).
//   tx   our XSK sends pre-built frames (64 B and 1514 B) as fast as it can; the peer's XSK never
//        reads, so the peer drops in XDP (rx_ring_full) — the cost of our side plus veth, not of
//        a receiver. Reports sent/s (completions) and what the peer counted.
//   rx   a child process sends 64-byte frames from the peer as fast as it can; we receive,
//        check each frame's sequence number and refill. Reports received/s and kernel drops.
// Frames are written once; the loop recycles them through the completion ring (batch --batch).
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mapShared } from '../src/native/index.js';
import { XskSocket } from '../src/xsk/socket.js';

const FRAME = 2048;
const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    role: { type: 'string' },
    ifname: { type: 'string' },
    netns: { type: 'string' },
    dst: { type: 'string' },
    len: { type: 'string', default: '64' },
  },
});
const seconds = Number(v.seconds);
const batch = Number(v.batch);

function poolOf(frames: number): { buffer: ArrayBuffer; done: () => void } {
  const path = `/dev/shm/phx-bench-xsk-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const r = mapShared(path, { create: true, exclusive: true, size: frames * FRAME });
  rmSync(path); // the mapping keeps it alive
  return { buffer: r.buffer, done: () => r.close() };
}

/** Send `len`-byte frames for `seconds`; returns frames completed. */
function blast(xsk: XskSocket, buffer: ArrayBuffer, frames: number, len: number, dst: Uint8Array, secs: number): number {
  const u8 = new Uint8Array(buffer);
  for (let f = 0; f < frames; f++) {
    const o = f * FRAME;
    u8.set(dst, o);
    u8.set([2, 0, 0, 0, 0, 1], o + 6);
    u8[o + 12] = 0x88;
    u8[o + 13] = 0xb5;
  }
  const free = new Uint32Array(frames);
  for (let i = 0; i < frames; i++) free[i] = i;
  let nFree = frames;
  const out = new Uint32Array(frames);
  const lens = new Uint32Array(batch).fill(len);
  const take = new Uint32Array(batch);
  let completed = 0;
  let seq = 0;
  const end = performance.now() + secs * 1000;
  let check = 0;
  for (;;) {
    const k = xsk.reap(out);
    for (let i = 0; i < k; i++) free[nFree++] = out[i]!;
    completed += k;
    const n = Math.min(batch, nFree);
    for (let i = 0; i < n; i++) {
      const f = free[--nFree]!;
      take[i] = f;
      const o = f * FRAME + 14;
      u8[o] = seq & 0xff;
      u8[o + 1] = (seq >>> 8) & 0xff;
      u8[o + 2] = (seq >>> 16) & 0xff;
      u8[o + 3] = seq >>> 24;
      seq = (seq + 1) >>> 0;
    }
    const sent = n > 0 ? xsk.send(take, lens, 0, n) : (xsk.kick(1), 0);
    for (let i = sent; i < n; i++) free[nFree++] = take[i]!;
    if ((++check & 63) === 0 && performance.now() > end) break;
  }
  return completed;
}

if (v.role === 'sender') {
  // Child: send from the peer namespace until killed or done.
  const pool = poolOf(4096);
  const xsk = XskSocket.open({ ifname: v.ifname!, netns: v.netns!, umem: pool.buffer, rxSize: 0, txSize: 2048, xdp: 'none' });
  const dst = Uint8Array.from(v.dst!.split(':').map((h) => parseInt(h, 16)));
  const n = blast(xsk, pool.buffer, 4096, Number(v.len), dst, seconds);
  process.stdout.write(`${n}\n`);
  xsk.close();
  process.exit(0);
}

const tag = `${process.pid % 100000}`;
const nsA = `phx-bench-${tag}-a`;
const nsB = `phx-bench-${tag}-b`;
const ifA = `pba${tag}`;
const ifB = `pbb${tag}`;
const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8' });
function cleanup(): void {
  for (const ns of [nsA, nsB]) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone
    }
  }
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
for (const ns of [nsA, nsB]) {
  ip('netns', 'add', ns);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
}
ip('link', 'add', ifA, 'netns', nsA, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB, 'numtxqueues', '1', 'numrxqueues', '1');
ip('-n', nsA, 'link', 'set', ifA, 'up');
ip('-n', nsB, 'link', 'set', ifB, 'up');
const mac = (ns: string, i: string): string => /link\/ether (\S+)/.exec(ip('-n', ns, 'link', 'show', i))![1]!;
const macA = mac(nsA, ifA);
const macB = mac(nsB, ifB);
const bytes = (m: string): Uint8Array => Uint8Array.from(m.split(':').map((h) => parseInt(h, 16)));

// ---- tx: our XSK → veth → peer XSK that never reads (drops in XDP)
for (const len of [64, 1514]) {
  const ours = poolOf(4096);
  const sink = poolOf(64);
  const tx = XskSocket.open({ ifname: ifA, netns: nsA, umem: ours.buffer, rxSize: 0, txSize: 2048, xdp: 'none' });
  const peer = XskSocket.open({ ifname: ifB, netns: nsB, umem: sink.buffer, rxSize: 64, txSize: 0, fillSize: 64 });
  const fill = new Uint32Array(64).map((_, i) => i);
  peer.fillFrames(fill, 0, 64);
  const t0 = performance.now();
  const n = blast(tx, ours.buffer, 4096, len, bytes(macB), seconds);
  const ms = performance.now() - t0;
  const ps = peer.stats();
  console.log(
    `tx ${len} B, batch ${batch}: ${((n / ms) * 1000 / 1e6).toFixed(3)} Mpps (${n} frames in ${ms.toFixed(0)} ms; ` +
      `${tx.describe()}, txBudget ${tx.handle.txBudget}; peer ${peer.describe()} dropped ${ps.rx_ring_full + ps.rx_dropped} in XDP; kick errors ${tx.kickErrors})`,
  );
  tx.close();
  peer.close();
  ours.done();
  sink.done();
  await new Promise((r) => setTimeout(r, 100));
}

// ---- rx: a child blasts from the peer; we receive, check sequence numbers, refill
{
  const pool = poolOf(16384);
  const rx = await XskSocket.openWhenFree({ ifname: ifA, netns: nsA, umem: pool.buffer, rxSize: 4096, txSize: 0, fillSize: 8192 });
  const all = new Uint32Array(8192).map((_, i) => i);
  rx.fillFrames(all, 0, 8192);
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--role', 'sender', '--ifname', ifB, '--netns', nsB, '--dst', macA, '--seconds', String(seconds), '--batch', String(batch)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let sentByChild = '';
  child.stdout.on('data', (d: Buffer) => (sentByChild += d.toString()));
  const exited = new Promise((r) => child.on('exit', r));
  const u8 = new Uint8Array(pool.buffer);
  const frames = new Uint32Array(256);
  const offs = new Uint32Array(256);
  const lens = new Uint32Array(256);
  let got = 0;
  let gaps = 0;
  let expect = -1;
  let first = 0;
  let last = 0;
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    const k = rx.receive(frames, offs, lens);
    if (k > 0) {
      const now = performance.now();
      if (got === 0) first = now;
      last = now;
      for (let i = 0; i < k; i++) {
        const o = frames[i]! * FRAME + offs[i]! + 14;
        const seq = (u8[o]! | (u8[o + 1]! << 8) | (u8[o + 2]! << 16) | (u8[o + 3]! << 24)) >>> 0;
        if (expect >= 0 && seq !== expect) gaps++;
        expect = (seq + 1) >>> 0;
      }
      got += k;
      rx.fillFrames(frames, 0, k);
    } else {
      await new Promise((r) => setImmediate(r));
    }
  }
  const st = rx.stats();
  const ms = last - first;
  console.log(
    `rx 64 B: ${((got / ms) * 1000 / 1e6).toFixed(3)} Mpps (${got} of ${sentByChild.trim()} sent, in ${ms.toFixed(0)} ms; ${rx.describe()}; ` +
      `sequence gaps ${gaps}, kernel drops ${st.rx_dropped + st.rx_ring_full}, fill empty ${st.rx_fill_ring_empty_descs})`,
  );
  rx.close();
  pool.done();
}
