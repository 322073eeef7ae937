// SPDX-License-Identifier: MIT
// privileges.test.ts — an unprivileged process is told what it lacks and how to fix it.
//
// Runs a probe as user nobody (setpriv, so no capability survives): xskCapability() must list
// the missing capabilities with the fix, and opening a socket must fail with EPERM whose message
// says the same. Needs root to drop to nobody; skips with the reason otherwise (fails under CI).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { needRoot } from './netns.js';

const DOOR = fileURLToPath(new URL('../../src/native/index.ts', import.meta.url));
// Run as nobody: what does AF_XDP say to it? Prints one JSON line.
const PROBE = `
const m = await import(${JSON.stringify(DOOR)});
const out = { cap: m.xskCapability() };
const path = '/dev/shm/phx-priv-' + process.pid;
const r = m.mapShared(path, { create: true, size: 4 * 1024 * 1024 });
try {
  m.openXsk({ ifname: 'lo', umem: r.buffer });
  out.opened = true;
} catch (e) {
  out.error = { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message };
}
r.close();
(await import('node:fs')).rmSync(path, { force: true });
console.log(JSON.stringify(out));
`;

t.test('not root: the capability report and the error both say what to do', async (t) => {
  if (!needRoot(t)) return;
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...loader, '--input-type=module', '-e', PROBE], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(r.status, 0, `probe ran: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    cap: { ok: boolean; problems: string[] };
    error?: { code: string; syscall: string; message: string };
    opened?: boolean;
  };
  t.equal(out.cap.ok, false);
  t.match(out.cap.problems.join('\n'), /CAP_NET_RAW.*CAP_NET_ADMIN.*CAP_BPF.*run as root.*setcap/);
  t.notOk(out.opened, 'no socket for nobody');
  t.match(out.error, { code: 'EPERM', syscall: 'socket', message: /root.*CAP_NET_RAW/ });
});
