// SPDX-License-Identifier: MIT
// path.ts — the whole path in a box: guest namespaces → test netfronts → backend → uplink driver → a peer namespace.
//
//   <p>-g0 ── TAP (MAC = vif MAC, 10.99.0.10) ── phoenix netfront ─┐
//   <p>-g1 ── TAP (10.99.0.11) ─────────────── phoenix netfront ─┤ shm rings
//                                                                 phoenix serve (+ xenstored in this process)
//                                                                 │ driver channel
//            afxdp: drivers/afxdp on veth `up0` in <p>-be ══ veth ══ `eth0` in <p>-peer (10.99.0.1)
//            tap:   drivers/tap on a TAP that lives in <p>-peer       (10.99.0.1)
//
// <p> = <prefix>-<pid>-<n>. Shared by the e2e tests, `phoenix bench path` and the demo (see
// docs/sandbox.md). Everything made here — namespaces (and with them the veth and the TAPs),
// processes, the /dev/shm run directory — is removed by close(); if the owner exits without
// close() a synchronous 'exit'/signal hook does it, the netfronts leave by themselves when their
// parent dies, and the next buildPathSandbox() with the same prefix sweeps what a SIGKILLed
// owner left (netns.ts). IPv6 is off in every namespace (no stray RS/DAD frames in counts); TX
// checksum offload is off on the peer's interface, so every frame on the wire carries its
// checksums (the guests' TAPs have no vnet header to say "checksum pending").
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import { descendants, destroyNetns, destroyRunDir, inNs, ip, run, shmDirsOf, stopPidsSync, sweepStale, writeRecord } from './netns.js';
import { ShmWorld, type ChildHandle } from './shmworld.js';

export type PathDriver = 'afxdp' | 'tap';

export interface PathSandboxOptions {
  driver: PathDriver;
  /** Test guests (default 1). */
  guests?: number;
  /** Name prefix of everything created (default 'phx'); the sweep looks only at this prefix. */
  prefix?: string;
  log?: Logger;
  /** First three octets of the /24 (default '10.99.0'): guests .10+i, peer .1. */
  subnet?: string;
  /** Extra `phoenix serve` arguments (e.g. ['--spin-us', '0']). */
  serveArgs?: string[];
  /** Extra `phoenix netfront` arguments for every guest. */
  netfrontArgs?: string[];
  /** Ping every guest from the peer before resolving (default true): the path is proven to work. */
  verify?: boolean;
}

export interface PathGuest {
  netns: string;
  ifname: string;
  ip: string;
  mac: string;
}

export interface PathSandbox {
  guests: PathGuest[];
  peer: { netns: string; ifname: string; ip: string };
  servePid: number;
  runDir: string;
  /** Start `cmd args` inside namespace `netns` (stdout/stderr piped by default); killed on close. */
  exec(netns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  close(): Promise<void>;
  /** The backend and netfront processes (their JSON lines, e.g. the final counters after close()). */
  readonly serve: ChildHandle;
  readonly netfronts: ChildHandle[];
  readonly driver: PathDriver;
}

// ---- last-resort teardown (process exit, signals) -------------------------------------------

interface Owned {
  netns: string[];
  runDir: string;
  procs: Set<ChildProcess>;
  /** The backend's pool directory (found on its driver's command line once it is up). */
  serveDirs: string[];
}
const owned = new Set<Owned>();
let exitHooked = false;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let onSignal: ((sig: NodeJS.Signals) => void) | undefined;

/**
 * Synchronous teardown (also from 'exit' and signal handlers): SIGTERM the processes still
 * running — a backend then stops its driver and removes its own files — wait up to 5 s, SIGKILL
 * them and their descendants (e.g. a driver whose backend did not stop it), then the run
 * directory and the namespaces (with whatever still runs inside).
 */
function teardownSync(o: Owned): void {
  const live = [...o.procs].filter((p) => p.exitCode === null && p.signalCode === null && p.pid !== undefined).map((p) => p.pid!);
  const all = [...live, ...live.flatMap(descendants)];
  const serveDirs = [...new Set([...o.serveDirs, ...shmDirsOf(all)])];
  if (live.length > 0) {
    stopPidsSync(live, 5000);
    stopPidsSync(all, 0);
  }
  for (const d of [o.runDir, ...serveDirs]) destroyRunDir(d);
  for (const ns of o.netns) destroyNetns(ns);
  owned.delete(o);
}

function hookExit(): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const o of [...owned]) teardownSync(o);
    });
  }
  if (onSignal !== undefined) return;
  const h = (sig: NodeJS.Signals): void => {
    for (const o of [...owned]) teardownSync(o);
    for (const s of SIGNALS) process.off(s, h);
    onSignal = undefined;
    // Then die of the signal as if we had never listened (other listeners see it again).
    process.kill(process.pid, sig);
  };
  onSignal = h;
  for (const s of SIGNALS) process.on(s, h);
}

// ---- the builder ----------------------------------------------------------------------------

let serial = 0;

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Check what the sandbox needs before touching anything; one error lists every missing piece. */
function preflight(driver: PathDriver): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root: run as root (network namespaces, veth, TAP, AF_XDP)');
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun missing: modprobe tun');
  try {
    run('ip', ['-V']);
  } catch {
    problems.push('iproute2 missing: apt-get install iproute2');
  }
  if (driver !== 'afxdp' && driver !== 'tap') problems.push(`driver ${JSON.stringify(driver)}: use afxdp or tap`);
  if (problems.length > 0) throw Object.assign(new Error(`path sandbox cannot run here:\n  - ${problems.join('\n  - ')}`), { code: 'ERR_SANDBOX_UNAVAILABLE' });
}

export async function buildPathSandbox(o: PathSandboxOptions): Promise<PathSandbox> {
  preflight(o.driver);
  const prefix = o.prefix ?? 'phx';
  const nGuests = o.guests ?? 1;
  if (!Number.isInteger(nGuests) || nGuests < 1 || nGuests > 200) throw new Error(`buildPathSandbox: guests must be 1..200, got ${nGuests}`);
  const subnet = o.subnet ?? '10.99.0';
  const log = o.log;
  const swept = await sweepStale(prefix);
  if (swept.netns.length + swept.dirs.length > 0) log?.warn(swept, 'removed what a dead sandbox left behind');

  const n = serial++;
  const p = `${prefix}-${process.pid}-${n}`;
  const world = await ShmWorld.create(p);
  const own: Owned = { netns: [], runDir: world.runDir, procs: new Set(), serveDirs: [] };
  owned.add(own);
  hookExit();
  const t0 = performance.now();
  const children: ChildHandle[] = [];
  const track = (h: ChildHandle): ChildHandle => {
    children.push(h);
    own.procs.add(h.proc);
    void h.exited.then(() => own.procs.delete(h.proc));
    return h;
  };
  const fail = async (e: unknown): Promise<never> => {
    await world.close().catch(() => undefined);
    teardownSync(own);
    throw e;
  };

  try {
    const newNs = (name: string): string => {
      own.netns.push(name);
      ip(['netns', 'add', name]);
      // No IPv6 (no RS/DAD noise), loopback up.
      inNs(name, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      ip(['link', 'set', 'dev', 'lo', 'up'], name);
      return name;
    };
    const guests: PathGuest[] = [];
    for (let i = 0; i < nGuests; i++) {
      // The TAP is created in this namespace before it moves: its name must be unique here.
      guests.push({ netns: newNs(`${p}-g${i}`), ifname: `pt${process.pid}${n.toString(36)}g${i.toString(36)}`.slice(-15), ip: `${subnet}.${10 + i}`, mac: `00:16:3e:99:${hex2(i >> 8)}:${hex2((i & 0xff) + 1)}` });
    }
    const peerNs = newNs(`${p}-peer`);
    let uplink: string;
    let peerIf: string;
    if (o.driver === 'afxdp') {
      const beNs = newNs(`${p}-be`);
      // One queue each way: every frame from the peer lands on queue 0, the XSK's queue.
      ip(['link', 'add', 'up0', 'netns', beNs, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peerNs, 'numtxqueues', '1', 'numrxqueues', '1']);
      ip(['link', 'set', 'dev', 'up0', 'up'], beNs);
      peerIf = 'eth0';
      uplink = `afxdp:ifname=up0,queue=0,netns=${beNs}`;
    } else {
      peerIf = `pu${process.pid}${n.toString(36)}`.slice(-15);
      uplink = `tap:ifname=${peerIf},netns=${peerNs}`;
    }
    log?.info({ sandbox: p, driver: o.driver, guests: nGuests }, 'namespaces ready; starting backend and guests');

    const serve = track(world.spawn(['serve', '--xenstore', world.socket, '--uplink', uplink, ...(o.serveArgs ?? [])]));
    // The netfronts wait for the backend in xenstore: start them at once (they load in parallel).
    const netfronts = guests.map((g, i) =>
      track(world.spawn(['netfront', '--xenstore', world.socket, '--domid', String(i + 1), '--mac', g.mac, '--run-dir', world.runDir, '--tap', g.ifname, '--netns', g.netns, '--addr', `${g.ip}/24`, ...(o.netfrontArgs ?? [])], { stdin: true })),
    );
    const ready = await serve.waitEvent('ready', 60_000);
    // Remember where the backend keeps its pool, for a sweep after this process is SIGKILLed.
    const driverPid = (ready.uplink as { pid?: number } | undefined)?.pid;
    own.serveDirs = driverPid !== undefined ? shmDirsOf([driverPid]) : [];
    writeRecord(world.runDir, { owner: process.pid, serveDirs: own.serveDirs });
    // The peer side exists now (the tap driver has made its TAP): address it, offloads off.
    ip(['link', 'set', 'dev', peerIf, 'up'], peerNs);
    ip(['addr', 'add', `${subnet}.1/24`, 'brd', '+', 'dev', peerIf], peerNs);
    try {
      inNs(peerNs, 'ethtool', ['-K', peerIf, 'tx', 'off']);
    } catch (e) {
      log?.warn({ err: (e as Error).message }, 'could not turn TX checksum offload off on the peer (apt-get install ethtool); TCP/UDP from the peer may arrive with partial checksums');
    }
    await Promise.all(netfronts.map((h) => h.waitEvent('bridging', 90_000)));

    const execs = new Set<ChildProcess>();
    const sandbox: PathSandbox = {
      guests,
      peer: { netns: peerNs, ifname: peerIf, ip: `${subnet}.1` },
      servePid: serve.pid,
      runDir: world.runDir,
      serve,
      netfronts,
      driver: o.driver,
      exec(netns, cmd, args, opts = {}) {
        if (!own.netns.includes(netns)) throw new Error(`sandbox.exec: ${netns} is not a namespace of this sandbox (${own.netns.join(', ')})`);
        const c = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
        own.procs.add(c);
        execs.add(c);
        c.on('exit', () => {
          own.procs.delete(c);
          execs.delete(c);
        });
        return c;
      },
      async close() {
        if (!owned.has(own)) return;
        const stop = async (c: ChildProcess, graceMs: number): Promise<void> => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const gone = new Promise<void>((r) => c.once('exit', () => r()));
          c.kill('SIGTERM');
          const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
          await gone;
          clearTimeout(t);
        };
        await Promise.all([...execs].map((c) => stop(c, 1000)));
        await Promise.all(netfronts.map((h) => stop(h.proc, 3000)));
        await stop(serve.proc, 5000);
        await world.close();
        teardownSync(own);
        log?.info({ sandbox: p }, 'sandbox removed');
      },
    };

    if (o.verify ?? true) {
      for (const g of guests) await pingUntil(sandbox, peerNs, g.ip, 10);
    }
    log?.info({ sandbox: p, ms: Math.round(performance.now() - t0) }, 'path sandbox ready');
    return sandbox;
  } catch (e) {
    const why = children.filter((h) => h.proc.exitCode !== null).map((h) => `${h.proc.spawnargs.slice(-20).join(' ').slice(0, 200)}: ${h.stderr().slice(-1500)}`);
    return fail(why.length > 0 ? new Error(`${(e as Error).message}\n${why.join('\n')}`) : e);
  }
}

/** Ping `addr` from `ns` once a second until it answers (ARP and switch learning warm up). */
async function pingUntil(sb: PathSandbox, ns: string, addr: string, tries: number): Promise<void> {
  for (let i = 0; i < tries; i++) {
    const c = sb.exec(ns, 'ping', ['-c', '1', '-W', '1', addr], { stdio: 'ignore' });
    const code = await new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
    if (code === 0) return;
  }
  throw new Error(`sandbox: ${addr} does not answer ping from ${ns} after ${tries} tries: the path is broken (see the serve and netfront stderr)`);
}
