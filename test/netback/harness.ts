// SPDX-License-Identifier: MIT
// harness.ts — an in-process shm host for netback tests: xenstored + Netback + test netfronts.
//
// Everything runs in the test's own process (the backend duplicates event fds from itself with
// pidfd_getfd), so a test can drive a frontend slot by slot — including hostile ones — and
// look at the backend's state directly. close() removes every file and socket it made.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Netback } from '../../src/netback/service.js';
import { ShmTransport } from '../../src/transport/shm/transport.js';
import { createShmDomain, createVif, setShmDomainPid } from '../../src/transport/shm/toolstack.js';
import { XenstoreClient } from '../../src/transport/xenstore/client.js';
import { XenstoreServer } from '../../src/transport/xenstore/server.js';
import { memoryLogger } from '../../src/util/log.js';
import { TestNetfront, type NetfrontOptions } from '../guest/netfront.js';

export interface Host {
  runDir: string;
  server: XenstoreServer;
  xs0: XenstoreClient;
  transport: ShmTransport;
  nb: Netback;
  log: ReturnType<typeof memoryLogger>;
  /** Create domain + vif as the toolstack, then connect a test netfront as that guest. */
  addGuest(domid: number, mac: string, opts?: Partial<NetfrontOptions>): Promise<TestNetfront>;
  /** Create domain + vif only; returns what a hand-written frontend needs. */
  prepareGuest(domid: number, mac: string): Promise<{ guestSocket: string; memPath: string }>;
  close(): Promise<void>;
}

/** poolPath: put the packet pool in that shared file (so a driver process can map it; the caller removes it). */
export async function startHost(opts: { poolFrames?: number; rxStallMs?: number; poolPath?: string } = {}): Promise<Host> {
  const runDir = mkdtempSync(join('/dev/shm', 'phx-tap-'));
  const socket = join(runDir, 'xs.sock');
  const server = await XenstoreServer.start({ socketPath: socket });
  const xs0 = await XenstoreClient.connect(socket);
  const transport = await ShmTransport.connect({ xenstoreSocket: socket });
  const log = memoryLogger();
  const nb = await Netback.start({ transport, log, poolFrames: opts.poolFrames ?? 4096, ...(opts.rxStallMs !== undefined ? { rxStallMs: opts.rxStallMs } : {}), ...(opts.poolPath !== undefined ? { poolPath: opts.poolPath } : {}) });
  const fronts: TestNetfront[] = [];
  const prepareGuest = async (domid: number, mac: string): Promise<{ guestSocket: string; memPath: string }> => {
    const memPath = join(runDir, `dom${domid}`);
    const img = await createShmDomain(xs0, { domid, memPath, nrPages: 600 });
    img.close();
    await setShmDomainPid(xs0, domid, process.pid);
    await createVif(xs0, { frontDomid: domid, devid: 0, mac });
    const guestSocket = await xs0.introduce(domid);
    return { guestSocket, memPath };
  };
  return {
    runDir,
    server,
    xs0,
    transport,
    nb,
    log,
    prepareGuest,
    async addGuest(domid, mac, o = {}) {
      const { guestSocket, memPath } = await prepareGuest(domid, mac);
      const nf = await TestNetfront.connect({ xenstoreSocket: guestSocket, domid, memPath, ...o });
      fronts.push(nf);
      return nf;
    },
    async close() {
      for (const f of fronts) await f.close().catch(() => undefined);
      await nb.close();
      await transport.close();
      await xs0.close();
      await server.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** Wait until cond() is true, polling; fails after timeoutMs with `what`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
