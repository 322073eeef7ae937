// SPDX-License-Identifier: MIT
// capability.test.ts — capabilityReport() here, and with a missing or broken addon.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { capabilityReport } from '../../src/native/index.js';
import { shmPath } from './helpers.js';

function hugepagesUsable(): boolean {
  const mounted = /^\S+ \/dev\/hugepages hugetlbfs /m.test(readFileSync('/proc/mounts', 'utf8'));
  try {
    return mounted && Number(readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'utf8')) > 0;
  } catch {
    return false;
  }
}

t.test('on this machine', async (t) => {
  const r = capabilityReport();
  t.same(r.problems.filter((p) => !p.startsWith('optional:')), [], `required capabilities present: ${r.message}`);
  t.equal(r.ok, true);
  const huge = r.problems.find((p) => p.startsWith('optional: hugepages'));
  t.equal(huge === undefined, hugepagesUsable(), 'hugepages reported iff unusable');
  if (huge !== undefined) t.match(huge, /nr_hugepages/, 'with its fix');
  for (const p of r.problems) t.ok(r.message.includes(p), 'the message lists every problem');
});

t.test('importing the door without a usable addon does not throw; the report says why', async (t) => {
  const broken = `${shmPath(t)}.node`;
  t.teardown(() => rmSync(broken, { force: true }));
  writeFileSync(broken, 'not an ELF file');
  const door = new URL('../../src/native/index.ts', import.meta.url).pathname;
  const script = `
    const a = await import(${JSON.stringify(door + '?missing')});
    process.env.PHOENIX_ADDON = ${JSON.stringify(broken)};
    const b = await import(${JSON.stringify(door + '?broken')});
    const out = [];
    for (const m of [a, b]) {
      let code;
      try { m.EventFd.create(); } catch (e) { code = e.code; }
      out.push({ report: m.capabilityReport(), code });
    }
    console.log(JSON.stringify(out));`;
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const proc = spawn(process.execPath, [...loader, '--input-type=module', '-e', script], {
    env: { ...process.env, PHOENIX_ADDON: '/nonexistent/phoenix.node' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
  t.equal(code, 0, `child ran (stderr: ${err})`);
  const [missing, bad] = JSON.parse(out) as Array<{ report: { ok: boolean; problems: string[]; message: string }; code: string }>;
  t.equal(missing?.code, 'ERR_PHOENIX_ADDON_MISSING', 'using it throws the load error');
  t.equal(missing?.report.ok, false);
  t.match(missing?.report.problems[0], /^addon: .*not found at \/nonexistent\/phoenix\.node\. Build it with `npm ci`/);
  t.match(missing?.report.message, /^phoenix: cannot run:\n {2}- addon: /);
  t.equal(bad?.code, 'ERR_PHOENIX_ADDON_LOAD');
  t.equal(bad?.report.ok, false);
  t.match(bad?.report.problems[0], /^addon: .*cannot load the native addon .*npx node-gyp rebuild/);
});
