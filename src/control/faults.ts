// SPDX-License-Identifier: MIT
// faults.ts — the faults `phoenix inject` can cause, and how each is carried out in the service.
//
// Driver faults go through the driver channel's control word (src/driver/channel.ts): the
// driver process acts on it in its next loop pass, so the fault happens where a real one would,
// in the driver's own process. Backend faults hit the serving process itself: a crash is a
// SIGKILL to ourselves (nothing gets to clean up, as with a real crash); a hang blocks our
// event loop with Atomics.wait for the given time, as a stuck loop would.
import { Control, type ControlOp } from '../driver/channel.js';

export interface FaultSpec {
  /** What the fault does, for --help. */
  what: string;
  /** Driver faults: the control word; backend faults: none. */
  control?: ControlOp;
}

export const FAULTS: Record<string, FaultSpec> = {
  'driver-crash': { what: 'the driver process dies at once (SIGKILL to itself)', control: Control.crash },
  'driver-hang': { what: 'the driver stops polling: no progress, no heartbeat, process alive', control: Control.hang },
  'driver-slow': { what: 'the driver works 100x slower', control: Control.slow },
  'device-hang': { what: 'the device stops: no TX completion, no RX; the driver loop runs on', control: Control.deviceStop },
  'driver-corrupt': { what: 'the next TX response carries an id never sent', control: Control.corruptTxId },
  'backend-crash': { what: 'the backend (phoenix serve) process dies at once (SIGKILL)' },
  'backend-hang': { what: 'the backend blocks its event loop for --ms milliseconds (default 5000)' },
};

export const FAULT_NAMES = Object.keys(FAULTS);

export function faultSpec(name: string): FaultSpec {
  const f = Object.hasOwn(FAULTS, name) ? FAULTS[name] : undefined;
  if (f === undefined) throw new Error(`unknown fault "${name}"; known: ${FAULT_NAMES.join(', ')}`);
  return f;
}

/** Block this thread for ms (a backend hang). */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
