// SPDX-License-Identifier: MIT
// attach.ts — one driver process plus its Uplink on a Netback's switch, started and stopped together.
//
// What `phoenix serve --uplink NAME` runs. The pool must be shared (NetbackOptions.poolPath).
// When the driver dies the uplink stops taking frames (they are counted as tx_down) and onExit
// is called; reloading it is the shadow driver's job (not built yet).
import type { Logger } from '../util/log.js';
import { startDriver, type DriverProcess } from './supervisor.js';
import { Uplink, type UplinkHost, type UplinkOptions } from './uplink.js';

export interface AttachOptions {
  driver: string;
  poolPath: string;
  runDir: string;
  args?: string[];
  log?: Logger;
  uplink?: UplinkOptions;
  onExit?: (d: DriverProcess) => void;
}

export class AttachedDriver {
  private constructor(
    readonly driver: DriverProcess,
    readonly uplink: Uplink,
  ) {}

  static start(host: UplinkHost, o: AttachOptions): AttachedDriver {
    let self: AttachedDriver | undefined;
    const driver = startDriver({
      name: o.driver,
      poolPath: o.poolPath,
      nFrames: host.pool.frames,
      runDir: o.runDir,
      ...(o.args !== undefined ? { args: o.args } : {}),
      onExit: (d) => {
        o.log?.error({ driver: o.driver, pid: d.pid, stderr: d.stderr().slice(-500) }, 'driver process exited');
        self?.uplink.close();
        o.onExit?.(d);
      },
    });
    const uplink = new Uplink(host, driver.channel, driver.kick, driver.notify, {
      ...o.uplink,
      onFault: (reason) => {
        o.log?.error({ driver: o.driver, reason }, 'driver fault on the channel');
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
