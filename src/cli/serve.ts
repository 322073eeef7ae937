// SPDX-License-Identifier: MIT
// serve.ts — `phoenix serve`: run the netback service on the shm transport.
import { parseArgs } from 'node:util';
import { Netback } from '../netback/service.js';
import { ShmTransport } from '../transport/shm/transport.js';
import { createLogger } from '../util/log.js';

export const SERVE_HELP = `phoenix serve — run the netback service

Usage: phoenix serve --xenstore SOCK [options]

  --xenstore SOCK     xenstored socket (dom0 connection): phoenix xenstored's, or /run/xenstored/socket
  --transport shm     transport (only shm in this version; xen comes with real-Xen support)
  --pool-frames N     packet pool frames of 2 KiB (default 16384)
  --stats-ms MS       print a JSON status line on stdout every MS milliseconds (0: never; default 0)
  --rx-stall-ms MS    a guest that takes no frame for MS is declared stalled (default 1000)
  --spin-us US        adaptive polling: keep polling a busy ring US microseconds before sleeping
                      on its event channel (default 50; 0 = purely event-driven)
  -h, --help          this text

Stops cleanly on SIGTERM or SIGINT. Logs are JSON lines on stderr (PHOENIX_LOG=debug|info|warn|error|silent).
`;

export async function runServe(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      xenstore: { type: 'string' },
      transport: { type: 'string', default: 'shm' },
      'pool-frames': { type: 'string', default: '16384' },
      'stats-ms': { type: 'string', default: '0' },
      'rx-stall-ms': { type: 'string', default: '1000' },
      'spin-us': { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (v.xenstore === undefined) throw new Error('phoenix serve: --xenstore SOCK is required (start one with `phoenix xenstored --socket SOCK`)');
  if (v.transport !== 'shm') throw new Error(`phoenix serve: transport "${v.transport}" is not supported yet; use --transport shm`);
  const log = createLogger({ svc: 'netback' });
  const transport = await ShmTransport.connect({ xenstoreSocket: v.xenstore });
  const nb = await Netback.start({ transport, log, poolFrames: Number(v['pool-frames']), rxStallMs: Number(v['rx-stall-ms']), spinUs: Number(v['spin-us']) });
  log.info({ pid: process.pid, xenstore: v.xenstore }, 'netback serving');
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid }) + '\n');
  const statsMs = Number(v['stats-ms']);
  const statsTimer = statsMs > 0 ? setInterval(() => process.stdout.write(JSON.stringify({ event: 'status', cpu: process.cpuUsage(), vifs: nb.status() }) + '\n'), statsMs) : null;
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info({ sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  if (statsTimer !== null) clearInterval(statsTimer);
  process.stdout.write(JSON.stringify({ event: 'status', cpu: process.cpuUsage(), vifs: nb.status() }) + '\n');
  await nb.close();
  await transport.close();
}
