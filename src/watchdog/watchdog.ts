// SPDX-License-Identifier: MIT
// watchdog.ts — run a HangDetector over one driver channel: sample its ring counters on a timer.
//
// net_uk's side reads only what the channel already shows both ends: its own req_prod of the TX
// and RX rings (the shared sring header) and the driver's counters page (Atomics loads; the
// driver writes from another process). Nothing is asked of the driver, so a hung driver cannot
// hang the watchdog. The probe for an idle driver is a kick on the driver's eventfd, which any
// live driver answers by running a loop pass (a heartbeat). The timer is a plain setInterval:
// when the event loop is late (a long pass, a GC pause) the detector sees a late tick and
// restarts its episodes rather than blaming the driver (detector.ts).
import type { NetukChannel } from '../driver/channel.js';
import { HangDetector, type DetectorOptions, type Verdict, type WatchdogSample } from './detector.js';

/** One sample of a channel, now. */
export function sampleChannel(ch: NetukChannel, at: number = performance.now()): WatchdogSample {
  return {
    at,
    generation: ch.generation,
    txPosted: ch.txView.reqProd,
    rxPosted: ch.rxView.reqProd,
    txConsumed: ch.counter('txReqCons'),
    rxConsumed: ch.counter('rxReqCons'),
    heartbeat: ch.counter('heartbeat'),
    devTxPending: ch.counter('devTxPending'),
    devTxCompleted: ch.counter('devTxCompleted'),
  };
}

export interface WatchdogOptions extends Omit<DetectorOptions, 'probe'> {
  /** Wake the driver (its kick eventfd). */
  probe: () => void;
  /** Called once per verdict; the detector stays silent until the channel changes (watch()). */
  onVerdict: (v: Verdict) => void;
}

export class ChannelWatchdog {
  readonly detector: HangDetector;
  private timer: NodeJS.Timeout | null = null;
  private ch: NetukChannel | null = null;

  constructor(private readonly o: WatchdogOptions) {
    this.detector = new HangDetector(o);
  }

  /** Start (or move to a new driver instance's channel). */
  watch(ch: NetukChannel): void {
    this.ch = ch;
    this.detector.reset();
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.o.periodMs ?? 1);
      this.timer.unref();
    }
  }

  /** One sample now (the timer calls it; tests may too). */
  tick(at?: number): Verdict | null {
    if (this.ch === null) return null;
    const v = this.detector.observe(sampleChannel(this.ch, at));
    if (v !== null) this.o.onVerdict(v);
    return v;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.ch = null;
  }
}
