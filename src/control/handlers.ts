// SPDX-License-Identifier: MIT
// handlers.ts — what `phoenix serve` answers on its control socket: status and inject.
//
// The service passes getters rather than objects, because the driver behind the uplink changes
// when it is reloaded. Backend faults are answered first and carried out a moment later, so the
// caller learns the fault was taken before the service dies or stops answering.
import { Control, type NetukChannel } from '../driver/channel.js';
import type { Logger } from '../util/log.js';
import { blockFor, faultSpec } from './faults.js';
import { ControlError, type ControlHandler } from './server.js';

export interface ControlTarget {
  /** The current driver's channel and pid, or null when there is no uplink driver. */
  driver: () => { channel: NetukChannel; pid: number; name: string } | null;
  /** A JSON-able status of the whole service. */
  status: () => Record<string, unknown>;
  log?: Logger;
  /** For tests: what a backend crash does (default: SIGKILL to this process). */
  crash?: () => void;
}

export function serviceHandlers(t: ControlTarget): Record<string, ControlHandler> {
  return {
    status: () => ({ pid: process.pid, ...t.status() }),
    inject: (req) => {
      const fault = typeof req.fault === 'string' ? req.fault : '';
      if (fault === 'clear') {
        const d = t.driver();
        if (d === null) throw new ControlError('no uplink driver to clear a fault on');
        d.channel.setControl(Control.none);
        t.log?.warn({ fault, driver: d.name, pid: d.pid }, 'fault injection cleared');
        return { fault, driver: d.name, pid: d.pid };
      }
      const spec = faultSpec(fault);
      const at = Date.now();
      if (spec.control !== undefined) {
        const d = t.driver();
        if (d === null) throw new ControlError(`fault ${fault} needs an uplink driver: start serve with --uplink`);
        d.channel.setControl(spec.control, typeof req.arg === 'number' ? req.arg >>> 0 : 0);
        t.log?.warn({ fault, driver: d.name, pid: d.pid, generation: d.channel.generation }, 'fault injected');
        return { fault, driver: d.name, pid: d.pid, generation: d.channel.generation, at };
      }
      if (fault === 'backend-crash') {
        t.log?.warn({ fault }, 'fault injected: crashing the backend');
        setTimeout(t.crash ?? (() => process.kill(process.pid, 'SIGKILL')), 20);
        return { fault, pid: process.pid, at };
      }
      const ms = typeof req.ms === 'number' && req.ms > 0 && req.ms <= 600_000 ? req.ms : 5000;
      t.log?.warn({ fault, ms }, 'fault injected: blocking the backend');
      setTimeout(() => blockFor(ms), 20);
      return { fault, pid: process.pid, ms, at };
    },
  };
}
