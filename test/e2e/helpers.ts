// SPDX-License-Identifier: MIT
// helpers.ts — running real Linux programs inside a path sandbox's namespaces, for the e2e tests.
//
// Every program is started through PathSandbox.exec (so close() kills whatever is left) and
// awaited with a deadline; a program that overstays is killed and the test fails with its
// output. canRun() skips a test without root (and fails it when CI=true).
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { PathSandbox } from '../../src/sandbox/path.js';

const here = dirname(fileURLToPath(import.meta.url));
export const UDPSEQ = join(here, 'fixtures', 'udpseq.mjs');

/** True when the e2e tests can run here; otherwise skips (or fails, under CI=true) with the reason. */
export function canRun(t: Test, tools: string[]): boolean {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root (network namespaces, veth, TAP, AF_XDP need it)');
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun missing (modprobe tun)');
  for (const tool of tools) if (!['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, tool)))) problems.push(`${tool} missing (scripts/setup.sh installs it)`);
  if (problems.length === 0) return true;
  const msg = `e2e path tests cannot run: ${problems.join('; ')}`;
  if (process.env.CI === 'true') t.fail(msg);
  else t.pass('e2e test not run', { skip: msg });
  return false;
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Collect a child's output and its exit; kill it after timeoutMs. */
export function finish(c: ChildProcess, timeoutMs: number): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      c.kill('SIGKILL');
    }, timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
  });
}

export function runIn(sb: PathSandbox, ns: string, cmd: string, args: string[], timeoutMs = 20_000): Promise<Ran> {
  return finish(sb.exec(ns, cmd, args), timeoutMs);
}

/** Start a program and resolve once a stdout line matches `ready` (e.g. a JSON "listening" event). */
export function startIn(sb: PathSandbox, ns: string, cmd: string, args: string[], ready: RegExp, timeoutMs = 15_000): Promise<{ c: ChildProcess; done: Promise<Ran> }> {
  const c = sb.exec(ns, cmd, args);
  const done = finish(c, 60_000);
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} in ${ns}: not ready within ${timeoutMs} ms; output: ${seen}`)), timeoutMs);
    c.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve({ c, done });
      }
    });
    void done.then((r) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} in ${ns} exited (${r.code}) before it was ready: ${r.stdout} ${r.stderr}`));
    });
  });
}

/** ping summary: transmitted, received. */
export function pingStats(out: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return m === null ? { sent: 0, received: -1 } : { sent: Number(m[1]), received: Number(m[2]) };
}

/** Wait until something listens on TCP `port` in `ns` (iperf3 -s). */
export async function waitListening(sb: PathSandbox, ns: string, port: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const r = await runIn(sb, ns, 'ss', ['-Hltn', `sport = :${port}`], 5000);
    if (r.stdout.includes(`:${port}`)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`nothing listens on port ${port} in ${ns} after ${timeoutMs} ms`);
}

export function lastJson(out: string, event: string): Record<string, unknown> | undefined {
  for (const l of out.split('\n').reverse()) {
    try {
      const o = JSON.parse(l) as Record<string, unknown>;
      if (o.event === event) return o;
    } catch {
      // not JSON
    }
  }
  return undefined;
}
