// SPDX-License-Identifier: MIT
// xen.test.ts — the real-Xen harness (test/xen/run.ts) as part of `make test`: Xen 4.17 + a PV
// dom0 + a PV domU under QEMU, our backend in dom0 serving the domU's stock Linux xen-netfront.
//
// Runs when CI=true or PHOENIX_TEST_XEN=1; otherwise skips and says how to run it. Under CI a
// missing piece (not root, no dist/ build, no addon, setup cannot install QEMU or fetch the debs)
// is a failure, never a skip. The harness prints "qemu pid N" when QEMU starts; teardown kills
// that PID (and the harness's own) if either is still alive, so an aborted run leaves no QEMU.
// Each run gets its own run directory (PHOENIX_XEN_RUN), removed afterwards; the serial log is
// kept next to it only when the run failed. Budget: ≤ 10 minutes (PHOENIX_XEN_TIMEOUT_S 560 for the harness, 590 s for this test).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '../..');
const RUNNER = join(ROOT, 'dist/test/xen/run.js');
const ci = process.env.CI === 'true';
const wanted = ci || process.env.PHOENIX_TEST_XEN === '1';
const HARNESS_S = 560; // QEMU's own limit inside run.ts, from its start (setup and images included)

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (QEMU images in /var/cache/phoenix-xen, apt-get for setup)';
  if (!existsSync(RUNNER)) return `${RUNNER} is missing: build first (make build, or npx tsc -p tsconfig.json)`;
  const addon = process.env.PHOENIX_ADDON ?? join(ROOT, 'build/Release/phoenix.node');
  if (!existsSync(addon)) return `${addon} is missing: build the addon (npx node-gyp rebuild)`;
  return null;
}

if (!wanted) {
  t.plan(0, 'real Xen under QEMU takes ~5 min and 2 GB: set PHOENIX_TEST_XEN=1 (or CI=true) to run it, or run `make test-xen`');
} else {
  const why = missing();
  if (why !== null) {
    if (ci) t.fail(`real-Xen test cannot run: ${why}`);
    else t.plan(0, `real-Xen test cannot run: ${why}`);
  } else {
    t.test('our backend serves Linux xen-netfront in a real Xen PV domU', { timeout: (HARNESS_S + 30) * 1000 }, async (t) => {
      const run = mkdtempSync(join(tmpdir(), `phoenix-xen-${process.pid}-`));
      let qemuPid = 0;
      let failed = true;
      const env: NodeJS.ProcessEnv = { ...process.env, PHOENIX_XEN_RUN: run, PHOENIX_XEN_TIMEOUT_S: String(HARNESS_S) };
      delete env.NODE_V8_COVERAGE; // the harness is not what this suite measures coverage of
      const child = spawn(process.execPath, [RUNNER], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      t.teardown(() => {
        // QEMU only if that PID is still a QEMU (not a reused PID); the harness only if it has not exited.
        const isQemu = qemuPid > 0 && (() => {
          try {
            return readFileSync(`/proc/${qemuPid}/comm`, 'utf8').startsWith('qemu');
          } catch {
            return false;
          }
        })();
        for (const pid of [isQemu ? qemuPid : 0, child.exitCode === null && child.signalCode === null ? (child.pid ?? 0) : 0]) {
          if (pid <= 0) continue;
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        if (failed && existsSync(join(run, 'serial.log'))) {
          const keep = `${run}.serial.log`;
          cpSync(join(run, 'serial.log'), keep);
          t.comment(`serial console kept in ${keep}`);
        }
        rmSync(run, { recursive: true, force: true });
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        const m = /qemu pid (\d+)/.exec(out);
        if (m !== null && qemuPid === 0) qemuPid = Number(m[1]);
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      // Every check the harness made, as its own assertion, so a failure names the check.
      const checks = [...out.matchAll(/^(ok    |FAIL  ) (.*)$/gm)];
      t.ok(checks.length >= 10, `the harness reported its checks (got ${checks.length})`, { stderr: err.slice(-2000) });
      for (const c of checks) t.ok(c[1] === 'ok    ', c[2]!);
      const summary = /test-xen: (\d+) passed, (\d+) failed/.exec(out);
      t.ok(summary !== null && summary[2] === '0', `harness summary: ${summary?.[0] ?? 'none'}`);
      t.equal(code, 0, 'make test-xen equivalent exits 0', code === 0 ? {} : { stdout: out.slice(-4000), stderr: err.slice(-2000) });
      for (const l of out.split('\n').filter((l) => /^\s+(boot:|round \d+ \(domid|netfront negotiated)/.test(l))) t.comment(l.trim());
      failed = code !== 0;
    });
  }
}
