// SPDX-License-Identifier: MIT
// lifecycle.ts — what every driver process does the same way: obey the channel's control word,
// and stop when net_uk goes away or asks it to.
//
// Driver-side only (drivers import this, the channel and src/native; never net_uk internals).
// The control word (src/driver/channel.ts, Control.*) is read once per loop pass; a change is
// acted on once: it is echoed in the counters page (controlSeen), a crash kills the process at
// once as a real crash would, and the driver's own hook gets the new value for the faults only
// it can cause (a stopped device, a corrupt response).
import { Control, type DriverChannel } from '../../src/driver/channel.js';
import { watchExit } from '../../src/native/index.js';

export class ControlWord {
  private last: number = Control.none;
  /** Control.slow is in force: the driver does one request per pass, passes spaced out. */
  slow = false;

  constructor(
    private readonly ch: DriverChannel,
    private readonly onChange: (c: number) => void = () => {},
  ) {}

  /** Read the word; returns true while the driver must hang (do nothing, not even beat). */
  read(): boolean {
    const c = this.ch.control;
    if (c !== this.last) {
      this.last = c;
      this.ch.set('controlSeen', c);
      if (c === Control.crash) process.kill(process.pid, 'SIGKILL');
      this.slow = c === Control.slow;
      this.onChange(c);
    }
    return c === Control.hang;
  }
}

/**
 * Call stop() on SIGTERM/SIGINT and when the parent (net_uk) dies, however it dies (pidfd), so no
 * driver outlives the service that started it. stop() must end the process.
 */
export function stopWithParent(stop: () => void): void {
  try {
    watchExit(process.ppid, stop).unref();
  } catch {
    stop(); // the parent is already gone
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
