// SPDX-License-Identifier: MIT
// run.ts — `make test-xen`: boot Xen + PV dom0 + PV domU under QEMU and check our backend against Linux netfront.
//
// Host side of the real-Xen test. setup.sh installs Debian's QEMU and unpacks Debian's Xen 4.17
// and kernel into a cache; images.sh builds dom0's initramfs from them plus this checkout (dist/,
// the addon); QEMU boots it with no network (-nic none) under TCG; dom0-test.sh (in dom0) runs
// `phoenix serve --transport xen --tap phx0` and drives the domU. Everything dom0 reports comes
// back as "PHX-..." lines on the serial console, which this file timestamps, checks and sums up.
// It owns the QEMU process: it prints "qemu pid N" once QEMU runs (so a caller can kill it), and
// kills it on timeout, SIGTERM, SIGINT and exit. Exit 0 only if every check passed.
// Env: PHOENIX_XEN_CACHE (cache dir), PHOENIX_XEN_RUN (run directory: images and serial log;
// default $CACHE/run — give concurrent runs their own), PHOENIX_XEN_TIMEOUT_S (540, from start),
// PHOENIX_XEN_ITERS (3 rounds), PHOENIX_XEN_MB (blob MiB, 8), PHOENIX_XEN_SPIN_US (the backend's
// --spin-us), PHOENIX_XEN_LOG (serial log path), PHOENIX_XEN_REPLAY (check a saved serial log
// again, no boot), PHOENIX_XEN_BASELINE=kernel (the same rounds with the kernel's xen-netback
// instead of ours: reference figures only), PHOENIX_XEN_SKIP_SETUP=1, PHOENIX_ADDON (another
// addon build, as src/native/index.ts).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/xen');
const ROOT = resolve(HERE, '../..');
const CACHE = process.env.PHOENIX_XEN_CACHE ?? '/var/cache/phoenix-xen';
const TIMEOUT_S = Number(process.env.PHOENIX_XEN_TIMEOUT_S ?? 540);
const ITERS = Number(process.env.PHOENIX_XEN_ITERS ?? 3);
const MB = Number(process.env.PHOENIX_XEN_MB ?? 8);
const SPIN = process.env.PHOENIX_XEN_SPIN_US; // the backend's --spin-us (default: serve's own)
const BASELINE = process.env.PHOENIX_XEN_BASELINE === 'kernel'; // reference figures from the kernel's xen-netback
const RUN = process.env.PHOENIX_XEN_RUN ?? join(CACHE, 'run');
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
  const dom0Args = `console=hvc0 earlyprintk=xen quiet phx_iters=${ITERS} phx_mb=${MB}${SPIN !== undefined ? ` phx_spin=${Number(SPIN)}` : ''}${BASELINE ? ' phx_baseline=kernel' : ''}`;
  const out = join(CACHE, 'out');
  const args = [
    '-accel', 'tcg,thread=multi', '-cpu', 'qemu64', '-smp', '2', '-m', '2048',
    '-nographic', '-no-reboot', '-monitor', 'none', '-serial', 'stdio', '-nic', 'none',
    '-kernel', join(out, 'xen'), '-append', xenArgs,
    '-initrd', `${join(out, 'vmlinux')} ${dom0Args},${join(RUN, 'dom0.cpio')}`,
  ];
  const qemuStart = secs();
  const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (q.pid === undefined) throw new Error('cannot start qemu-system-x86_64 (is qemu-system-x86 installed? setup.sh installs it)');
  const pid = q.pid;
  say(`qemu pid ${pid}`);
  let exited = false;
  const killQemu = (): void => {
    if (!exited) q.kill('SIGKILL');
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    say(`${sig}: killing QEMU (pid ${pid})`);
    killQemu();
    process.exit(1);
  };
  process.on('exit', killQemu);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
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
  const rc = await new Promise<number | null>((r) =>
    q.on('exit', (code) => {
      exited = true;
      r(code);
    }),
  );
  clearTimeout(timer);
  process.off('exit', killQemu);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  log.end();
  return { lines, timedOut, rc, qemuStart };
}

/** A ping summary, busybox ("N packets received") or iputils ("N received, [+E errors,] L% packet loss"). */
const PING_RE = /(\d+) packets transmitted, (\d+) (?:packets )?received,.*?([\d.]+)% packet loss/;

/** Replies by icmp_seq (dom0-test.sh `seqs`): N answered, M the highest answered; N < M is a lost request. */
const SEQ_RE = /answered=(\d+) highest=(\d+)/;

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
    const replay = process.env.PHOENIX_XEN_REPLAY; // check a saved serial log again, without booting
    if (replay !== undefined) {
      const lines = readFileSync(replay, 'utf8').split('\n').flatMap((l) => {
        const m = /^\[\s*([\d.]+)\] .*?(PHX.*)$/.exec(l);
        return m === null ? [] : [{ at: Number(m[1]), line: m[2]! }];
      });
      return report(lines, false, 0);
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
  check(BASELINE ? 'the kernel\'s xen-netback is loaded (baseline)' : 'phoenix serve --transport xen starts in dom0', backend !== undefined, backend && toolstack ? `ready ${(backend.at - toolstack.at).toFixed(1)} s after the toolstack` : '');

  const states: (State & { at: number })[] = lines.filter((l) => l.line.startsWith('PHX-STATE ')).map((l) => ({ ...(JSON.parse(l.line.slice(10)) as State), at: l.at }));
  const results = lines.filter((l) => l.line.startsWith('PHX-RESULT iter='));
  const figures: string[] = [];
  const dom0Init = find(/\[dom0\] init/);
  figures.push(`boot: QEMU start -> dom0 /init ${dom0Init?.at.toFixed(1) ?? '?'} s, -> toolstack up ${toolstack?.at.toFixed(1) ?? '?'} s, -> backend ready ${backend?.at.toFixed(1) ?? '?'} s (host clock)`);
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
    const closedNote = be5 === undefined && be6 !== undefined ? ' (Closing not seen by the watcher: coalesced)' : '';
    const beGone = states.find((x) => x.node === 'be' && x.domid === domid && x.state === null && (be4 === undefined || x.ms > be4))?.ms;
    const closeStart = be5 ?? states.find((x) => x.node === 'fe' && x.domid === domid && x.state === null)?.ms; // libxl removes the frontend first
    const ping = kv('ping');
    const loss = PING_RE.exec(ping);
    const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(kv('rtt'));
    const transfer = lines.filter((l) => l.line.startsWith('PHX-TRANSFER '))[i - 1]?.line;
    const tr = transfer ? (JSON.parse(transfer.slice(13)) as { bytes?: number; seconds?: number; MBps?: number; error?: string }) : undefined;
    const guestPing = lines.find((l) => l.line.startsWith(`PHX-GUEST ${i} DOMU-PING`))?.line ?? '';
    const gLoss = PING_RE.exec(guestPing);
    const seq = SEQ_RE.exec(kv('ping_seq'));
    const gSeq = SEQ_RE.exec(guestPing);
    const gRtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(guestPing);
    const ok = (v: number | undefined): string => (v === undefined ? '?' : `${Math.round(v)} ms`);
    const sec = (v: number | undefined): string => (v === undefined ? '?' : `${v.toFixed(1)} s`);
    const createAt = find(new RegExp(`PHX-CREATE ${i}$`))?.at;
    const be4At = states.find((x) => x.node === 'be' && x.domid === domid && x.state === '4')?.at;
    const guestUp = /DOMU-UP T\+([\d.]+)/.exec(lines.find((l) => l.line.startsWith(`PHX-GUEST ${i} DOMU-UP`))?.line ?? '');
    figures.push(
      `round ${i} (domid ${domid}): xl create -> backend Connected ${sec(createAt !== undefined && be4At !== undefined ? be4At - createAt : undefined)} ` +
        `(guest kernel -> /init ${guestUp ? `${guestUp[1]} s` : '?'}; netfront Connected -> ours ${ok(be4 !== undefined && fe4 !== undefined ? be4 - fe4 : undefined)}); ` +
        `ping dom0->domU ${seq ? `${seq[1]}/${seq[2]}` : '?'} rtt ${rtt ? `${rtt[1]}/${rtt[2]}/${rtt[3]}` : '?'} ms, domU->dom0 ${gSeq ? `${gSeq[1]}/${gSeq[2]}` : '?'} rtt ${gRtt ? `${gRtt[1]}/${gRtt[2]}/${gRtt[3]}` : '?'} ms; ` +
        `transfer ${tr?.bytes ? `${(tr.bytes / 1048576).toFixed(1)} MiB at ${tr.MBps?.toFixed(2)} MiB/s` : '?'}; ` +
        `xl destroy ${kv('destroy_s')} s (Closing -> our Closed ${ok(be5 !== undefined && be6 !== undefined ? be6 - be5 : undefined)})`,
    );
    check(`round ${i}: netfront reaches Connected against our backend`, kv('connected') === '1' && (BASELINE || kv('kernel_netback') === '0'),
      `domid ${domid}; kernel xen-netback loaded: ${kv('kernel_netback') === '0' ? 'no' : kv('kernel_netback')}; backend InitWait ${ok(be2 !== undefined && appeared !== undefined ? be2 - appeared : undefined)} after the domain appeared; handshake (FE Connected -> BE Connected) ${ok(be4 !== undefined && fe4 !== undefined ? be4 - fe4 : undefined)}`);
    check(`round ${i}: ping dom0 -> domU loses nothing`, seq !== null && Number(seq[1]) >= 20 && seq[1] === seq[2],
      `${seq ? `replies to requests 1..${seq[2]}: ${seq[1]}` : 'no replies'}; ping: ${loss ? `${loss[1]} sent, ${loss[2]} received${Number(loss[1]) > Number(loss[2]) ? ' (the rest in flight when ping had its replies)' : ''}` : ping}, rtt min/avg/max ${rtt ? `${rtt[1]}/${rtt[2]}/${rtt[3]} ms` : '?'}`);
    check(`round ${i}: ping domU -> dom0 loses nothing`, gSeq !== null && Number(gSeq[1]) >= 10 && gSeq[1] === gSeq[2],
      `${gSeq ? `replies to requests 1..${gSeq[2]}: ${gSeq[1]}` : 'no replies'}; ping: ${gLoss ? `${gLoss[1]} sent, ${gLoss[2]} received` : guestPing.slice(0, 120)}, rtt min/avg/max ${gRtt ? `${gRtt[1]}/${gRtt[2]}/${gRtt[3]} ms` : '?'}`);
    check(`round ${i}: bulk TCP transfer from the domU arrives intact`, kv('intact') === '1',
      tr?.bytes ? `${(tr.bytes / 1048576).toFixed(1)} MiB in ${tr.seconds?.toFixed(2)} s = ${tr.MBps?.toFixed(2)} MiB/s (${((tr.MBps ?? 0) * 8.388608).toFixed(1)} Mbit/s), SHA-256 matches` : (tr?.error ?? 'no transfer'));
    // In time = within libxl's own deadline: it waits 10 s for Closed after writing Closing (then
    // forces the removal) — the only timing this check relies on is that protocol limit. The
    // watcher may not see Closing at all (two writes between its reads coalesce), but Closed
    // must have been there before the node went away.
    const be6After = states.find((x) => x.node === 'be' && x.domid === domid && x.state === '6' && (be4 === undefined || x.ms > be4))?.ms;
    const answered = be6After !== undefined && (be5 === undefined || be6After - be5 < 10000);
    check(`round ${i}: xl destroy tears the vif down in time`, kv('vif_removed') === '1' && kv('destroy_rc') === '0' && kv('xl_msgs') === '0' && answered,
      `xl destroy rc ${kv('destroy_rc')} in ${kv('destroy_s')} s, ${kv('xl_msgs')} toolstack complaints; backend Closing->Closed ${ok(be5 !== undefined && be6 !== undefined ? be6 - be5 : undefined)}${closedNote}; backend node gone ${ok(beGone !== undefined && closeStart !== undefined ? beGone - closeStart : undefined)} after the toolstack began`);
  }
  const fekeys = lines.filter((l) => l.line.startsWith('PHX-FEKEY ')).map((l) => l.line.slice(10));
  if (fekeys.length > 0) {
    say('what Linux netfront wrote (first round):');
    for (const k of fekeys) process.stdout.write(`    ${k}\n`);
    const fe = new Map(fekeys.map((k) => /\/([^/]+) = "(.*)"$/.exec(k)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]));
    const feats = [...fe].filter(([k]) => k.startsWith('feature-')).map(([k, v]) => `${k}=${v}`);
    figures.push(
      `netfront negotiated: queues ${fe.get('multi-queue-num-queues') ?? '1 (no multi-queue-num-queues: we offer no multi-queue-max-queues)'}; ` +
        `event channels ${fe.has('event-channel-tx') ? `split (tx ${fe.get('event-channel-tx')}, rx ${fe.get('event-channel-rx')})` : `shared (${fe.get('event-channel') ?? '?'})`}; ` +
        `request-rx-copy=${fe.get('request-rx-copy') ?? '?'}; ${feats.join(' ')}`,
    );
  }
  for (const x of lines.filter((l) => /^PHX-(XL|PINGLOG|DOM0STATS) |^PHX-GUEST \d+ DOMU-STATS/.test(l.line))) say(x.line.slice(0, 300));
  say('figures:');
  for (const f of figures) process.stdout.write(`    ${f}\n`);
  const finals = lines.filter((l) => l.line.startsWith('PHX-FINAL '));
  const final = finals[0];
  for (const f of finals) say(`backend's final status: ${f.line.slice(10, 1500)}`);
  for (const w of lines.filter((l) => l.line.startsWith('PHX-WARN '))) say(`backend warning: ${w.line.slice(9, 400)}`);
  if (!BASELINE) check('the backend stops cleanly on SIGTERM', final !== undefined && !lines.some((l) => /did not stop/.test(l.line)));
  else say('BASELINE run: the kernel\'s xen-netback served the vifs; these are reference figures, not a test of our backend');
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
