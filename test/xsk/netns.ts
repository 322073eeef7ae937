// SPDX-License-Identifier: MIT
// netns.ts — throw-away network namespace pairs joined by a veth, for the AF_XDP tests.
//
// Real traffic in these tests only ever crosses a veth pair whose both ends live in namespaces
// the test created (unique names per process and call); both namespaces — and with them the veth
// and any XDP program on it — are removed in t.teardown, registered before anything is made, so
// a failing assertion leaves nothing behind. IPv6 is off in both namespaces so the kernel sends
// no router solicitations or DAD probes into a test that counts frames.
// needRoot() skips a test with the reason when it cannot run here, and fails it when CI=true.
import { execFileSync } from 'node:child_process';
import type { Test } from 'tap';
import { xskCapability } from '../../src/native/index.js';

export type { Test };

export interface VethPair {
  /** Namespace names (/run/netns/NAME). */
  nsA: string;
  nsB: string;
  /** veth ends: ifA in nsA, ifB in nsB. */
  ifA: string;
  ifB: string;
  macA: Uint8Array;
  macB: Uint8Array;
}

/** True when the test can run; otherwise skips it (or fails it under CI=true) with the reason. */
export function needRoot(t: Test): boolean {
  const cap = xskCapability();
  let reason = cap.problems.join('; ');
  if (cap.ok) {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
    } catch (e) {
      reason = `iproute2 (ip netns) is not usable: ${(e as Error).message}; apt-get install iproute2`;
    }
  }
  if (reason === '') return true;
  const msg = `AF_XDP tests need root, libbpf and iproute2 — ${reason}`;
  if (process.env.CI === 'true') t.fail(msg);
  else t.pass('AF_XDP test not run', { skip: msg });
  return false;
}

export function ip(args: string[], ns?: string): string {
  const full = ns === undefined ? args : ['-n', ns, ...args];
  return execFileSync('ip', full, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a command inside a namespace (ip netns exec). */
export function inNs(ns: string, cmd: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function macOf(ns: string, ifname: string): Uint8Array {
  const m = /link\/ether ([0-9a-f:]{17})/.exec(ip(['link', 'show', 'dev', ifname], ns));
  if (m === null) throw new Error(`no MAC address on ${ifname} in ${ns}`);
  return Uint8Array.from(m[1]!.split(':').map((h) => parseInt(h, 16)));
}

let counter = 0;
/**
 * Two fresh namespaces joined by a single-queue veth (one queue each way, so every frame lands on
 * queue 0), both ends up. Removed at teardown.
 */
export function vethPair(t: Test, opts: { mtu?: number } = {}): VethPair {
  const tag = `${process.pid % 100000}${(counter++).toString(36)}`;
  const nsA = `phx-xsk-${tag}-a`;
  const nsB = `phx-xsk-${tag}-b`;
  const ifA = `pxa${tag}`.slice(0, 15);
  const ifB = `pxb${tag}`.slice(0, 15);
  t.teardown(() => {
    for (const ns of [nsA, nsB]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // not created
      }
    }
  });
  for (const ns of [nsA, nsB]) {
    ip(['netns', 'add', ns]);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  ip([
    'link', 'add', ifA, 'netns', nsA, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth',
    'peer', 'name', ifB, 'netns', nsB, 'numtxqueues', '1', 'numrxqueues', '1',
  ]);
  for (const [ns, ifname] of [[nsA, ifA], [nsB, ifB]] as const) {
    if (opts.mtu !== undefined) ip(['link', 'set', 'dev', ifname, 'mtu', String(opts.mtu)], ns);
    ip(['link', 'set', 'dev', ifname, 'up'], ns);
  }
  return { nsA, nsB, ifA, ifB, macA: macOf(nsA, ifA), macB: macOf(nsB, ifB) };
}

/** What `ip -d link show` says about XDP on an interface: 'xdp' (native), 'xdpgeneric', or 'none'. */
export function xdpOnLink(ns: string, ifname: string): 'xdp' | 'xdpgeneric' | 'none' {
  const out = ip(['-d', 'link', 'show', 'dev', ifname], ns);
  if (/\bxdpgeneric\b/.test(out)) return 'xdpgeneric';
  if (/\bxdp\b/.test(out)) return 'xdp';
  return 'none';
}

/** Ethertype for test frames (IEEE local experimental 1). */
export const TEST_ETHERTYPE = 0x88b5;

/**
 * Write a test frame of `len` bytes at `off`: dst, src, ethertype 0x88b5, then the sequence
 * number (u32 LE) and the payload pattern (byte i = (seq + i) & 0xff).
 */
export function writeFrame(u8: Uint8Array, off: number, len: number, dst: Uint8Array, src: Uint8Array, seq: number): void {
  u8.set(dst, off);
  u8.set(src, off + 6);
  u8[off + 12] = TEST_ETHERTYPE >> 8;
  u8[off + 13] = TEST_ETHERTYPE & 0xff;
  u8[off + 14] = seq & 0xff;
  u8[off + 15] = (seq >>> 8) & 0xff;
  u8[off + 16] = (seq >>> 16) & 0xff;
  u8[off + 17] = (seq >>> 24) & 0xff;
  for (let i = 18; i < len; i++) u8[off + i] = (seq + i) & 0xff;
}

/** The sequence number of a test frame, or -1 when the frame is not one (wrong type or damaged payload). */
export function readFrame(u8: Uint8Array, off: number, len: number): number {
  if (len < 18 || u8[off + 12] !== TEST_ETHERTYPE >> 8 || u8[off + 13] !== (TEST_ETHERTYPE & 0xff)) return -1;
  const seq = (u8[off + 14]! | (u8[off + 15]! << 8) | (u8[off + 16]! << 16) | (u8[off + 17]! << 24)) >>> 0;
  for (let i = 18; i < len; i++) if (u8[off + i] !== ((seq + i) & 0xff)) return -1;
  return seq;
}
