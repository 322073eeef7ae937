// Supervisor and the sim driver's fault hooks: each one observable from net_uk's side.
import t from 'tap';
import { Control } from '../../src/driver/channel.js';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { until } from '../netback/harness.js';
import { startSimRig, type SimRig } from './helpers.js';

const PEER = Uint8Array.from([0x02, 0, 0, 0, 0, 0xee]);
const HOST = Uint8Array.from([0x00, 0x16, 0x3e, 0, 0, 0x01]);

function sendN(rig: SimRig, flow: number, from: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const seq = from + i;
    if (!rig.send((b, o) => (buildFrame(b, o, PEER, HOST, flow, seq, 100), 100))) throw new Error('send refused');
  }
  rig.uplink.flush();
}

async function drainPeer(rig: SimRig, check: TrafficChecker, n: number, what: string): Promise<void> {
  await until(() => (rig.peer.receive((b, o, l) => check.check(b, o, l)), check.total().received >= n), what, 30_000);
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('supervisor: kill -9 is reported through the pidfd, files are removed', async (t) => {
  let fired = 0;
  const rig = await startSimRig({ spec: { onExit: () => fired++ } });
  t.teardown(() => rig.close());
  const chanPath = rig.driver.channel.path;
  process.kill(rig.driver.pid, 'SIGKILL');
  await until(() => fired > 0, 'exit callback');
  t.equal(fired, 1, 'the exit callback fired once');
  t.not(rig.driver.exitedAt, null);
  t.notOk(rig.driver.alive);
  t.same(await rig.driver.exited, { code: null, signal: 'SIGKILL' });
  await rig.close();
  const { existsSync } = await import('node:fs');
  t.notOk(existsSync(chanPath), 'channel file removed');
});

t.test('hook crash: the driver dies at once and the supervisor knows', async (t) => {
  let fired = 0;
  const rig = await startSimRig({ spec: { onExit: () => fired++ } });
  t.teardown(() => rig.close());
  rig.driver.channel.setControl(Control.crash);
  rig.driver.kick.signal();
  await until(() => fired > 0, 'exit callback after crash');
  t.same(await rig.driver.exited, { code: null, signal: 'SIGKILL' });
});

t.test('hook hang: heartbeat and consumer index stop; clearing it resumes with nothing lost', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const ch = rig.driver.channel;
  ch.setControl(Control.hang);
  rig.driver.kick.signal();
  await until(() => ch.counter('controlSeen') === Control.hang, 'hang taken');
  const hb = ch.counter('heartbeat');
  const cons = ch.counter('txReqCons');
  sendN(rig, 1, 0, 50);
  await pause(300); // many driver ticks' worth: a live loop would have moved
  t.equal(ch.counter('heartbeat'), hb, 'heartbeat stopped');
  t.equal(ch.counter('txReqCons'), cons, 'no consumer progress while work is pending');
  t.ok(ch.tx.sring.reqProd !== ch.counter('txReqCons'), 'work is pending');
  ch.setControl(Control.none);
  const got = new TrafficChecker();
  await drainPeer(rig, got, 50, 'frames after resume');
  t.same({ ...got.total(), bytes: 0 }, { received: 50, bad: 0, gaps: 0, reordered: 0, bytes: 0 });
  t.ok(ch.counter('heartbeat') > hb, 'heartbeat resumed');
});

t.test('hook slow: at most one request per pass', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const ch = rig.driver.channel;
  ch.setControl(Control.slow);
  rig.driver.kick.signal();
  await until(() => ch.counter('controlSeen') === Control.slow, 'slow taken');
  const passes0 = ch.counter('busyPasses');
  const done0 = ch.counter('devTxCompleted');
  sendN(rig, 1, 0, 40);
  const got = new TrafficChecker();
  await drainPeer(rig, got, 40, 'slow frames');
  const passes = ch.counter('busyPasses') - passes0;
  const done = ch.counter('devTxCompleted') - done0;
  t.equal(done, 40);
  t.ok(passes >= 40, `${passes} busy passes for 40 frames (normal mode takes a handful)`);
  t.equal(got.total().gaps, 0);
});

t.test('hook corruptTxId: an id never sent is counted, net_uk keeps running', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const ch = rig.driver.channel;
  ch.setControl(Control.corruptTxId);
  rig.driver.kick.signal();
  await until(() => ch.counter('controlSeen') === Control.corruptTxId, 'hook taken');
  sendN(rig, 1, 0, 10);
  const got = new TrafficChecker();
  await drainPeer(rig, got, 10, 'frames');
  await until(() => rig.uplink.counter('bad_tx_id') === 1, 'bad id detected');
  await until(() => rig.uplink.inFlight.tx === 1, 'the frame whose answer was corrupted stays owned');
  sendN(rig, 1, 10, 10);
  await drainPeer(rig, got, 20, 'more frames after the bad response');
  t.equal(rig.uplink.counter('bad_tx_id'), 1);
  t.equal(rig.uplink.faultReason, undefined, 'not a ring-index fault');
  t.equal(got.total().gaps, 0);
});

t.test('hook corruptRxFrame: a frame outside the pool is counted and ignored', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const ch = rig.driver.channel;
  ch.setControl(Control.corruptRxFrame);
  rig.driver.kick.signal();
  await until(() => ch.counter('controlSeen') === Control.corruptRxFrame, 'hook taken');
  const host = new TrafficChecker();
  rig.host.onFrame = (b, o, l) => host.check(b, o, l);
  const buf = new Uint8Array(2048);
  for (let i = 0; i < 5; i++) {
    buildFrame(buf, 0, HOST, PEER, 3, i, 80);
    t.ok(rig.peer.inject(buf, 0, 80));
  }
  await until(() => rig.uplink.counter('bad_rx_frame') === 1 && host.total().received === 4, 'bad frame counted, the other four delivered');
  t.equal(rig.uplink.counter('rx_packets'), 4);
  t.equal(host.total().gaps, 1, 'the frame behind the corrupted response is the one missing');
});

t.test('hook deviceStop: the loop runs, the device counters freeze; resuming loses nothing', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const ch = rig.driver.channel;
  ch.setControl(Control.deviceStop);
  rig.driver.kick.signal();
  await until(() => ch.counter('controlSeen') === Control.deviceStop, 'hook taken');
  const done = ch.counter('devTxCompleted');
  sendN(rig, 1, 0, 30);
  await until(() => ch.counter('devTxPending') === 30, 'the driver handed the frames to the device');
  const hb = ch.counter('heartbeat');
  await until(() => ch.counter('heartbeat') > hb + 5, 'the driver loop keeps running');
  t.equal(ch.counter('devTxCompleted'), done, 'device made no progress');
  t.equal(rig.uplink.inFlight.tx, 30, 'frames still owned by net_uk until answered');
  ch.setControl(Control.none);
  rig.driver.kick.signal();
  const got = new TrafficChecker();
  await drainPeer(rig, got, 30, 'frames after the device resumes');
  t.same({ ...got.total(), bytes: 0 }, { received: 30, bad: 0, gaps: 0, reordered: 0, bytes: 0 });
});
