// SPDX-License-Identifier: MIT
// debian-tools.test.ts — Debian's xenstore-utils (libxenstore, Xen 4.17) against our server.
//
// libxenstore's xs_open() connects to $XENSTORED_PATH if set (tools/xenstore/xs_lib.c
// xs_daemon_path; otherwise $XENSTORED_RUNDIR/socket, default /run/xenstored/socket) and speaks
// the socket protocol when that path is a socket. So pointing the tools at our dom0 socket, or
// at a domain's socket to act as that domain, is one environment variable.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { startRig } from './fixtures/rig.js';

const TOOLS = ['xenstore-write', 'xenstore-read', 'xenstore-ls', 'xenstore-rm', 'xenstore-watch', 'xenstore-list', 'xenstore-exists', 'xenstore-chmod'];
const missing = TOOLS.filter((n) => !fs.existsSync(`/usr/bin/${n}`));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(sock: string, cmd: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, XENSTORED_PATH: sock }, timeout: 10000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

if (missing.length > 0) {
  const why = `Debian xenstore tools missing (${missing.join(', ')}): apt-get install xenstore-utils`;
  if (process.env.CI === 'true') t.fail(why);
  else t.plan(0, why);
} else {
  t.test('write, read, list, exists, ls, rm as dom0', async (t) => {
    const rig = await startRig(t);
    const xs = await rig.dom0();
    t.same(await run(rig.sock, 'xenstore-write', '/a/b', 'hello', '/a/c', 'two words'), { code: 0, stdout: '', stderr: '' });
    t.equal(await xs.read('/a/b'), 'hello', 'our client sees their write');
    t.equal(await xs.read('/a/c'), 'two words');
    await xs.write('/a/d/e', 'deep');
    t.equal((await run(rig.sock, 'xenstore-read', '/a/b', '/a/d/e')).stdout, 'hello\ndeep\n');
    t.equal((await run(rig.sock, 'xenstore-read', '-p', '/a/c')).stdout, '/a/c: two words\n');
    const miss = await run(rig.sock, 'xenstore-read', '/a/nope');
    t.equal(miss.code, 1);
    t.match(miss.stderr, /couldn't read path \/a\/nope/);
    t.equal((await run(rig.sock, 'xenstore-list', '/a')).stdout, 'b\nc\nd\n');
    t.equal((await run(rig.sock, 'xenstore-exists', '/a/d')).code, 0);
    t.equal((await run(rig.sock, 'xenstore-exists', '/a/x')).code, 1);
    t.equal((await run(rig.sock, 'xenstore-ls', '/a')).stdout, 'b = "hello"\nc = "two words"\nd = ""\n e = "deep"\n');
    t.equal((await run(rig.sock, 'xenstore-ls', '-f', '/a/d')).stdout, '/a/d/e = "deep"\n');
    t.match((await run(rig.sock, 'xenstore-ls', '-p', '/a')).stdout, /^b = "hello" [ .]*\(n0\)$/m, 'permissions column');
    t.match((await run(rig.sock, 'xenstore-ls')).stdout, /^tool = ""\n xenstored = ""\na = ""\n/, 'whole tree from /');
    t.equal((await run(rig.sock, 'xenstore-rm', '/a/d')).code, 0);
    t.equal(await xs.read('/a/d/e'), undefined);
    await xs.write('/t/u/v', 'x');
    t.equal((await run(rig.sock, 'xenstore-rm', '-t', '/t/u/v')).code, 0);
    t.equal(await xs.read('/t'), undefined, 'rm -t tidied the empty parents');
    t.equal((await run(rig.sock, 'xenstore-rm', '/no/such/parent')).code, 1);
  });

  t.test('chmod, and a guest using the tools through its domain socket', async (t) => {
    const rig = await startRig(t);
    const xs = await rig.dom0();
    await xs.mkdir('/local/domain/5');
    t.equal((await run(rig.sock, 'xenstore-chmod', '/local/domain/5', 'n5')).code, 0);
    t.same(await xs.getPerms('/local/domain/5'), [{ id: 5, perm: 'n' }]);
    await xs.write('/backend/state', '2');
    t.equal((await run(rig.sock, 'xenstore-chmod', '/backend/state', 'n0', 'r5')).code, 0);
    t.same(await xs.getPerms('/backend/state'), [{ id: 0, perm: 'n' }, { id: 5, perm: 'r' }]);

    const gsock = await rig.server.introduceDomain(5);
    t.equal((await run(gsock, 'xenstore-write', 'device/vif/0/state', '4')).code, 0, 'relative path from a guest');
    t.equal(await xs.read('/local/domain/5/device/vif/0/state'), '4');
    t.same(await xs.getPerms('/local/domain/5/device/vif/0/state'), [{ id: 5, perm: 'n' }]);
    t.equal((await run(gsock, 'xenstore-read', '/backend/state')).stdout, '2\n', 'ACL grants r5');
    t.equal((await run(gsock, 'xenstore-write', '/backend/state', '9')).code, 1, 'but not write');
    t.equal((await run(gsock, 'xenstore-read', '/tool/xenstored')).code, 1, "dom0's nodes are closed");
    t.equal(await xs.read('/backend/state'), '2');
  });

  t.test('xenstore-ls and xenstore-list read a directory over 4096 bytes (DIRECTORY_PART)', async (t) => {
    const rig = await startRig(t);
    const xs = await rig.dom0();
    const names = Array.from({ length: 250 }, (_, i) => `entry-with-a-fairly-long-name-${String(i).padStart(3, '0')}`);
    await xs.transaction(async (tx) => {
      for (const n of names) await xs.write(`/big/${n}`, '', tx);
    });
    t.equal((await run(rig.sock, 'xenstore-list', '/big')).stdout, names.map((n) => `${n}\n`).join(''));
    t.equal((await run(rig.sock, 'xenstore-ls', '/big')).stdout.split('\n').length, names.length + 1);
  });

  t.test('xenstore-watch -n counts the initial event and changes', async (t) => {
    const rig = await startRig(t);
    const xs = await rig.dom0();
    const child = spawn('xenstore-watch', ['-n', '3', '/w'], { env: { ...process.env, XENSTORED_PATH: rig.sock } });
    const pid = child.pid!;
    let exited = false;
    child.on('exit', () => {
      exited = true;
    });
    t.teardown(() => {
      if (!exited) process.kill(pid, 'SIGKILL');
    });
    let out = '';
    const waiters: (() => void)[] = [];
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const w of waiters.splice(0)) w();
    });
    const lines = async (n: number): Promise<void> => {
      const deadline = Date.now() + 10000;
      while (out.split('\n').length <= n) {
        if (Date.now() > deadline) throw new Error(`xenstore-watch printed only ${JSON.stringify(out)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    };
    await lines(1);
    t.equal(out, '/w\n', 'initial event');
    await xs.write('/w/x', '1');
    await xs.write('/unrelated', '1');
    await xs.rm('/w');
    await lines(3);
    const code = await new Promise<number | null>((r) => (exited ? r(child.exitCode) : child.on('exit', (c) => r(c))));
    t.equal(code, 0, 'exits after -n 3 events');
    t.equal(out, '/w\n/w/x\n/w\n');
  });
}
