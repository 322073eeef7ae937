// SPDX-License-Identifier: MIT
// supervisor.ts — start each driver as its own process on a fresh channel, learn of its exit at once.
//
// startDriver() creates the channel file (fresh state, a new generation), two eventfds, and
// spawns `node drivers/<name>/main.(ts|js) --channel PATH --pool PATH ...` with the eventfds as
// the child's fds 3 (kick) and 4 (notify). The driver is found by path, never imported (DESIGN.md:
// net_uk never imports a driver). Its exit is learned through a pidfd (watchExit), not by polling
// or SIGCHLD; kill() signals it by PID. close() kills it if needed and removes the channel file.
// The pool file belongs to the caller (it outlives drivers).
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventFd, watchExit, type ExitWatch } from '../native/index.js';
import { createChannel, DriverState, type NetukChannel } from './channel.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

/** How to start driver `name`: from source under tap's TS loader, or the build (dist/drivers/<name>/main.js). */
export function driverCommand(name: string, args: string[]): { cmd: string; args: string[] } {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw new Error(`driver name "${name}": lower-case letters, digits, - and _ only`);
  if (fromSource) {
    const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
    return { cmd: process.execPath, args: [...loader, resolve(here, `../../drivers/${name}/main.ts`), ...args] };
  }
  return { cmd: process.execPath, args: [resolve(here, `../../drivers/${name}/main.js`), ...args] };
}

export interface DriverSpec {
  /** drivers/<name>/main. */
  name: string;
  /** The pool file (NetbackOptions.poolPath) and its geometry. */
  poolPath: string;
  nFrames: number;
  frameBytes?: number;
  /** Directory for the channel file (e.g. a run dir under /dev/shm). */
  runDir: string;
  generation?: number;
  txEntries?: number;
  rxEntries?: number;
  /** Extra driver arguments (e.g. ['--peer', PATH] for sim). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Called once, as soon as the process is gone (pidfd). */
  onExit?: (d: DriverProcess) => void;
}

export interface DriverExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class DriverProcess {
  /** Set when the pidfd reported the exit (before child_process's own 'exit' event, usually). */
  exitedAt: number | null = null;
  /** child_process's view of the exit (code/signal), once known. */
  readonly exited: Promise<DriverExit>;
  private readonly watch: ExitWatch;
  private err = '';
  private closed = false;

  constructor(
    readonly spec: DriverSpec,
    readonly channel: NetukChannel,
    readonly kick: EventFd,
    readonly notify: EventFd,
    readonly proc: ChildProcess,
    readonly pid: number,
  ) {
    this.exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
    proc.stderr?.on('data', (d: Buffer) => {
      this.err += d.toString();
      if (this.err.length > 100_000) this.err = this.err.slice(-50_000);
    });
    proc.stdout?.resume();
    this.watch = watchExit(pid, () => {
      this.exitedAt = performance.now();
      spec.onExit?.(this);
    });
    this.watch.unref();
  }

  get alive(): boolean {
    return this.exitedAt === null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get generation(): number {
    return this.channel.generation;
  }

  stderr(): string {
    return this.err;
  }

  /** The last `lines` lines of the driver's stderr, for error messages. */
  stderrTail(lines = 8): string {
    return this.err.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /**
   * True once the driver has said, in the counters page, that its device is open: its pid is
   * published and its state is polling or sleeping (a driver stays in `starting` until then).
   */
  get ready(): boolean {
    const s = this.channel.counter('state');
    return this.channel.counter('pid') === this.pid && (s === DriverState.polling || s === DriverState.sleeping);
  }

  /**
   * Resolve once ready; reject if the process exits first or after timeoutMs, with its stderr
   * tail in the message (that is where a driver says what is wrong: no such interface, not root).
   */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const t0 = performance.now();
    for (;;) {
      if (this.ready) return;
      if (!this.alive) {
        const e = await Promise.race([this.exited, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
        // Let the last stderr chunk arrive (the pipe may trail the exit).
        await new Promise((r) => setTimeout(r, 50));
        const how = e === null ? 'exited' : e.signal !== null ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
        throw Object.assign(new Error(`driver ${this.spec.name} ${how} before it was ready${this.err.trim() !== '' ? `: ${this.stderrTail()}` : ' (no message on stderr)'}`), { code: 'ERR_DRIVER_START' });
      }
      if (performance.now() - t0 > timeoutMs) {
        const st = this.channel.counter('state');
        throw Object.assign(new Error(`driver ${this.spec.name} (pid ${this.pid}) not ready after ${timeoutMs} ms (state ${st})${this.err.trim() !== '' ? `; its stderr: ${this.stderrTail()}` : '; nothing on its stderr'}`), { code: 'ERR_DRIVER_TIMEOUT' });
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Signal the driver by PID (default SIGKILL). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) process.kill(this.pid, signal);
  }

  /** Ask it to stop (SIGTERM), SIGKILL after graceMs; resolves when it is gone. */
  async stop(graceMs = 2000): Promise<DriverExit> {
    if (this.alive) {
      this.kill('SIGTERM');
      const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
      const e = await this.exited;
      clearTimeout(t);
      return e;
    }
    return this.exited;
  }

  /** Stop the driver if alive, close the eventfds and the channel, remove the channel file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    this.watch.close();
    live.delete(this);
    this.kick.close();
    this.notify.close();
    this.channel.close();
    rmSync(this.channel.path, { force: true });
  }
}

const live = new Set<DriverProcess>();
process.on('exit', () => {
  for (const d of live) if (d.alive) d.kill('SIGKILL');
});

let nextGeneration = 1;

/** Create a fresh channel and start the driver. Resolves once the process exists (not once it runs: watch the counters page). */
export function startDriver(spec: DriverSpec): DriverProcess {
  const generation = spec.generation ?? nextGeneration++;
  const path = join(spec.runDir, `${spec.name}-${generation}.chan`);
  const channel = createChannel(path, {
    generation,
    nFrames: spec.nFrames,
    ...(spec.frameBytes !== undefined ? { frameBytes: spec.frameBytes } : {}),
    ...(spec.txEntries !== undefined ? { txEntries: spec.txEntries } : {}),
    ...(spec.rxEntries !== undefined ? { rxEntries: spec.rxEntries } : {}),
  });
  const kick = EventFd.create();
  const notify = EventFd.create();
  const c = driverCommand(spec.name, ['--channel', path, '--pool', spec.poolPath, ...(spec.args ?? [])]);
  let proc: ChildProcess;
  try {
    // fds 3 and 4 in the child are dup2'ed copies of our eventfds (no close-on-exec there).
    proc = spawn(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe', kick.fd, notify.fd], env: { ...process.env, ...spec.env } });
    if (proc.pid === undefined) throw new Error(`could not start driver ${spec.name}: ${c.cmd} ${c.args.join(' ')}`);
  } catch (e) {
    kick.close();
    notify.close();
    channel.close();
    rmSync(path, { force: true });
    throw e;
  }
  const d = new DriverProcess(spec, channel, kick, notify, proc, proc.pid);
  live.add(d);
  return d;
}
