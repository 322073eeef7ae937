// SPDX-License-Identifier: MIT
// serve.ts — `phoenix serve`: run the netback service on the shm transport.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AttachedDriver } from '../driver/attach.js';
import { DRIVERS, parseUplinkSpec } from '../driver/spec.js';
import { ControlServer } from '../control/server.js';
import { serviceHandlers } from '../control/handlers.js';
import { Netback } from '../netback/service.js';
import { ShmTransport } from '../transport/shm/transport.js';
import { XENSTORED_SOCKET, XenTransport } from '../transport/xen/transport.js';
import { openTap } from '../native/index.js';
import { TapPort } from '../switch/tap-port.js';
import type { Transport } from '../transport/types.js';
import { createLogger } from '../util/log.js';

function uplinkHelp(): string {
  const lines: string[] = [];
  for (const [name, d] of Object.entries(DRIVERS)) {
    lines.push(`                      ${name}: ${d.summary}`);
    for (const [k, what] of Object.entries(d.keys)) lines.push(`                        ${k.padEnd(10)} ${what}`);
  }
  lines.push('                      e.g. afxdp:ifname=veth0,queue=0,netns=ns1  tap:ifname=up0,netns=peer  sim:peer=PATH');
  return lines.join('\n');
}

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
  --uplink DRIVER[:key=val,...]
                      start drivers/DRIVER in its own process as the switch's uplink, with
                      --key val for each pair; the pool then lives in a shared file under
                      /dev/shm. "ready" is printed only once the driver has opened its device;
                      a driver that cannot start makes serve exit 1 with the driver's message.
${uplinkHelp()}
  --uplink-timeout-ms MS  how long the driver may take to open its device (default 30000)
  --run-dir DIR       with --uplink: put the shared pool and the driver channel files in DIR
                      (created if missing; the files are removed at exit, DIR is left to you —
                      after a SIGKILL of serve, removing DIR cleans up). Default: a fresh
                      /dev/shm/phoenix-serve-XXXXXX, removed at exit. A driver exits by itself
                      when serve dies, however it dies.
  --control SOCK      listen for "phoenix inject" and status requests on this unix socket (made
                      mode 0600 in a 0700 directory: root only). Default: none; a dom0 service
                      uses /run/phoenix/control.sock
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
      'uplink-timeout-ms': { type: 'string', default: '30000' },
      'run-dir': { type: 'string' },
      tap: { type: 'string' },
      control: { type: 'string' },
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
  const upSpec = v.uplink !== undefined ? parseUplinkSpec(v.uplink) : undefined;
  const upTimeout = Number(v['uplink-timeout-ms']);
  if (!Number.isFinite(upTimeout) || upTimeout <= 0) throw new Error(`phoenix serve: --uplink-timeout-ms ${v['uplink-timeout-ms']}: a positive number of milliseconds`);
  const log = createLogger({ svc: 'netback' });
  if (v['run-dir'] !== undefined && upSpec === undefined) throw new Error('phoenix serve: --run-dir is for the uplink\'s files; give --uplink too');
  const ownDir = v['run-dir'] === undefined;
  const upDir = upSpec === undefined ? undefined : ownDir ? mkdtempSync(join('/dev/shm', 'phoenix-serve-')) : v['run-dir']!;
  if (upDir !== undefined && !ownDir) mkdirSync(upDir, { recursive: true });
  const cleanDir = (): void => {
    if (upDir === undefined) return;
    if (ownDir) rmSync(upDir, { recursive: true, force: true });
    else rmSync(join(upDir, 'pool'), { force: true });
  };
  const transport: Transport = v.transport === 'xen' ? await XenTransport.connect({ xenstoreSocket: v.xenstore }) : await ShmTransport.connect({ xenstoreSocket: v.xenstore });
  const nb = await Netback.start({ transport, log, poolFrames: Number(v['pool-frames']), rxStallMs: Number(v['rx-stall-ms']), spinUs: Number(v['spin-us']), ...(upDir !== undefined ? { poolPath: join(upDir, 'pool') } : {}) });
  let up: AttachedDriver | null = null;
  if (upDir !== undefined && upSpec !== undefined) {
    try {
      up = await AttachedDriver.start(nb, { spec: upSpec, poolPath: join(upDir, 'pool'), runDir: upDir, log, readyTimeoutMs: upTimeout });
    } catch (e) {
      await nb.close();
      cleanDir();
      await transport.close();
      throw new Error(`phoenix serve: --uplink ${v.uplink}: ${(e as Error).message}`, { cause: e });
    }
    log.info({ driver: upSpec.driver, pid: up.driver.pid, params: upSpec.params }, 'uplink ready');
  }
  const tapPort = v.tap !== undefined ? new TapPort(nb, openTap(v.tap)) : null;
  log.info({ pid: process.pid, xenstore: v.xenstore, tap: tapPort?.name }, 'netback serving');
  const statsMs = Number(v['stats-ms']);
  // The uplink's counters and the driver's counters page ride along (when there is an uplink).
  const upStatus = (): object => (up !== null ? { uplink: { driver: upSpec?.driver, pid: up.driver.pid, alive: up.driver.alive, counters: up.uplink.status(), inFlight: up.uplink.inFlight, channel: up.driver.channel.snapshot() } } : {});
  let control: ControlServer | null = null;
  if (v.control !== undefined) {
    const handlers = serviceHandlers({
      driver: () => (up !== null && upSpec !== undefined ? { channel: up.driver.channel, pid: up.driver.pid, name: upSpec.driver } : null),
      status: () => ({ vifs: nb.status(), ...upStatus() }),
      log,
    });
    try {
      control = await ControlServer.listen(v.control, handlers);
    } catch (e) {
      tapPort?.close();
      await up?.close();
      await nb.close();
      cleanDir();
      await transport.close();
      throw new Error(`phoenix serve: --control ${v.control}: ${(e as Error).message}`, { cause: e });
    }
  }
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid, ...(up !== null && upSpec !== undefined ? { uplink: { driver: upSpec.driver, pid: up.driver.pid } } : {}) }) + '\n');
  const statsTimer = statsMs > 0 ? setInterval(() => process.stdout.write(JSON.stringify({ event: 'status', cpu: process.cpuUsage(), vifs: nb.status(), ...upStatus() }) + '\n'), statsMs) : null;
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info({ sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  if (statsTimer !== null) clearInterval(statsTimer);
  await control?.close();
  process.stdout.write(JSON.stringify({ event: 'status', cpu: process.cpuUsage(), vifs: nb.status(), ...upStatus() }) + '\n');
  if (tapPort !== null) process.stdout.write(JSON.stringify({ event: 'tap', name: tapPort.name, counters: tapPort.counters }) + '\n');
  tapPort?.close();
  await up?.close();
  await nb.close();
  cleanDir();
  await transport.close();
}
