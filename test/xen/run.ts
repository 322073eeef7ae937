// SPDX-License-Identifier: MIT
// run.ts — `make test-xen`: boot Xen + PV dom0 + PV domU under QEMU and check our backend against Linux netfront.
//
// Host side of the real-Xen test. setup.sh installs Debian's QEMU and unpacks Debian's Xen 4.17
// and kernel into a cache; images.sh builds dom0's initramfs from them plus this checkout (dist/,
// the addon); QEMU boots it with no network (-nic none) under TCG; dom0-test.sh (in dom0) runs
// `phoenix serve --transport xen --tap phx0` and drives the domU. Everything dom0 reports comes
// back as "PHX-..." lines on the serial console, which this file timestamps, checks and sums up.
// It owns the QEMU process and kills it (by its pid) on timeout. Env: PHOENIX_XEN_CACHE (cache
// dir), PHOENIX_XEN_TIMEOUT_S (default 540), PHOENIX_XEN_ITERS (3), PHOENIX_XEN_MB (blob MiB, 16),
// PHOENIX_XEN_LOG (serial log path), PHOENIX_ADDON (another addon build, as src/native/index.ts). Exit 0 only if every check passed.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/xen');
const ROOT = resolve(HERE, '../..');
const CACHE = process.env.PHOENIX_XEN_CACHE ?? '/var/cache/phoenix-xen';
const TIMEOUT_S = Number(process.env.PHOENIX_XEN_TIMEOUT_S ?? 540);
const ITERS = Number(process.env.PHOENIX_XEN_ITERS ?? 3);
const MB = Number(process.env.PHOENIX_XEN_MB ?? 16);
const RUN = join(CACHE, 'run');
const LOG = process.env.PHOENIX_XEN_LOG ?? join(RUN, 'serial.log');

const t0 = performance.now();
const secs = (): number => (performance.now() - t0) / 1000;
const say = (s: string): void => void process.stdout.write(`[test-xen ${secs().toFixed(1).padStart(6)}s] ${s}\n`);

function step(what: string, cmd: string, args: string[]): void {
  const s = performance.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${what} failed (${cmd} ${args.join(' ')} exited ${r.status ?? r.signal})`);
  say(`${what}: ${((performance.now() - s) / 1000).toFixed(1)} s`);
}

interface Seen {
  at: number; // seconds since QEMU start, host clock
  line: string;
}

/** Boot the machine; resolve with every PHX line and when it came, once dom0 powers off (or the timeout). */
async function boot(): Promise<{ lines: Seen[]; timedOut: boolean; rc: number | null; qemuStart: number }> {
  const xenArgs = `console=com1 com1=115200,8n1 loglvl=warning guest_loglvl=warning dom0_mem=1024M,max:1024M dom0_max_vcpus=2`;
  const dom0Args = `console=hvc0 earlyprintk=xen quiet phx_iters=${ITERS} phx_mb=${MB}`;
  const out = join(CACHE, 'out');
  const args = [
    '-accel', 'tcg,thread=multi', '-cpu', 'qemu64', '-smp', '2', '-m', '2048',
    '-nographic', '-no-reboot', '-monitor', 'none', '-serial', 'stdio', '-nic', 'none',
    '-kernel', join(out, 'xen'), '-append', xenArgs,
    '-initrd', `${join(out, 'vmlinux')} ${dom0Args},${join(RUN, 'dom0.cpio')}`,
  ];
  const qemuStart = secs();
  const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(LOG);
  const lines: Seen[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    say(`timeout after ${TIMEOUT_S} s: killing QEMU (pid ${q.pid})`);
    q.kill('SIGKILL');
  }, TIMEOUT_S * 1000 - qemuStart * 1000);
  q.stderr.on('data', (b: Buffer) => log.write(b));
  const rl = createInterface({ input: q.stdout });
  rl.on('line', (raw) => {
    const line = raw.replace(/\r/g, '');
    if (line === '') return;
    const at = secs() - qemuStart;
    log.write(`[${at.toFixed(2).padStart(7)}] ${line}\n`);
    const i = line.indexOf('PHX');
    if (i < 0) return;
    const l = line.slice(i);
    lines.push({ at, line: l });
    if (!/^PHX-(FEKEY|BEKEY|LOG|GUEST|STATE)/.test(l)) say(`dom0: ${l.slice(0, 220)}`);
  });
  const rc = await new Promise<number | null>((r) => q.on('exit', (code) => r(code)));
  clearTimeout(timer);
  log.end();
  return { lines, timedOut, rc, qemuStart };
}

interface State {
  ms: number;
  node: string;
  domid?: number;
  state: string | null;
}

function main(): Promise<number> {
  return (async () => {
    mkdirSync(RUN, { recursive: true });
    if (process.env.PHOENIX_XEN_SKIP_SETUP !== '1') step('setup (Debian packages, Xen + kernel debs)', 'sh', [join(HERE, 'setup.sh')]);
    for (const f of [join(ROOT, 'dist/src/cli/main.js'), process.env.PHOENIX_ADDON ?? join(ROOT, 'build/Release/phoenix.node')]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: build first (make build)`);
    }
    step('images', 'bash', [join(HERE, 'images.sh'), RUN]);
    say(`booting Xen 4.17 + dom0 under QEMU (TCG, 2 vCPUs, no network); serial log: ${LOG}`);
    const { lines, timedOut, rc } = await boot();
    return report(lines, timedOut, rc);
  })();
}

function report(lines: Seen[], timedOut: boolean, rc: number | null): number {
  const checks: [string, boolean, string][] = [];
  const check = (name: string, ok: boolean, detail = ''): void => void checks.push([name, ok, detail]);
  const find = (re: RegExp): Seen | undefined => lines.find((l) => re.test(l.line));
  const toolstack = find(/PHX-TOOLSTACK-READY/);
  const backend = find(/PHX-BACKEND-READY/);
  check('dom0 boots and the toolstack starts', toolstack !== undefined, toolstack ? `${toolstack.at.toFixed(1)} s after QEMU start` : '');
  check('phoenix serve --transport xen starts in dom0', backend !== undefined, backend && toolstack ? `ready ${(backend.at - toolstack.at).toFixed(1)} s after the toolstack` : '');

  const states: State[] = lines.filter((l) => l.line.startsWith('PHX-STATE ')).map((l) => JSON.parse(l.line.slice(10)) as State);
  const results = lines.filter((l) => l.line.startsWith('PHX-RESULT iter='));
  const figures: string[] = [];
  for (let i = 1; i <= ITERS; i++) {
    const r = results.find((l) => l.line.includes(`iter=${i} `))?.line ?? '';
    const kv = (k: string): string => {
      const m = new RegExp(`\\b${k}=(?:"([^"]*)"|(\\S*))`).exec(r); // key="..." or key=value
      return m?.[1] ?? m?.[2] ?? '';
    };
    const domid = Number(kv('domid'));
    const st = (node: string, s: string | null): number | undefined => states.find((x) => x.node === node && x.domid === domid && x.state === s)?.ms;
    const appeared = states.find((x) => x.node === 'domain' && x.domid === domid && x.state !== null)?.ms;
    const be2 = st('be', '2');
    const fe4 = st('fe', '4');
    const be4 = st('be', '4');
    const be5 = st('be', '5');
    const be6 = st('be', '6');
    const beGone = states.find((x) => x.node === 'be' && x.domid === domid && x.state === null && (be4 === undefined || x.ms > be4))?.ms;
    const ping = kv('ping');
    const loss = /(\d+) packets transmitted, (\d+) packets received, (\d+)% packet loss/.exec(ping);
    const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(kv('rtt'));
    const transfer = lines.filter((l) => l.line.startsWith('PHX-TRANSFER '))[i - 1]?.line;
    const tr = transfer ? (JSON.parse(transfer.slice(13)) as { bytes?: number; seconds?: number; MBps?: number; error?: string }) : undefined;
    const guestPing = lines.find((l) => l.line.startsWith(`PHX-GUEST ${i} DOMU-PING`))?.line ?? '';
    const gLoss = /(\d+) packets transmitted, (\d+) packets received, (\d+)% packet loss/.exec(guestPing);
    const ok = (v: number | undefined): string => (v === undefined ? '?' : `${Math.round(v)} ms`);
    check(`round ${i}: netfront reaches Connected against our backend`, kv('connected') === '1',
      `domid ${domid}; backend InitWait ${ok(be2 !== undefined && appeared !== undefined ? be2 - appeared : undefined)} after the domain appeared; handshake (FE Connected -> BE Connected) ${ok(be4 !== undefined && fe4 !== undefined ? be4 - fe4 : undefined)}`);
    check(`round ${i}: ping dom0 -> domU loses nothing`, loss !== null && loss[1] === loss[2] && Number(loss[1]) > 0,
      loss ? `${loss[2]}/${loss[1]} received, rtt min/avg/max ${rtt ? `${rtt[1]}/${rtt[2]}/${rtt[3]} ms` : '?'}` : ping);
    check(`round ${i}: ping domU -> dom0 loses nothing`, gLoss !== null && gLoss[1] === gLoss[2], gLoss ? `${gLoss[2]}/${gLoss[1]} received` : guestPing.slice(0, 120));
    check(`round ${i}: bulk TCP transfer from the domU arrives intact`, kv('intact') === '1',
      tr?.bytes ? `${(tr.bytes / 1048576).toFixed(1)} MiB in ${tr.seconds?.toFixed(2)} s = ${tr.MBps?.toFixed(2)} MiB/s (${((tr.MBps ?? 0) * 8.388608).toFixed(1)} Mbit/s), SHA-256 matches` : (tr?.error ?? 'no transfer'));
    check(`round ${i}: xl destroy tears the vif down in time`, kv('vif_removed') === '1' && Number(kv('destroy_s')) < 9,
      `xl destroy ${kv('destroy_s')} s; backend Closing->Closed ${ok(be5 !== undefined && be6 !== undefined ? be6 - be5 : undefined)}; backend node gone ${ok(beGone !== undefined && be5 !== undefined ? beGone - be5 : undefined)} after Closing`);
    if (tr?.MBps !== undefined) figures.push(`round ${i}: ${tr.MBps.toFixed(2)} MiB/s`);
  }
  const fekeys = lines.filter((l) => l.line.startsWith('PHX-FEKEY ')).map((l) => l.line.slice(10));
  if (fekeys.length > 0) {
    say('what Linux netfront wrote (first round):');
    for (const k of fekeys) process.stdout.write(`    ${k}\n`);
  }
  const final = find(/^PHX-FINAL /);
  if (final) say(`backend's final status: ${final.line.slice(10, 1500)}`);
  for (const w of lines.filter((l) => l.line.startsWith('PHX-WARN '))) say(`backend warning: ${w.line.slice(9, 400)}`);
  check('the backend stops cleanly on SIGTERM', final !== undefined && !lines.some((l) => /did not stop/.test(l.line)));
  check('QEMU exits by dom0 powering off (no timeout)', !timedOut && rc === 0, timedOut ? `timed out after ${TIMEOUT_S} s` : `rc ${rc}`);

  process.stdout.write('\n');
  for (const [name, ok, detail] of checks) process.stdout.write(`${ok ? 'ok    ' : 'FAIL  '} ${name}${detail ? ` — ${detail}` : ''}\n`);
  const failed = checks.filter((c) => !c[1]).length;
  say(`total ${secs().toFixed(1)} s`);
  process.stdout.write(`test-xen: ${checks.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`test-xen: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
