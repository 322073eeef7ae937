// SPDX-License-Identifier: MIT
// attach.ts — one driver process plus its Uplink on a Netback's switch, started and stopped together.
//
// What `phoenix serve --uplink DRIVER[:key=val,...]` runs (spec.ts parses that). The pool must be
// shared (NetbackOptions.poolPath). start() resolves only once the driver says, in the counters
// page, that its device is open (DriverProcess.waitReady); a driver that dies first or never gets
// there rejects it with the driver's own stderr, and nothing is left behind. When the driver dies
// later the uplink stops taking frames (they are counted as tx_down) and onExit is called;
// reloading it is the shadow driver's job (not built yet).
import type { Logger } from '../util/log.js';
import { DRIVERS, type UplinkSpec } from './spec.js';
import { startDriver, type DriverProcess } from './supervisor.js';
import { Uplink, type UplinkHost, type UplinkOptions } from './uplink.js';

export interface AttachOptions {
  /** A parsed spec (parseUplinkSpec), or just a driver name with its raw arguments. */
  spec: UplinkSpec | { driver: string; args?: string[] };
  poolPath: string;
  runDir: string;
  log?: Logger;
  uplink?: UplinkOptions;
  /** How long the driver may take to open its device (default 30 s). */
  readyTimeoutMs?: number;
  onExit?: (d: DriverProcess) => void;
}

export class AttachedDriver {
  private constructor(
    readonly driver: DriverProcess,
    readonly uplink: Uplink,
  ) {}

  static async start(host: UplinkHost, o: AttachOptions): Promise<AttachedDriver> {
    let self: AttachedDriver | undefined;
    let started = false;
    const name = o.spec.driver;
    const info = DRIVERS[name];
    const driver = startDriver({
      name,
      poolPath: o.poolPath,
      nFrames: host.pool.frames,
      runDir: o.runDir,
      ...(info !== undefined ? { txEntries: info.txEntries, rxEntries: info.rxEntries } : {}),
      ...(o.spec.args !== undefined ? { args: o.spec.args } : {}),
      onExit: (d) => {
        if (!started) return; // waitReady reports it
        o.log?.error({ driver: name, pid: d.pid, stderr: d.stderrTail() }, 'driver process exited');
        self?.uplink.close();
        o.onExit?.(d);
      },
    });
    try {
      await driver.waitReady(o.readyTimeoutMs ?? 30_000);
    } catch (e) {
      await driver.close();
      throw e;
    }
    started = true;
    if (!driver.alive) {
      const e = new Error(`driver ${name} exited just after it was ready: ${driver.stderrTail()}`);
      await driver.close();
      throw e;
    }
    const rxPosted = info !== undefined ? Math.max(1, Math.floor(host.pool.frames * info.rxPoolShare)) : undefined;
    const uplink = new Uplink(host, driver.channel, driver.kick, driver.notify, {
      ...(rxPosted !== undefined ? { rxPosted } : {}),
      ...o.uplink,
      onFault: (reason) => {
        o.log?.error({ driver: name, reason }, 'driver fault on the channel');
        o.uplink?.onFault?.(reason);
      },
    });
    uplink.start();
    self = new AttachedDriver(driver, uplink);
    return self;
  }

  /** Stop the driver, then give its frames back to the pool and remove the channel. */
  async close(): Promise<void> {
    await this.driver.stop();
    this.uplink.close();
    await this.driver.close();
  }
}
