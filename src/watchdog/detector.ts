// SPDX-License-Identifier: MIT
// detector.ts — the fine-grained watchdog's judgement: from periodic samples of one driver
// channel's ring counters, decide "driver hang" or "device hang", and nothing else.
//
// Input is a plain sample (see sampleChannel in sample.ts) taken every `periodMs` by whoever
// runs the detector; the detector itself reads no clock and no shared memory, so it is tested
// with made-up timelines. Three episodes are followed, each "a counter that should move and
// does not":
//   consumer   work is pending (req_prod ≠ the driver's req_cons, TX or RX) and neither
//              req_cons moved                                  → driver hang
//   heartbeat  the driver's loop heartbeat did not move; after `probeAfterMs` the detector asks
//              for a probe (the runner kicks the driver's eventfd, which wakes an idle driver;
//              drivers also beat on their own while asleep, every 10 ms),
//              and the heartbeat must then move within the threshold → driver hang. So an idle
//              driver is judged too, without traffic.
//   device     frames handed to the device (devTxPending > 0) see no completion
//              (devTxCompleted still) while the driver is alive: its heartbeat moves, or it
//              beats when probed → device hang (no beat after the probe → driver hang)
// Time lost by the whole machine, or by the watchdog's own process (a GC pause, a host that
// steals 50–90 ms of CPU), must not count against the driver: an episode is judged over the
// detector's own on-time ticks. A tick that comes later than max(`lateFactor` periods, a quarter
// of the threshold) after the one before restarts every open episode from that tick, so the
// driver gets a whole threshold of observed time after any pause; the ordinary jitter of a busy
// event loop's timers (a few ms) is not a pause when the threshold is long. A verdict needs
// the threshold's time and at least three on-time ticks within the episode.
//
// The threshold is fixed when `thresholdMs` is given; otherwise it adapts: `k` times the p99 of
// the stall lengths that ended in progress (the driver's own service times, and heartbeat gaps
// that ended without a probe, e.g. its GC pauses), clamped to [minThresholdMs, maxThresholdMs], starting at
// `initialThresholdMs` until `warmupSamples` are seen. Episodes that came close (≥ 3/4 of the
// threshold) and then progressed are counted as near misses; verdicts that the caller later
// found wrong are counted through noteFalsePositive().
//
// A crashed driver (pidfd) and impossible responses (the uplink's checks) are found elsewhere,
// at once; they do not need a detector. After a verdict the detector is silent until the
// generation in the samples changes (a new driver instance) or reset() is called.

/** One reading of the channel (all counters are free-running u32s). */
export interface WatchdogSample {
  /** When the sample was taken, in ms on a monotonic clock (performance.now()). */
  at: number;
  /** Driver instance (channel generation). A change starts judging afresh. */
  generation: number;
  /** Requests net_uk has pushed on the TX and RX rings (req_prod). */
  txPosted: number;
  rxPosted: number;
  /** The driver's consumer indices (req_cons) from the counters page. */
  txConsumed: number;
  rxConsumed: number;
  heartbeat: number;
  /** Device progress: frames handed to the device not yet completed, and completions so far. */
  devTxPending: number;
  devTxCompleted: number;
}

export type HangKind = 'driver-hang' | 'device-hang';

export interface Verdict {
  kind: HangKind;
  /** Which counter stood still, with the numbers, for logs. */
  reason: string;
  /** Time from the last sample that showed the counter before it stood still to this sample. */
  stalledMs: number;
  /** On-time ticks during which it stood still. */
  ticks: number;
  /** The threshold in force when the verdict was taken. */
  thresholdMs: number;
}

export interface DetectorOptions {
  /** Sampling period the runner aims for (default 1 ms). */
  periodMs?: number;
  /** A fixed threshold; leave undefined for the adaptive one. */
  thresholdMs?: number;
  initialThresholdMs?: number;
  minThresholdMs?: number;
  maxThresholdMs?: number;
  /** Adaptive threshold = k × p99 of observed stall lengths (default 3). */
  k?: number;
  warmupSamples?: number;
  /** Device hang threshold (default: the same as the driver's). */
  deviceThresholdMs?: number;
  /**
   * Idle heartbeat: ask for a probe after this long without a beat (default: threshold / 2, at
   * least IDLE_PROBE_MIN_MS, so an idle driver costs little; an idle hang is then found within
   * probeAfterMs + threshold).
   */
  probeAfterMs?: number;
  /** A tick later than max(lateFactor × periodMs, threshold / 4) after the previous one restarts every episode. */
  lateFactor?: number;
  /** Called when the detector wants the driver woken (idle heartbeat check). */
  probe?: () => void;
}

export interface DetectorStats {
  ticks: number;
  lateTicks: number;
  probes: number;
  verdicts: number;
  nearMisses: number;
  falsePositives: number;
  thresholdMs: number;
  /** p99 of the stall lengths seen so far (ms), 0 before any. */
  stallP99Ms: number;
}

interface Episode {
  since: number; // `at` of the last sample before the counter stood still
  ticks: number;
  probedAt: number; // heartbeat episode: when the probe was asked for, or -1
}

const WINDOW = 1024;
const MIN_TICKS = 3;
/** Default floor of probeAfterMs: an idle driver is woken at most ~50 times a second. */
export const IDLE_PROBE_MIN_MS = 20;

export class HangDetector {
  private readonly periodMs: number;
  private readonly fixed: number | undefined;
  private readonly initial: number;
  private readonly min: number;
  private readonly max: number;
  private readonly k: number;
  private readonly warmup: number;
  private readonly deviceFixed: number | undefined;
  private readonly probeAfter: number | undefined;
  private readonly lateFactor: number;
  private readonly probe: (() => void) | undefined;

  private prev: WatchdogSample | null = null;
  private consumer: Episode | null = null;
  private heartbeat: Episode | null = null;
  private device: Episode | null = null;
  private fired = false;
  /** Ring buffer of stall lengths (ms) that ended in progress. */
  private readonly stalls = new Float64Array(WINDOW);
  private nStalls = 0;
  private p99Cache = -1;
  private readonly s = { ticks: 0, lateTicks: 0, probes: 0, verdicts: 0, nearMisses: 0, falsePositives: 0 };

  constructor(o: DetectorOptions = {}) {
    this.periodMs = positive('periodMs', o.periodMs ?? 1);
    this.fixed = o.thresholdMs === undefined ? undefined : positive('thresholdMs', o.thresholdMs);
    this.min = positive('minThresholdMs', o.minThresholdMs ?? 2);
    this.max = positive('maxThresholdMs', o.maxThresholdMs ?? 200);
    if (this.min > this.max) throw new RangeError(`HangDetector: minThresholdMs ${this.min} > maxThresholdMs ${this.max}`);
    this.initial = clamp(positive('initialThresholdMs', o.initialThresholdMs ?? 10), this.min, this.max);
    this.k = positive('k', o.k ?? 3);
    this.warmup = Math.max(1, Math.floor(o.warmupSamples ?? 32));
    this.deviceFixed = o.deviceThresholdMs === undefined ? undefined : positive('deviceThresholdMs', o.deviceThresholdMs);
    this.probeAfter = o.probeAfterMs === undefined ? undefined : positive('probeAfterMs', o.probeAfterMs);
    this.lateFactor = positive('lateFactor', o.lateFactor ?? 3);
    this.probe = o.probe;
  }

  /** The driver threshold in force now (ms). */
  get thresholdMs(): number {
    if (this.fixed !== undefined) return this.fixed;
    if (this.nStalls < this.warmup) return this.initial;
    return clamp(this.k * Math.max(this.stallP99(), this.periodMs), this.min, this.max);
  }

  get stats(): DetectorStats {
    return { ...this.s, thresholdMs: this.thresholdMs, stallP99Ms: this.nStalls === 0 ? 0 : this.stallP99() };
  }

  /** The caller found a verdict wrong (the driver was alive after all). */
  noteFalsePositive(): void {
    this.s.falsePositives++;
  }

  /** Forget every open episode and allow verdicts again (a new driver instance). Learned stall lengths are kept. */
  reset(): void {
    this.prev = null;
    this.consumer = this.heartbeat = this.device = null;
    this.fired = false;
  }

  /** Feed one sample; returns a verdict the first time a hang is judged, else null. */
  observe(x: WatchdogSample): Verdict | null {
    const p = this.prev;
    if (p !== null && x.generation !== p.generation) this.reset();
    const prev = this.prev;
    this.prev = x;
    if (prev === null) return null;
    this.s.ticks++;
    if (x.at - prev.at > Math.max(this.lateFactor * this.periodMs, this.thresholdMs / 4)) {
      // We (or the whole machine) were away: nothing seen across the gap counts as evidence.
      this.s.lateTicks++;
      this.consumer = this.heartbeat = this.device = null;
      return null;
    }
    if (this.fired) return null;
    const threshold = this.thresholdMs;

    // Consumer progress with work pending.
    const pending = u32(x.txPosted - x.txConsumed) !== 0 || u32(x.rxPosted - x.rxConsumed) !== 0;
    const consumed = x.txConsumed !== prev.txConsumed || x.rxConsumed !== prev.rxConsumed;
    if (consumed || !pending) {
      this.endEpisode(this.consumer, x.at, threshold);
      this.consumer = null;
    } else {
      this.consumer ??= { since: prev.at, ticks: 0, probedAt: -1 };
      this.consumer.ticks++;
    }

    // Heartbeat, with a probe for an idle driver.
    if (x.heartbeat !== prev.heartbeat) {
      this.heartbeat = null; // heartbeat gaps are not learned: an idle driver sleeps between beats
    } else {
      this.heartbeat ??= { since: prev.at, ticks: 0, probedAt: -1 };
      this.heartbeat.ticks++;
      const probeAfter = this.probeAfter ?? Math.max(threshold / 2, IDLE_PROBE_MIN_MS);
      if (this.heartbeat.probedAt < 0 && x.at - this.heartbeat.since >= probeAfter) this.askProbe(this.heartbeat, x.at);
    }

    // Device: frames at the device and no completion.
    const devThreshold = this.deviceFixed ?? threshold;
    if (x.devTxPending === 0 || x.devTxCompleted !== prev.devTxCompleted) {
      this.device = null;
    } else {
      this.device ??= { since: prev.at, ticks: 0, probedAt: -1 };
      this.device.ticks++;
    }

    // At least MIN_TICKS on-time observations, whatever the timer's actual pace.
    const minTicks = (t: number): number => Math.min(MIN_TICKS, Math.max(2, Math.ceil(t / this.periodMs)));
    const c = this.consumer;
    if (c !== null && c.ticks >= minTicks(threshold) && x.at - c.since >= threshold) {
      return this.verdict('driver-hang', `work pending (tx ${u32(x.txPosted - x.txConsumed)}, rx ${u32(x.rxPosted - x.rxConsumed)}) and req_cons still at tx ${x.txConsumed} rx ${x.rxConsumed}`, c, x.at, threshold);
    }
    const h = this.heartbeat;
    // The heartbeat is judged only after a probe: the driver then gets a whole threshold to beat.
    const hFrom = h !== null && h.probedAt >= 0 ? h.probedAt + threshold : Infinity;
    if (h !== null && h.ticks >= minTicks(threshold) && x.at >= hFrom) {
      return this.verdict('driver-hang', `heartbeat still at ${x.heartbeat}${h.probedAt >= 0 ? ' after a probe' : ''}`, h, x.at, threshold);
    }
    const d = this.device;
    if (d !== null && d.ticks >= minTicks(devThreshold) && x.at - d.since >= devThreshold) {
      // Only a live driver can blame its device: if the heartbeat stood still too, wake the
      // driver now; a beat makes this a device hang, none makes it a driver hang (above).
      if (h === null) {
        return this.verdict('device-hang', `${x.devTxPending} frames at the device and no TX completion (still ${x.devTxCompleted})`, d, x.at, devThreshold);
      }
      if (h.probedAt < 0) this.askProbe(h, x.at);
    }
    return null;
  }

  private askProbe(h: Episode, at: number): void {
    h.probedAt = at;
    this.s.probes++;
    this.probe?.();
  }

  private verdict(kind: HangKind, reason: string, e: Episode, at: number, thresholdMs: number): Verdict {
    this.fired = true;
    this.s.verdicts++;
    return { kind, reason, stalledMs: at - e.since, ticks: e.ticks, thresholdMs };
  }

  /** A stall ended in progress: learn its length, count it if it came close. */
  private endEpisode(e: Episode | null, at: number, threshold: number): void {
    if (e === null) return;
    const len = at - e.since;
    this.stalls[this.nStalls % WINDOW] = len;
    this.nStalls++;
    this.p99Cache = -1;
    if (len >= 0.75 * threshold) this.s.nearMisses++;
  }

  private stallP99(): number {
    if (this.p99Cache >= 0) return this.p99Cache;
    const n = Math.min(this.nStalls, WINDOW);
    const sorted = this.stalls.slice(0, n).sort();
    this.p99Cache = sorted[Math.min(n - 1, Math.floor(0.99 * n))] ?? 0;
    return this.p99Cache;
  }
}

function u32(x: number): number {
  return x >>> 0;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`HangDetector: ${name} must be a positive number of ms (got ${v})`);
  return v;
}
