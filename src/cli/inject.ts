// SPDX-License-Identifier: MIT
// inject.ts — `phoenix inject <fault>`: cause a fault in a running service, through its control socket.
import { parseArgs } from 'node:util';
import { FAULTS } from '../control/faults.js';
import { controlRequest, DEFAULT_CONTROL_SOCKET } from '../control/server.js';

export const INJECT_HELP = `phoenix inject — cause a fault in a running \`phoenix serve\` (root only)

Usage: phoenix inject <fault> [--control SOCK] [--ms N] [--arg N]
       phoenix inject clear          take back a driver hang/slow/device stop
       phoenix inject status         print the service's status (JSON)

Faults:
${Object.entries(FAULTS)
  .map(([n, f]) => `  ${n.padEnd(15)} ${f.what}`)
  .join('\n')}

  --control SOCK   the service's control socket (default ${DEFAULT_CONTROL_SOCKET})
  --ms N           backend-hang: how long to block (default 5000)
  --arg N          argument passed to the driver with its fault (driver specific)
  -h, --help       this text

Prints the service's answer as one JSON line; exits 1 if the service refused.
`;

export async function runInject(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      control: { type: 'string', default: DEFAULT_CONTROL_SOCKET },
      ms: { type: 'string' },
      arg: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(INJECT_HELP);
    return;
  }
  const [fault, ...extra] = positionals;
  if (fault === undefined || extra.length > 0) throw new Error('phoenix inject: name one fault (phoenix inject --help lists them)');
  const num = (name: string, s: string | undefined): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`phoenix inject: --${name} must be a non-negative integer (got "${s}")`);
    return n;
  };
  const ms = num('ms', v.ms);
  const arg = num('arg', v.arg);
  const req = fault === 'status' ? { op: 'status' } : { op: 'inject', fault, ...(ms !== undefined ? { ms } : {}), ...(arg !== undefined ? { arg } : {}) };
  const answer = await controlRequest(v.control, req);
  process.stdout.write(JSON.stringify(answer) + '\n');
  if (answer.ok !== true) {
    process.stderr.write(`phoenix inject: ${String(answer.error)}\n`);
    process.exitCode = 1;
  }
}
