// SPDX-License-Identifier: MIT
// shmworld.ts — a throw-away shm "host": xenstored, a backend process and test guests, all cleaned up.
//
// Shared by tests, benchmarks and the demo. Everything it creates is tracked and removed by
// close(): the run directory under /dev/shm (domain memory files), the xenstore socket, every
// child process (killed by PID, never by name). A process 'exit' hook kills children that are
// still alive if the owner dies without calling close().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { XenstoreServer } from '../transport/xenstore/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

/**
 * How to start `phoenix <args>` as a child: from source under tap's TS loader, or the build.
 * PHOENIX_CHILD_NODE_ARGS adds node flags to the children whose command matches
 * PHOENIX_CHILD_MATCH (default: all), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` for profiling.
 */
export function phoenixCommand(args: string[]): { cmd: string; args: string[] } {
  const match = process.env.PHOENIX_CHILD_MATCH;
  const extra = (match === undefined || args[0] === match) ? (process.env.PHOENIX_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '') : [];
  if (fromSource) {
    const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
    return { cmd: process.execPath, args: [...extra, ...loader, resolve(here, '../cli/main.ts'), ...args] };
  }
  return { cmd: process.execPath, args: [...extra, resolve(here, '../cli/main.js'), ...args] };
}

export interface ChildHandle {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** JSON lines the child printed on stdout, in order. */
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first line whose `event` matches. */
  waitEvent(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the child exits. */
  exited: Promise<number | null>;
  stderr(): string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.pid !== undefined) p.kill('SIGKILL');
});

export class ShmWorld {
  readonly runDir: string;
  readonly socket: string;
  private readonly children: ChildHandle[] = [];

  private constructor(
    readonly xenstored: XenstoreServer,
    runDir: string,
    socket: string,
  ) {
    this.runDir = runDir;
    this.socket = socket;
  }

  static async create(prefix = 'phoenix'): Promise<ShmWorld> {
    const runDir = mkdtempSync(join('/dev/shm', `${prefix}-`));
    const socket = join(runDir, 'xenstored.sock');
    try {
      const xs = await XenstoreServer.start({ socketPath: socket });
      return new ShmWorld(xs, runDir, socket);
    } catch (e) {
      rmSync(runDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Start `phoenix <args>` as a child process; stdout is parsed as JSON lines. */
  spawn(args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): ChildHandle {
    const c = phoenixCommand(args);
    const proc = spawn(c.cmd, c.args, {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, PHOENIX_LOG: process.env.PHOENIX_LOG ?? 'warn', ...opts.env },
    });
    if (proc.pid === undefined) throw new Error(`could not start ${c.cmd} ${c.args.join(' ')}`);
    live.add(proc);
    const lines: Record<string, unknown>[] = [];
    const waiters: { event: string; resolve: (l: Record<string, unknown>) => void }[] = [];
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 200_000) err = err.slice(-100_000);
    });
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(l) as Record<string, unknown>;
      } catch {
        o = { event: 'text', text: l };
      }
      lines.push(o);
      for (const w of [...waiters]) if (o.event === w.event) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(o);
      }
    });
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => {
      live.delete(proc);
      res(code);
    }));
    const h: ChildHandle = {
      proc,
      pid: proc.pid,
      lines,
      exited,
      stderr: () => err,
      waitEvent: (event, timeoutMs = 30_000) =>
        new Promise((res, rej) => {
          const found = lines.find((l) => l.event === event);
          if (found !== undefined) return res(found);
          const timer = setTimeout(() => rej(new Error(`child ${proc.pid} (${args[0]}): no "${event}" within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`)), timeoutMs);
          waiters.push({ event, resolve: (l) => (clearTimeout(timer), res(l)) });
          void exited.then((code) => {
            clearTimeout(timer);
            rej(new Error(`child ${proc.pid} (${args[0]}) exited with ${code} before "${event}"; stderr: ${err.slice(-2000)}`));
          });
        }),
    };
    this.children.push(h);
    return h;
  }

  /** Start the backend service. */
  async startBackend(extra: string[] = []): Promise<ChildHandle> {
    const h = this.spawn(['serve', '--xenstore', this.socket, ...extra]);
    await h.waitEvent('ready');
    return h;
  }

  /** Start a test guest; resolves once it is connected. */
  async startGuest(domid: number, mac: string, extra: string[] = []): Promise<ChildHandle> {
    const h = this.spawn(['netfront', '--xenstore', this.socket, '--domid', String(domid), '--mac', mac, '--run-dir', this.runDir, '--wait-go', ...extra], { stdin: true });
    await h.waitEvent('connected', 60_000);
    return h;
  }

  /** Stop a child politely (SIGTERM), then SIGKILL after graceMs. */
  async stop(h: ChildHandle, graceMs = 5000): Promise<void> {
    if (h.proc.exitCode !== null || h.proc.signalCode !== null) return;
    h.proc.kill('SIGTERM');
    const t = setTimeout(() => h.proc.kill('SIGKILL'), graceMs);
    await h.exited;
    clearTimeout(t);
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => this.stop(c, 2000)));
    await this.xenstored.close();
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
