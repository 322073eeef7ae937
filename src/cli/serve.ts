// SPDX-License-Identifier: MIT
// serve.ts — `phoenix serve`: run the netback service on the shm transport.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AttachedDriver } from '../driver/attach.js';
import { Netback } from '../netback/service.js';
import { ShmTransport } from '../transport/shm/transport.js';
import { XENSTORED_SOCKET, XenTransport } from '../transport/xen/transport.js';
import { openTap } from '../native/index.js';
import { TapPort } from '../switch/tap-port.js';
import type { Transport } from '../transport/types.js';
import { createLogger } from '../util/log.js';

export const SERVE_HELP = `phoenix serve — run the netback service

Usage: phoenix serve --xenstore SOCK [options]

  --xenstore SOCK     xenstored socket (dom0 connection): phoenix xenstored's, or /run/xenstored/socket
  --transport T       shm (default) or xen (in a Xen dom0/driver domain: /dev/xen/gntdev,
                      /dev/xen/evtchn; --xenstore defaults to /run/xenstored/socket)
  --pool-frames N     packet pool frames of 2 KiB (default 16384)
  --stats-ms MS       print a JSON status line on stdout every MS milliseconds (0: never; default 0)
  --rx-stall-ms MS    a guest that takes no frame for MS is declared stalled (default 1000)
  --spin-us US        adaptive polling: keep polling a busy ring US microseconds before sleeping
                      on its event channel (default 50; 0 = purely event-driven)
  --uplink NAME       start driver NAME (drivers/NAME, its own process) as the switch's uplink;
                      the pool then lives in a shared file under /dev/shm. Only: sim
  --sim-peer PATH     with --uplink sim: the wire file of the sim NIC's peer (default: none,
                      frames sent are counted and discarded)
  --tap IFNAME        attach TAP interface IFNAME (created if needed) to the switch, so this host
                      can reach the guests (give it an address with \`ip\`); needs CAP_NET_ADMIN
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
      uplink: { type: 'string' },
      'sim-peer': { type: 'string' },
      tap: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (v.transport === 'xen') v.xenstore ??= XENSTORED_SOCKET;
  if (v.xenstore === undefined) throw new Error('phoenix serve: --xenstore SOCK is required (start one with `phoenix xenstored --socket SOCK`)');
  if (v.transport !== 'shm' && v.transport !== 'xen') throw new Error(`phoenix serve: unknown transport "${v.transport}"; use --transport shm or xen`);
  if (v.uplink !== undefined && v.uplink !== 'sim') throw new Error(`phoenix serve: uplink driver "${v.uplink}" is not supported; use --uplink sim`);
  const log = createLogger({ svc: 'netback' });
  const upDir = v.uplink !== undefined ? mkdtempSync(join('/dev/shm', 'phoenix-serve-')) : undefined;
  const transport: Transport = v.transport === 'xen' ? await XenTransport.connect({ xenstoreSocket: v.xenstore }) : await ShmTransport.connect({ xenstoreSocket: v.xenstore });
  const nb = await Netback.start({ transport, log, poolFrames: Number(v['pool-frames']), rxStallMs: Number(v['rx-stall-ms']), spinUs: Number(v['spin-us']), ...(upDir !== undefined ? { poolPath: join(upDir, 'pool') } : {}) });
  const up = upDir !== undefined && v.uplink !== undefined
    ? AttachedDriver.start(nb, { driver: v.uplink, poolPath: join(upDir, 'pool'), runDir: upDir, log, ...(v['sim-peer'] !== undefined ? { args: ['--peer', v['sim-peer']] } : {}) })
    : null;
  const tapPort = v.tap !== undefined ? new TapPort(nb, openTap(v.tap)) : null;
  log.info({ pid: process.pid, xenstore: v.xenstore, tap: tapPort?.name }, 'netback serving');
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
  if (tapPort !== null) process.stdout.write(JSON.stringify({ event: 'tap', name: tapPort.name, counters: tapPort.counters }) + '\n');
  tapPort?.close();
  await up?.close();
  await nb.close();
  if (upDir !== undefined) rmSync(upDir, { recursive: true, force: true });
  await transport.close();
}
