// SPDX-License-Identifier: MIT
// main.test.ts — `phoenix xenstored` as a process: prints its sockets, serves, stops on SIGTERM.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { XenstoreClient } from '../../src/transport/xenstore/client.js';

const MAIN = fileURLToPath(new URL('../../src/transport/xenstore/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Run the TypeScript entry point the way tap runs tests: through its ts-node loader.
const NODE_ARGS = ['--import=@tapjs/typescript/import', MAIN];
const ENV = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', PHOENIX_LOG: 'silent' };

t.test('--help and bad arguments', async (t) => {
  const help = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [...NODE_ARGS, '--help'], { cwd: ROOT, env: ENV, timeout: 30000 }, (e, out) => (e ? reject(e) : resolve(out.toString()))),
  );
  t.match(help, /Usage: phoenix xenstored --socket PATH/);
  t.match(help, /XENSTORED_PATH/);
  const bad = await new Promise<{ code: number | null; err: string }>((resolve) =>
    execFile(process.execPath, [...NODE_ARGS], { cwd: ROOT, env: ENV, timeout: 30000 }, (e, _out, err) =>
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, err: err.toString() }),
    ),
  );
  t.equal(bad.code, 1);
  t.match(bad.err, /--socket PATH is required/);
});

t.test('serves dom0 and the listed domains, stops cleanly on SIGTERM', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phoenix-xsd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'xs.sock');
  const child = spawn(process.execPath, [...NODE_ARGS, '--socket', sock, '--domain', '5', '--domain', '6'], { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = child.pid!;
  let exited = false;
  const exit = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      exited = true;
      r(code);
    }),
  );
  t.teardown(() => {
    if (!exited) process.kill(pid, 'SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 30000;
  while (out.split('\n').length < 4 && Date.now() < deadline && !exited) await new Promise((r) => setTimeout(r, 50));
  t.equal(out, `dom0 ${sock}\ndomain 5 ${sock}.d5\ndomain 6 ${sock}.d6\n`);

  const xs0 = await XenstoreClient.connect(sock);
  t.teardown(() => xs0.close());
  await xs0.mkdir('/local/domain/5');
  await xs0.setPerms('/local/domain/5', [{ id: 5, perm: 'n' }]);
  await xs0.write('/local/domain/5/x', 'hi'); // inherits: owned by 5
  const g = await XenstoreClient.connect(`${sock}.d5`);
  t.teardown(() => g.close());
  t.equal(await g.read('x'), 'hi', 'guest socket acts as domain 5');
  await t.rejects(g.read('/tool'), { code: 'EACCES' });

  process.kill(pid, 'SIGTERM');
  t.equal(await exit, 0, 'exit code 0');
  t.notOk(fs.existsSync(sock), 'dom0 socket removed');
  t.notOk(fs.existsSync(`${sock}.d5`), 'domain socket removed');
});
