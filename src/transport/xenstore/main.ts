// SPDX-License-Identifier: MIT
// main.ts — `phoenix xenstored`: run our xenstore server until SIGTERM/SIGINT.
//
// Prints one line per socket on stdout ("dom0 PATH", then "domain ID PATH") once they accept
// connections, so a parent process can wait for that output and then connect. The CLI calls
// runXenstored(); the module also runs on its own when it is the entry point (tests do that).
// See server.ts for what the server does.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../../util/log.js';
import { XenstoreServer } from './server.js';

export const XENSTORED_HELP = `Usage: phoenix xenstored --socket PATH [--domain ID ...]

Run a xenstore server speaking the Xen wire protocol on unix sockets, for machines without Xen.

  --socket PATH   the dom0 (privileged) socket; Debian's xenstore-* tools reach it with
                  XENSTORED_PATH=PATH
  --domain ID     introduce domain ID at start (repeatable): its connections go to PATH.dID
                  and act as that unprivileged domain; dom0 may also introduce domains later
                  with XS_INTRODUCE
  -h, --help      this text

Prints "dom0 PATH" and "domain ID PATH" lines when ready; exits cleanly on SIGTERM or SIGINT.
`;

export async function runXenstored(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      socket: { type: 'string' },
      domain: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(XENSTORED_HELP);
    return;
  }
  if (values.socket === undefined) throw new Error('phoenix xenstored: --socket PATH is required (see --help)');
  const domids = (values.domain ?? []).map((d) => {
    const n = Number(d);
    if (!/^\d+$/.test(d) || n <= 0 || n >= 0x7ff0) throw new Error(`phoenix xenstored: bad --domain "${d}" (1..32751)`);
    return n;
  });

  const log = createLogger({ component: 'xenstored' });
  const server = await XenstoreServer.start({ socketPath: values.socket, log });
  process.stdout.write(`dom0 ${server.socketPath}\n`);
  for (const d of domids) process.stdout.write(`domain ${d} ${await server.introduceDomain(d)}\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await server.close();
  log.info({}, 'xenstored stopped');
}

// Runnable on its own: `node dist/src/transport/xenstore/main.js --socket PATH`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runXenstored(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 1;
  });
}
