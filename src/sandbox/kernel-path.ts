// SPDX-License-Identifier: MIT
// kernel-path.ts — the path a user would otherwise have: guest namespace ↔ Linux bridge ↔ peer namespace.
//
//   <p>-g0 (eth0, 10.99.0.10, the vif's MAC) ══ veth ══ g0 ┐
//                                                         br0 in <p>-br (no address)
//   <p>-peer (eth0, 10.99.0.1)              ══ veth ══ up ┘
//
// The baseline `phoenix bench path` compares our path (path.ts) against: the same namespace
// names, addresses and MACs, so the very same generator commands run on both. Everything is
// kernel defaults a user would get (MTU 1500, veth TSO/GSO and checksum offload on), except that
// IPv6 is off in every namespace (as in path.ts) and bridge netfilter is off in the bridge's
// namespace when br_netfilter is loaded (it costs ~1 µs per packet and is no part of switching).
// Every veth has one queue each way, like the uplink veth of path.ts. close() removes the
// namespaces (and with them the veths and the bridge) and the processes started by exec(); a
// process 'exit' hook does it if the owner forgets, and sweepStale(prefix) after a SIGKILL.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import { destroyNetns, inNs, ip, run, sweepStale } from './netns.js';

export interface KernelPathOptions {
  /** Guest namespaces (default 1). */
  guests?: number;
  /** Name prefix (default 'phxk'); the sweep of stale namespaces looks only at this prefix. */
  prefix?: string;
  /** First three octets of the /24 (default '10.99.0'): guests .10+i, peer .1 — as path.ts. */
  subnet?: string;
  log?: Logger;
}

export interface KernelPathGuest {
  netns: string;
  ifname: string;
  ip: string;
  mac: string;
}

export interface KernelPath {
  guests: KernelPathGuest[];
  peer: { netns: string; ifname: string; ip: string };
  /** The namespace holding the bridge br0. */
  bridgeNs: string;
  /** Start `cmd args` inside namespace `netns` (stdout/stderr piped by default); killed on close. */
  exec(netns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  close(): Promise<void>;
}

const live = new Set<{ netns: string[]; procs: Set<ChildProcess> }>();
let hooked = false;

function teardown(o: { netns: string[]; procs: Set<ChildProcess> }): void {
  for (const p of o.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const ns of o.netns) destroyNetns(ns);
  live.delete(o);
}

let serial = 0;

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

export async function buildKernelPath(o: KernelPathOptions = {}): Promise<KernelPath> {
  if (process.getuid?.() !== 0) throw Object.assign(new Error('kernel path cannot run here: not root (network namespaces, veth, bridge): run as root'), { code: 'ERR_SANDBOX_UNAVAILABLE' });
  const prefix = o.prefix ?? 'phxk';
  const nGuests = o.guests ?? 1;
  if (!Number.isInteger(nGuests) || nGuests < 1 || nGuests > 200) throw new Error(`buildKernelPath: guests must be 1..200, got ${nGuests}`);
  const subnet = o.subnet ?? '10.99.0';
  const swept = await sweepStale(prefix);
  if (swept.netns.length > 0) o.log?.warn(swept, 'removed what a dead kernel path left behind');
  const p = `${prefix}-${process.pid}-${serial++}`;
  const own = { netns: [] as string[], procs: new Set<ChildProcess>() };
  live.add(own);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const x of [...live]) teardown(x);
    });
  }
  const newNs = (name: string): string => {
    own.netns.push(name);
    ip(['netns', 'add', name]);
    inNs(name, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    ip(['link', 'set', 'dev', 'lo', 'up'], name);
    return name;
  };
  const veth = (a: string, nsA: string, b: string, nsB: string): void => {
    ip(['link', 'add', 'name', a, 'netns', nsA, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', b, 'netns', nsB, 'numtxqueues', '1', 'numrxqueues', '1']);
  };
  try {
    const br = newNs(`${p}-br`);
    ip(['link', 'add', 'name', 'br0', 'type', 'bridge'], br);
    // A bridge forwards at once (no STP listening/learning delay) and ages addresses normally.
    ip(['link', 'set', 'dev', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'], br);
    if (existsSync('/proc/sys/net/bridge')) {
      for (const k of ['iptables', 'ip6tables', 'arptables']) {
        try {
          inNs(br, 'sysctl', ['-qw', `net.bridge.bridge-nf-call-${k}=0`]);
        } catch {
          // not per-namespace on this kernel, or not there: nothing to turn off
        }
      }
    }
    const guests: KernelPathGuest[] = [];
    for (let i = 0; i < nGuests; i++) {
      const g = { netns: newNs(`${p}-g${i}`), ifname: 'eth0', ip: `${subnet}.${10 + i}`, mac: `00:16:3e:99:${hex2(i >> 8)}:${hex2((i & 0xff) + 1)}` };
      veth('eth0', g.netns, `g${i}`, br);
      ip(['link', 'set', 'dev', 'eth0', 'address', g.mac], g.netns);
      ip(['addr', 'add', `${g.ip}/24`, 'dev', 'eth0'], g.netns);
      ip(['link', 'set', 'dev', 'eth0', 'up'], g.netns);
      ip(['link', 'set', 'dev', `g${i}`, 'master', 'br0', 'up'], br);
      guests.push(g);
    }
    const peerNs = newNs(`${p}-peer`);
    veth('eth0', peerNs, 'up', br);
    ip(['addr', 'add', `${subnet}.1/24`, 'dev', 'eth0'], peerNs);
    ip(['link', 'set', 'dev', 'eth0', 'up'], peerNs);
    ip(['link', 'set', 'dev', 'up', 'master', 'br0', 'up'], br);
    ip(['link', 'set', 'dev', 'br0', 'up'], br);
    for (const g of guests) await pingUntil(peerNs, g.ip, 10);
    o.log?.info({ kernelPath: p, guests: nGuests }, 'kernel path ready');
    return {
      guests,
      peer: { netns: peerNs, ifname: 'eth0', ip: `${subnet}.1` },
      bridgeNs: br,
      exec(netns, cmd, args, opts = {}) {
        if (!own.netns.includes(netns)) throw new Error(`kernelPath.exec: ${netns} is not a namespace of this kernel path (${own.netns.join(', ')})`);
        const c = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
        own.procs.add(c);
        c.on('exit', () => own.procs.delete(c));
        return c;
      },
      async close() {
        if (!live.has(own)) return;
        await Promise.all(
          [...own.procs].map(async (c) => {
            if (c.exitCode !== null || c.signalCode !== null) return;
            const gone = new Promise<void>((r) => c.once('exit', () => r()));
            c.kill('SIGTERM');
            const t = setTimeout(() => c.kill('SIGKILL'), 1000);
            await gone;
            clearTimeout(t);
          }),
        );
        teardown(own);
      },
    };
  } catch (e) {
    teardown(own);
    throw e;
  }
}

/** Ping `addr` from `ns` until it answers (the bridge learns, ARP resolves), at most `tries` s. */
async function pingUntil(ns: string, addr: string, tries: number): Promise<void> {
  for (let i = 0; i < tries; i++) {
    try {
      run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', addr]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`kernel path: ${addr} does not answer ping from ${ns} after ${tries} tries (is the bridge module available? modprobe bridge)`);
}
