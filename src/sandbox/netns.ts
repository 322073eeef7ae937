// SPDX-License-Identifier: MIT
// netns.ts — the namespace chores of the sandboxes: `ip` calls, sweeping stale resources, last-resort teardown.
//
// Every name a sandbox makes is `<prefix>-<owner pid>-<n>…` (namespaces, the /dev/shm run
// directory), so whatever a dead owner left behind can be found and removed: sweepStale() deletes
// the namespaces and run directories whose owner pid no longer runs, after killing what still
// runs inside those namespaces or names that run directory on its command line. The teardown
// functions here are synchronous so they also work from a process 'exit' handler.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export class CommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Run a command synchronously; throws with its stderr and a hint on failure. */
export function run(cmd: string, args: string[], hint = ''): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { stderr?: string; code?: string };
    const stderr = (err.stderr ?? '').trim();
    const why = err.code === 'ENOENT' ? `${cmd} is not installed` : stderr !== '' ? stderr : err.message;
    throw new CommandError(`\`${cmd} ${args.join(' ')}\` failed: ${why}${hint !== '' ? ` (${hint})` : ''}`, stderr);
  }
}

export function ip(args: string[], ns?: string): string {
  return run('ip', ns === undefined ? args : ['-n', ns, ...args], 'needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2');
}

export function inNs(ns: string, cmd: string, args: string[]): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], 'needs root and iproute2');
}

/** True while `pid` runs (a zombie, dead but not yet reaped, counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function listNetns(): string[] {
  let out: string;
  try {
    out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return [];
  }
  return out.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n !== '');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Kill (SIGKILL) every process still running inside namespace `ns`, then delete it. Never throws. */
export function destroyNetns(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const p of pids.split('\n')) if (/^\d+$/.test(p) && Number(p) !== process.pid) signal(Number(p), 'SIGKILL');
  } catch {
    // no such namespace
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

/** Processes whose command line mentions `needle` (e.g. a run directory); never this process. */
export function pidsMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(needle)) found.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Kill the processes that name `dir` on their command line, then remove `dir`. Never throws. */
export function destroyRunDir(dir: string): void {
  for (const p of pidsMentioning(dir)) signal(p, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Remove what earlier sandboxes with this prefix left behind when their owner died: namespaces
 * `<prefix>-<pid>-…` and run directories /dev/shm/<prefix>-<pid>-… whose pid is not running.
 * Processes named after a stale run directory get SIGTERM first (a backend then removes its own
 * files), SIGKILL after graceMs. Returns what was removed.
 */
export async function sweepStale(prefix: string, graceMs = 3000): Promise<{ netns: string[]; dirs: string[]; pids: number[] }> {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-`);
  const stale = (name: string): boolean => {
    const m = re.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  };
  const dirs = existsSync('/dev/shm') ? readdirSync('/dev/shm').filter(stale).map((d) => `/dev/shm/${d}`) : [];
  // The backend's own pool directories, as the sandbox recorded them (its driver names one).
  const recorded = dirs.flatMap((d) => readRecord(d).serveDirs);
  const pids = [...new Set([...dirs, ...recorded].flatMap((d) => pidsMentioning(d)))];
  const all = [...pids, ...pids.flatMap(descendants)];
  const serveDirs = [...new Set([...recorded, ...shmDirsOf(all)])];
  for (const p of pids) signal(p, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (pids.some(pidAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const p of all) if (pidAlive(p)) signal(p, 'SIGKILL');
  for (const d of [...dirs, ...serveDirs]) destroyRunDir(d);
  const netns = listNetns().filter(stale);
  for (const ns of netns) destroyNetns(ns);
  return { netns, dirs, pids };
}

/** Every descendant of `pid` (children, grandchildren, …), from /proc/PID/stat parent links. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(d), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [c, pp] of parentOf) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Block (no event loop needed: usable in an 'exit' handler) until none of `pids` runs, or timeoutMs. */
export function waitGoneSync(pids: number[], timeoutMs: number): boolean {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!pids.some(pidAlive)) return true;
    if (Date.now() >= until) return false;
    Atomics.wait(cell, 0, 0, 20);
  }
}

/** SIGTERM `pids`, wait up to graceMs for them to go, SIGKILL what is left. Synchronous; never throws. */
export function stopPidsSync(pids: number[], graceMs: number): void {
  for (const p of pids) signal(p, 'SIGTERM');
  if (!waitGoneSync(pids, graceMs)) for (const p of pids) if (pidAlive(p)) signal(p, 'SIGKILL');
}

/**
 * Directories under /dev/shm that the processes `pids` name on their command lines (e.g. the
 * pool directory a backend made for its driver: /dev/shm/phoenix-serve-XXXXXX/pool), so they
 * can be removed once those processes are dead.
 */
export function shmDirsOf(pids: number[]): string[] {
  const dirs = new Set<string>();
  for (const p of pids) {
    try {
      for (const m of readFileSync(`/proc/${p}/cmdline`, 'latin1').matchAll(/\/dev\/shm\/(phoenix-serve-[A-Za-z0-9]{6})\//g)) dirs.add(`/dev/shm/${m[1]}`);
    } catch {
      // exited
    }
  }
  return [...dirs];
}

/** What a sandbox writes into its run directory so a sweep can find what lives outside it. */
export interface SandboxRecord {
  owner: number;
  /** /dev/shm/phoenix-serve-XXXXXX directories made by the backend for its driver. */
  serveDirs: string[];
}

export const RECORD_FILE = 'sandbox.json';

export function writeRecord(runDir: string, r: SandboxRecord): void {
  writeFileSync(`${runDir}/${RECORD_FILE}`, JSON.stringify(r));
}

export function readRecord(runDir: string): SandboxRecord {
  try {
    const r = JSON.parse(readFileSync(`${runDir}/${RECORD_FILE}`, 'utf8')) as Partial<SandboxRecord>;
    // Only ever the backend's own naming: a damaged record cannot point the sweep elsewhere.
    const serveDirs = (Array.isArray(r.serveDirs) ? r.serveDirs : []).filter((d): d is string => typeof d === 'string' && /^\/dev\/shm\/phoenix-serve-[A-Za-z0-9]{6}$/.test(d));
    return { owner: Number(r.owner), serveDirs };
  } catch {
    return { owner: 0, serveDirs: [] };
  }
}
