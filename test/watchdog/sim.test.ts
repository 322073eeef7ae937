// The watchdog against a real driver process (drivers/sim) on a real channel: an idle driver is
// not blamed, a hung driver and a stopped device are found, and how fast is printed. The
// threshold is generous (200 ms): the test runs beside others on a loaded 2-core machine.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Control } from '../../src/driver/channel.js';
import { startDriver, type DriverProcess } from '../../src/driver/supervisor.js';
import { mapShared } from '../../src/native/index.js';
import { ChannelWatchdog, sampleChannel } from '../../src/watchdog/watchdog.js';
import type { Verdict } from '../../src/watchdog/detector.js';
import { until } from '../netback/harness.js';

const N_FRAMES = 256;


function setup(t: { teardown: (fn: () => unknown) => void }): { start: (gen: number) => Promise<DriverProcess> } {
  const dir = mkdtempSync(join('/dev/shm', 'phx-wd-'));
  const poolPath = join(dir, 'pool');
  const pool = mapShared(poolPath, { create: true, size: N_FRAMES * 2048 });
  const drivers: DriverProcess[] = [];
  t.teardown(async () => {
    for (const d of drivers) await d.close();
    pool.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    start: async (generation) => {
      const d = startDriver({ name: 'sim', poolPath, nFrames: N_FRAMES, runDir: dir, generation });
      drivers.push(d);
      await until(() => d.channel.counter('heartbeat') > 0, 'the sim driver to run', 20000);
      return d;
    },
  };
}

/** Post `n` TX frames on the driver's channel and kick it. */
function send(d: DriverProcess, n: number, id0: number): void {
  for (let i = 0; i < n; i++) d.channel.putTxRequest(i % N_FRAMES, 60, (id0 + i) & 0xffff);
  d.channel.tx.pushRequests();
  d.kick.signal();
}

t.test('sim driver: idle is fine, hang and device stop are found', async (t) => {
  const { start } = setup(t);
  const verdicts: Verdict[] = [];
  const d1 = await start(1);
  const wd = new ChannelWatchdog({ periodMs: 1, thresholdMs: 200, probe: () => d1.kick.signal(), onVerdict: (v) => verdicts.push(v) });
  t.teardown(() => wd.stop());
  wd.watch(d1.channel);

  await new Promise((r) => setTimeout(r, 500));
  t.equal(verdicts.length, 0, 'an idle driver answers the probes: no verdict in 500 ms');
  t.comment(`${wd.detector.stats.probes} probes, ${wd.detector.stats.ticks} ticks, ${wd.detector.stats.lateTicks} late`);

  d1.channel.setControl(Control.hang);
  const hungAt = performance.now();
  send(d1, 4, 0);
  await until(() => verdicts.length > 0, 'a verdict on the hung driver', 10000);
  const dt1 = performance.now() - hungAt;
  t.equal(verdicts[0]!.kind, 'driver-hang');
  t.comment(`driver hang found in ${dt1.toFixed(1)} ms (threshold 200 ms, ${wd.detector.stats.lateTicks} late ticks)`);

  // A new driver instance whose device stops completing.
  const d2 = await start(2);
  const probe2 = (): void => d2.kick.signal();
  // Judged only once it is serving: on a loaded machine a fresh process may take longer than a
  // threshold to pick up its first frames, and that is not what this test is about.
  const wd2 = new ChannelWatchdog({ periodMs: 1, thresholdMs: 200, probe: probe2, onVerdict: (v) => verdicts.push(v) });
  t.teardown(() => wd2.stop());
  send(d2, 8, 100);
  await until(() => d2.channel.counter('devTxCompleted') >= 8, 'the device to complete 8 frames', 10000);
  wd2.watch(d2.channel);
  d2.channel.setControl(Control.deviceStop);
  await until(() => d2.channel.counter('controlSeen') === Control.deviceStop, 'the driver to take the hook', 10000);
  const stopAt = performance.now();
  send(d2, 4, 200);
  await until(() => verdicts.length > 1, 'a verdict on the stopped device', 10000);
  t.equal(verdicts[1]!.kind, 'device-hang', verdicts[1]!.reason);
  t.comment(`device hang found in ${(performance.now() - stopAt).toFixed(1)} ms`);
  const s = sampleChannel(d2.channel);
  t.equal(s.generation, 2);
  t.ok(s.devTxPending > 0, 'frames stuck at the device');
});
