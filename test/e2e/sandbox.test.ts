// The path sandbox leaves nothing behind: not when its owner is killed (SIGTERM: the owner's
// signal hook tears it down; SIGKILL: the netfronts leave by themselves and the next sweep takes
// the rest), and not when building fails half-way.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildPathSandbox } from '../../src/sandbox/path.js';
import { listNetns, pidAlive, sweepStale } from '../../src/sandbox/netns.js';
import { canRun, lastJson } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Built {
  netns: string[];
  runDir: string;
  pids: number[];
  serveDirs: string[];
  sleeper: number;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Start an owner process that builds a sandbox with `prefix`; resolves with what it made. */
function startOwner(prefix: string): Promise<{ pid: number; built: Built; exited: Promise<void> }> {
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
  const c = spawn(process.execPath, [...loader, join(here, 'fixtures', 'owner.ts'), prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => c.on('exit', () => r()));
  return new Promise((resolve, reject) => {
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const b = lastJson(out, 'built');
      if (b !== undefined) resolve({ pid: c.pid!, built: b as unknown as Built, exited });
    });
    void exited.then(() => reject(new Error(`owner exited before building: ${err.slice(-3000)}`)));
  });
}

function leftovers(b: Built): string[] {
  const ns = new Set(listNetns());
  return [
    ...b.netns.filter((n) => ns.has(n)).map((n) => `netns ${n}`),
    ...[b.runDir, ...b.serveDirs].filter((d) => existsSync(d)).map((d) => `dir ${d}`),
    ...[...b.pids, b.sleeper].filter(pidAlive).map((p) => `pid ${p}`),
  ];
}

t.test('an owner killed by a signal leaves nothing behind', { timeout: 180_000 }, async (t) => {
  if (!canRun(t, ['ip'])) return;
  const [term, kill] = await Promise.all([startOwner('phx-e2e-term'), startOwner('phx-e2e-kill')]);
  t.teardown(() => {
    for (const o of [term, kill]) if (pidAlive(o.pid)) process.kill(o.pid, 'SIGKILL');
  });
  for (const o of [term, kill]) {
    t.equal(o.built.serveDirs.length, 1, "the backend's pool directory was found on its driver's command line");
    t.same(leftovers(o.built).length, o.built.netns.length + 2 + o.built.pids.length + 1, 'everything was there while the owner lived');
  }

  process.kill(term.pid, 'SIGTERM');
  await term.exited;
  t.ok(await until(() => leftovers(term.built).length === 0, 5000), 'SIGTERM: the owner removed namespaces, run directory and processes before dying', { left: leftovers(term.built) });

  process.kill(kill.pid, 'SIGKILL');
  await kill.exited;
  const nf = kill.built.pids.slice(1, 2);
  t.ok(await until(() => !nf.some(pidAlive), 10_000), 'SIGKILL: the orphaned netfront noticed and left (its TAP with it)');
  t.not(leftovers(kill.built), [], 'SIGKILL: the rest is still there...');
  const swept = await sweepStale('phx-e2e-kill');
  t.ok(swept.netns.length >= kill.built.netns.length, '...until the next sweep by prefix finds the dead owner', swept);
  t.ok(await until(() => leftovers(kill.built).length === 0, 10_000), 'the sweep removed everything', { left: leftovers(kill.built) });
});

t.test('a build that fails half-way removes what it made', { timeout: 120_000 }, async (t) => {
  if (!canRun(t, ['ip'])) return;
  const before = new Set(listNetns());
  await t.rejects(
    buildPathSandbox({ driver: 'tap', guests: 1, prefix: 'phx-e2e-fail', serveArgs: ['--uplink-timeout-ms', 'never'] }),
    /uplink-timeout-ms/,
    'the backend refused to start, and the error says why',
  );
  const after = listNetns().filter((n) => !before.has(n) && n.startsWith(`phx-e2e-fail-${process.pid}-`));
  t.same(after, [], 'no namespace left');
  t.same(readdirSync('/dev/shm').filter((d) => d.startsWith(`phx-e2e-fail-${process.pid}-`)), [], 'no run directory left');
});
