// SPDX-License-Identifier: MIT
// helpers.ts — children, temporary region paths and waiting, for the addon tests.
//
// Every child and every file a test makes is removed in a t.teardown registered the moment it is
// made, so a failing assertion never leaves a process or a /dev/shm file behind. Children run
// fixtures/child.mjs (plain JS, fast start) and talk in lines on stdout. Run directly (tap runs
// every file under test/addon/), this module tests its own promises at the bottom.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Test {
  teardown(fn: () => void | Promise<void>): void;
}

export const CHILD = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url));

let counter = 0;
/** A fresh /dev/shm path, removed at teardown. */
export function shmPath(t: Test, dir = '/dev/shm'): string {
  const path = `${dir}/phoenix-test-${process.pid}-${Date.now()}-${counter++}`;
  t.teardown(() => rmSync(path, { force: true }));
  return path;
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Resolves with the first stdout line (from now on or already seen) matching `re`. */
  line(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** All lines so far. */
  lines: string[];
  stderr(): string;
  /** Resolves when the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start fixtures/child.mjs in `mode`; SIGKILLed at teardown if still running. */
export function child(t: Test, mode: string, args: string[] = [], opts: { stdio?: StdioOptions; env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(process.execPath, [CHILD, mode, ...args], {
    stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  if (proc.pid === undefined) throw new Error(`could not spawn ${CHILD}`);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  t.teardown(async () => {
    if (alive) proc.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let partial = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  let err = '';
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const line = (re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`child ${mode}: no line matching ${re} within ${timeoutMs} ms; got ${JSON.stringify(lines)}; stderr: ${err}`));
      }, timeoutMs);
      let gone = false;
      const check = (): void => {
        for (const l of lines) {
          const m = l.match(re);
          if (m) {
            clearTimeout(timer);
            resolve(m);
            return;
          }
        }
        if (!gone) {
          waiters.push(check);
          return;
        }
        clearTimeout(timer);
        reject(new Error(`child ${mode} exited without a line matching ${re}; got ${JSON.stringify(lines)}; stderr: ${err}`));
      };
      check();
      // A last look once the child is gone and its final output has been read.
      void exited.then(() =>
        setTimeout(() => {
          gone = true;
          check();
        }, 50),
      );
    });
  return { proc, pid: proc.pid, line, lines, stderr: () => err, exited };
}

/** Poll `cond` every few ms until true; false after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/** Give the event loop some turns (for "must not happen" checks). */
export const settle = (ms = 100): Promise<void> => sleep(ms);

/** Whether /proc/self/maps lists `path` (i.e. it is still mapped in this process). */
export function mapped(path: string): boolean {
  return readFileSync('/proc/self/maps', 'utf8').includes(path);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { default: t } = await import('tap');
  let pid = 0;
  await t.test('child(): lines, exit, and a failed wait', async (t) => {
    const c = child(t, 'wait');
    pid = c.pid;
    t.equal((await c.line(/^wait(ing)$/))[1], 'ing');
    t.equal(c.proc.exitCode, null, 'still running');
  });
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'teardown killed and reaped the child');
  await t.test('a line that never comes rejects once the child has exited', async (t) => {
    const c = child(t, 'wait');
    c.proc.stdin?.end();
    await t.rejects(c.line(/^never$/), /exited without a line matching/);
    t.same(await c.exited, { code: 0, signal: null });
    t.same(c.lines, ['waiting']);
  });
}
