// The hang detector on made-up timelines: a modelled driver sampled every millisecond.
import t from 'tap';
import { HangDetector, type DetectorOptions, type Verdict, type WatchdogSample } from '../../src/watchdog/detector.js';

/**
 * A driver model: each ms it consumes what is posted (unless hung), beats while busy, sleeps
 * when idle and beats on its own every `idleTickMs` or at once when probed (kicked).
 */
class Model {
  s: WatchdogSample;
  hung = false;
  deviceStopped = false;
  idleTickMs = 10;
  lastBeat = 0;
  kicked = false;
  constructor(start = 0) {
    this.s = { at: 0, generation: 1, txPosted: start, rxPosted: start, txConsumed: start, rxConsumed: start, heartbeat: start, devTxPending: 0, devTxCompleted: start };
  }
  post(tx: number, rx = 0): void {
    this.s.txPosted = (this.s.txPosted + tx) >>> 0;
    this.s.rxPosted = (this.s.rxPosted + rx) >>> 0;
    this.kicked = true;
  }
  /** Advance the clock by ms and run the driver (one pass per ms unless hung). */
  step(ms = 1): WatchdogSample {
    for (let i = 0; i < ms; i++) {
      this.s.at += 1;
      if (this.hung) continue;
      const tx = (this.s.txPosted - this.s.txConsumed) >>> 0;
      const rx = (this.s.rxPosted - this.s.rxConsumed) >>> 0;
      const busy = tx + rx > 0;
      if (busy || this.kicked || this.s.at - this.lastBeat >= this.idleTickMs) {
        this.s.heartbeat = (this.s.heartbeat + 1) >>> 0;
        this.lastBeat = this.s.at;
        this.kicked = false;
      }
      this.s.txConsumed = this.s.txPosted;
      this.s.rxConsumed = this.s.rxPosted;
      this.s.devTxPending += tx;
      if (!this.deviceStopped && this.s.devTxPending > 0) {
        this.s.devTxCompleted = (this.s.devTxCompleted + this.s.devTxPending) >>> 0;
        this.s.devTxPending = 0;
      }
    }
    return { ...this.s };
  }
}

function rig(o: DetectorOptions = {}, start = 0): { m: Model; d: HangDetector; run: (ms: number, each?: (at: number) => void) => Verdict | null } {
  const m = new Model(start);
  const d = new HangDetector({ thresholdMs: 4, ...o, probe: () => (m.kicked = true) });
  d.observe(m.step(0));
  const run = (ms: number, each?: (at: number) => void): Verdict | null => {
    for (let i = 0; i < ms; i++) {
      each?.(m.s.at);
      const v = d.observe(m.step(1));
      if (v !== null) return v;
    }
    return null;
  };
  return { m, d, run };
}

t.test('a healthy driver, busy then idle then busy, is never blamed', async (t) => {
  const { m, d, run } = rig();
  t.equal(run(5000, (at) => (at % 7 < 3 ? m.post(5, 2) : undefined)), null, 'busy');
  t.equal(run(5000), null, 'idle for 5 s: the driver beats on its own every 10 ms, no probe needed');
  t.equal(d.stats.probes, 0, 'default probeAfterMs (20) is longer than its idle tick');
  m.idleTickMs = 1000;
  t.equal(run(5000), null, 'a driver that sleeps longer is probed, and answers');
  t.ok(d.stats.probes >= 200 && d.stats.probes <= 260, `about one probe per 20 ms (${d.stats.probes} in 5 s)`);
  t.equal(d.stats.verdicts, 0);
});

t.test('driver hang with work pending: found one threshold after the last progress', async (t) => {
  const { m, run } = rig({ thresholdMs: 5 });
  run(100, () => m.post(3));
  m.hung = true;
  const hungAt = m.s.at;
  const v = run(100, () => m.post(1));
  t.ok(v, 'verdict');
  t.equal(v!.kind, 'driver-hang');
  t.match(v!.reason, /work pending/);
  t.equal(v!.thresholdMs, 5);
  t.ok(m.s.at - hungAt >= 5 && m.s.at - hungAt <= 7, `detected ${m.s.at - hungAt} ms after the hang`);
  t.equal(run(100, () => m.post(1)), null, 'one verdict per driver instance');
});

t.test('an idle driver that hangs is found through a probe', async (t) => {
  const { m, d, run } = rig({ thresholdMs: 4, probeAfterMs: 2 });
  run(50);
  m.hung = true;
  const hungAt = m.s.at;
  const v = run(200);
  t.ok(v, 'verdict without any traffic');
  t.equal(v!.kind, 'driver-hang');
  t.match(v!.reason, /heartbeat still at \d+ after a probe/);
  t.ok(m.s.at - hungAt <= 4 / 2 + 4 + 10 + 2, `detected ${m.s.at - hungAt} ms after the hang (probe after threshold/2, idle tick 10 ms)`);
  t.ok(d.stats.probes >= 1);
});

t.test('a guest that stops posting RX buffers is not the driver\'s fault', async (t) => {
  const { m, run } = rig();
  run(100, () => m.post(2, 2));
  // No more RX buffers, no TX: nothing pending at the driver; it sleeps and answers probes.
  t.equal(run(3000), null);
});

t.test('time the machine (or the watchdog) lost does not count against the driver', async (t) => {
  const { m, d, run } = rig({ thresholdMs: 4 });
  run(20, () => m.post(1));
  // The whole VM stops 90 ms: no tick is taken, the driver does not run either. Work is pending
  // when it resumes and the driver's first pass comes 2 ms after the watchdog's first tick.
  m.post(8);
  m.hung = true;
  m.s.at += 90;
  t.equal(d.observe({ ...m.s }), null, 'the late tick itself judges nothing');
  t.equal(run(2, () => m.post(1)), null);
  m.hung = false;
  t.equal(run(500, () => m.post(1)), null, 'no verdict');
  t.equal(d.stats.lateTicks, 1);

  // A driver that is really hung across a pause is still found, a threshold after the pause.
  m.hung = true;
  m.s.at += 80;
  d.observe({ ...m.s });
  const before = m.s.at;
  const v = run(50, () => m.post(1));
  t.equal(v?.kind, 'driver-hang');
  t.ok(m.s.at - before >= 4, 'judged over ticks after the pause');
});

t.test('device hang: the driver beats, the device completes nothing', async (t) => {
  const { m, run } = rig({ thresholdMs: 4, deviceThresholdMs: 6 });
  run(50, () => m.post(2));
  m.deviceStopped = true;
  const at = m.s.at;
  const v = run(100, () => m.post(1));
  t.equal(v?.kind, 'device-hang');
  t.match(v!.reason, /frames at the device and no TX completion/);
  t.equal(v!.thresholdMs, 6);
  t.ok(m.s.at - at >= 6 && m.s.at - at <= 8, `${m.s.at - at} ms`);
});

t.test('frames stuck at the device of a hung driver: a driver hang, found through a probe', async (t) => {
  const { m, d, run } = rig({ thresholdMs: 4, probeAfterMs: 1000 });
  run(20, () => m.post(2));
  m.deviceStopped = true;
  run(1, () => m.post(3));
  m.hung = true; // nothing pending on the rings, 3 frames at the device, no beat
  const v = run(100);
  t.equal(v?.kind, 'driver-hang', v?.reason ?? '');
  t.match(v!.reason, /after a probe/);
  t.equal(d.stats.probes, 1, 'the device rule asked for the probe (probeAfterMs is 1 s)');
});

t.test('a new generation (a reloaded driver) is judged afresh', async (t) => {
  const { m, d, run } = rig();
  m.hung = true;
  t.ok(run(100, () => m.post(1)), 'first instance hangs');
  t.equal(run(100, () => m.post(1)), null, 'silent after the verdict');
  m.hung = false;
  m.s.generation = 2;
  t.equal(run(200, () => m.post(1)), null, 'healthy new instance');
  m.hung = true;
  t.equal(run(100, () => m.post(1))?.kind, 'driver-hang', 'and it can be found hung too');
  t.equal(d.stats.verdicts, 2);
  d.noteFalsePositive();
  t.equal(d.stats.falsePositives, 1);
});

t.test('indices across 2^32', async (t) => {
  const { m, run } = rig({}, 0xfffffff0);
  t.equal(run(200, () => m.post(3, 1)), null, 'progress across the wrap');
  t.ok(m.s.txConsumed < 0x1000, 'wrapped');
  m.hung = true;
  t.equal(run(50, () => m.post(1))?.kind, 'driver-hang');
});

t.test('adaptive threshold: k × p99 of observed stalls, clamped', async (t) => {
  const { m, d, run } = rig({ thresholdMs: undefined, initialThresholdMs: 20, minThresholdMs: 2, maxThresholdMs: 50, k: 3, warmupSamples: 16 });
  t.equal(d.thresholdMs, 20, 'initial until warmed up');
  // A driver that regularly takes 3 ms to pick up work (e.g. it sleeps between passes).
  for (let i = 0; i < 64; i++) {
    m.hung = true;
    m.post(1);
    run(3);
    m.hung = false;
    run(2);
  }
  t.ok(d.stats.stallP99Ms >= 2 && d.stats.stallP99Ms <= 4, `p99 ${d.stats.stallP99Ms}`);
  t.ok(d.thresholdMs >= 6 && d.thresholdMs <= 12, `threshold ${d.thresholdMs}`);
  t.equal(d.stats.verdicts, 0, 'its normal behaviour is not a hang');
  const fast = new HangDetector({ minThresholdMs: 2, maxThresholdMs: 50, warmupSamples: 1 });
  const base = { at: 0, generation: 1, txPosted: 1, rxPosted: 0, txConsumed: 0, rxConsumed: 0, heartbeat: 0, devTxPending: 0, devTxCompleted: 0 };
  fast.observe(base);
  fast.observe({ ...base, at: 1 });
  fast.observe({ ...base, at: 2, txConsumed: 1 });
  t.equal(fast.thresholdMs, 6, 'k × p99 = 3 × a 2 ms stall ...');
  const slow = new HangDetector({ minThresholdMs: 2, maxThresholdMs: 50, warmupSamples: 1, periodMs: 100, lateFactor: 10 });
  slow.observe(base);
  slow.observe({ ...base, at: 100 });
  slow.observe({ ...base, at: 200, txConsumed: 1 });
  t.equal(slow.thresholdMs, 50, '... clamped to the maximum');
  t.equal(d.stats.nearMisses, 0, 'its 3 ms stalls never came near the threshold');
});

t.test('options are checked', async (t) => {
  t.throws(() => new HangDetector({ thresholdMs: 0 }), /thresholdMs must be a positive number of ms/);
  t.throws(() => new HangDetector({ periodMs: Number.NaN }), /periodMs/);
  t.throws(() => new HangDetector({ minThresholdMs: 10, maxThresholdMs: 5 }), /minThresholdMs 10 > maxThresholdMs 5/);
  t.equal(new HangDetector({ initialThresholdMs: 1000, maxThresholdMs: 100 }).thresholdMs, 100, 'initial clamped');
  const d = new HangDetector();
  t.equal(d.stats.stallP99Ms, 0);
  t.equal(d.observe({ at: 0, generation: 1, txPosted: 0, rxPosted: 0, txConsumed: 0, rxConsumed: 0, heartbeat: 0, devTxPending: 0, devTxCompleted: 0 }), null, 'first sample only sets the baseline');
});
