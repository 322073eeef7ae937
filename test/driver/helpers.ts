// SPDX-License-Identifier: MIT
// helpers.ts — a sim driver behind an Uplink, with a stand-in host instead of the netback service.
//
// The stand-in host owns a PacketPool over a shared pool file and hands every frame the uplink
// receives to `onFrame`; a SimPeer is the other end of the sim NIC's wire. close() stops the
// driver and removes every file.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SimPeer } from '../../drivers/sim/peer.js';
import { startDriver, type DriverProcess, type DriverSpec } from '../../src/driver/supervisor.js';
import { Uplink, type UplinkHost, type UplinkOptions } from '../../src/driver/uplink.js';
import { mapShared, type SharedRegion } from '../../src/native/index.js';
import { FRAME_BYTES, PacketPool } from '../../src/netback/pool.js';
import type { Port } from '../../src/netback/service.js';
import { until } from '../netback/harness.js';

export class StandInHost implements UplinkHost {
  readonly pool: PacketPool;
  onFrame: (buf: Uint8Array, off: number, len: number) => void = () => undefined;
  received = 0;
  constructor(buffer: ArrayBuffer, frames: number) {
    this.pool = new PacketPool(buffer, frames);
  }
  attachPort(p: Port): void {
    p.port = 1;
  }
  detachPort(): void {}
  ingress(_from: Port, frame: number): number {
    this.received++;
    this.onFrame(this.pool.u8, this.pool.offset(frame), this.pool.len[frame]!);
    this.pool.release(frame);
    return 1;
  }
  flush(): void {}
}

export interface SimRig {
  runDir: string;
  poolRegion: SharedRegion;
  host: StandInHost;
  peer: SimPeer;
  driver: DriverProcess;
  uplink: Uplink;
  /** Put one frame (built by fill into the pool frame) on the uplink; false if dropped or no frame free. */
  send(fill: (buf: Uint8Array, off: number) => number): boolean;
  close(): Promise<void>;
}

export async function startSimRig(opts: { frames?: number; uplink?: UplinkOptions; spec?: Partial<DriverSpec> } = {}): Promise<SimRig> {
  const frames = opts.frames ?? 4096;
  const runDir = mkdtempSync(join('/dev/shm', 'phx-drv-'));
  // Undo whatever was made if anything fails, so a failed start never leaves the loop held open.
  const undo: (() => void | Promise<unknown>)[] = [() => rmSync(runDir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const u of undo.reverse()) await Promise.resolve(u()).catch(() => undefined);
    undo.length = 0;
  };
  try {
    const poolPath = join(runDir, 'pool');
    const poolRegion = mapShared(poolPath, { create: true, size: frames * FRAME_BYTES });
    undo.push(() => poolRegion.close());
    const host = new StandInHost(poolRegion.buffer, frames);
    const peer = SimPeer.create(join(runDir, 'wire'), 256);
    undo.push(() => peer.close());
    const driver = startDriver({ name: 'sim', poolPath, nFrames: frames, runDir, args: ['--peer', peer.path], ...opts.spec });
    undo.push(() => driver.close());
    peer.onInject = () => driver.kick.signal();
    const uplink = new Uplink(host, driver.channel, driver.kick, driver.notify, opts.uplink);
    undo.push(() => uplink.close(), () => driver.stop());
    uplink.start();
    await until(() => driver.channel.counter('pid') === driver.pid || !driver.alive, 'sim driver running', 30_000);
    if (!driver.alive) throw new Error(`sim driver died at start: ${driver.stderr()}`);
    return {
      runDir,
      poolRegion,
      host,
      peer,
      driver,
      uplink,
      send(fill) {
        const f = host.pool.alloc();
        if (f < 0) return false;
        host.pool.len[f] = fill(host.pool.u8, host.pool.offset(f));
        return uplink.deliver(f);
      },
      close: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
