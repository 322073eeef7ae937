// Back-pressure across the uplink, both ways, with a real sim driver process:
// - guest → congested uplink (the wire stalls, TX ring and backlog fill): the guest is parked, not
//   dropped, and every frame arrives once the wire moves again;
// - congested vif ← uplink (the guest takes nothing): the uplink stops reaping RX, the device
//   stops receiving (frames wait on the sim wire), and nothing is dropped in net_uk.
// Without back-pressure the first drops at the uplink (tx_backlog_full), the second at the vif
// (rx_queue_full).
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SimPeer } from '../../drivers/sim/peer.js';
import { startDriver } from '../../src/driver/supervisor.js';
import { Uplink } from '../../src/driver/uplink.js';
import { macAt, parseMac } from '../../src/switch/l2switch.js';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { startHost, until } from '../netback/harness.js';

const A = '00:16:3e:00:00:0a';
const PEER = parseMac('02:00:00:00:00:ee');

async function rig(t: Test, backlog: number) {
  const dir = mkdtempSync(join('/dev/shm', 'phx-bp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await startHost({ poolPath: join(dir, 'pool'), poolFrames: 8192, rxStallMs: 600_000 });
  t.teardown(() => h.close());
  const peer = SimPeer.create(join(dir, 'wire'), 256);
  t.teardown(() => peer.close());
  const driver = startDriver({ name: 'sim', poolPath: join(dir, 'pool'), nFrames: h.nb.pool.frames, runDir: dir, args: ['--peer', peer.path] });
  t.teardown(() => driver.close());
  peer.onInject = () => driver.kick.signal();
  await driver.waitReady();
  const uplink = new Uplink(h.nb, driver.channel, driver.kick, driver.notify, { backlog, rxPosted: 512 });
  t.teardown(async () => {
    await driver.stop();
    uplink.close();
  });
  uplink.start();
  const a = await h.addGuest(1, A);
  return { h, peer, driver, uplink, a };
}

t.test('a guest sending into a stalled wire is parked, not dropped', { timeout: 120_000 }, async (t) => {
  const { h, peer, uplink, a } = await rig(t, 512);
  const macA = parseMac(A);
  const frame = new Uint8Array(2048);
  // Teach the switch where the peer is, so guest frames are unicast to the uplink.
  buildFrame(frame, 0, macA, PEER, 1, 0, 60);
  peer.inject(frame, 0, 60);
  await until(() => h.nb.switch.lookup(macAt(PEER, 0)) === uplink.port, 'the peer learned on the uplink', 10_000);
  const N = 6000; // more than wire (256) + device (256) + channel TX ring (1024) + backlog (512)
  let sent = 0;
  const fill = (): void => {
    a.poll();
    while (sent < N && a.txSpace >= 2) {
      const len = 60 + (sent % 1455);
      buildFrame(frame, 0, PEER, macA, 5, sent, len);
      a.send(frame, 0, len);
      sent++;
    }
    a.flushTx();
  };
  // Phase 1: nobody drains the wire. The guest fills everything, then must be held back.
  await until(async () => {
    fill();
    await sleep(5);
    return h.nb.status()[0]!.counters.backpressure > 0 || uplink.counter('tx_backlog_full') > 0;
  }, 'the guest parked by the uplink (or frames dropped)', 30_000);
  for (let i = 0; i < 40; i++) {
    fill();
    await sleep(5);
  }
  const st = h.nb.status()[0]!.counters;
  t.ok(st.backpressure > 0, `the guest's TX was parked ${st.backpressure} times`);
  t.ok(sent < N, `the guest was held at ${sent} of ${N} frames`);
  t.equal(uplink.counter('tx_backlog_full'), 0, 'the uplink dropped nothing');
  t.ok(uplink.counter('tx_congested') > 0, 'it said it was congested');
  // Phase 2: the wire moves; everything arrives, in order.
  const atPeer = new TrafficChecker();
  await until(() => {
    peer.receive((b, o, l) => atPeer.check(b, o, l));
    fill();
    return atPeer.total().received === N;
  }, 'every frame at the peer', 90_000);
  t.same({ ...atPeer.total(), bytes: 0 }, { received: N, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'zero loss, in order');
  t.equal(uplink.counter('tx_backlog_full') + uplink.counter('tx_down'), 0, 'no drop at the uplink');
});

t.test('a guest that takes nothing holds the uplink back; the wire keeps what the device could not take', { timeout: 120_000 }, async (t) => {
  const { h, peer, uplink, a, driver } = await rig(t, 4096);
  const macA = parseMac(A);
  const frame = new Uint8Array(2048);
  const atA = new TrafficChecker();
  a.onFrame = (b, o, l) => atA.check(b, o, l);
  // Learn A on its vif (so peer frames are unicast to it), then stop the guest from taking frames.
  buildFrame(frame, 0, PEER, macA, 1, 0, 60);
  a.send(frame, 0, 60);
  a.flushTx();
  await until(() => (a.poll(), h.nb.switch.lookup(macAt(macA, 0)) === h.nb.vif(1, 0)!.port), 'A learned on its vif');
  a.onWake = () => undefined;
  const N = 3000; // more than the guest ring (256) + the vif's hard queue bound (1024) + RX posted (512)
  let inj = 0;
  const inject = (): void => {
    while (inj < N && peer.injectSpace > 0) {
      const len = 60 + ((inj * 7) % 1455);
      buildFrame(frame, 0, macA, PEER, 9, inj, len);
      peer.inject(frame, 0, len, false);
      inj++;
    }
    peer.flush();
  };
  await until(async () => {
    inject();
    await sleep(5);
    return uplink.held || h.nb.status()[0]!.counters.rx_queue_full > 0;
  }, 'the uplink held back by the congested vif (or frames dropped)', 30_000);
  for (let i = 0; i < 60; i++) {
    inject();
    await sleep(5);
  }
  const vs = h.nb.status()[0]!;
  t.equal(vs.counters.rx_queue_full, 0, 'the vif dropped nothing');
  t.ok(vs.rxQueued <= 300, `its queue stayed near the soft bound (${vs.rxQueued})`);
  t.ok(inj < N, `the wire is full: the peer could inject only ${inj} of ${N}`);
  t.ok(uplink.counter('rx_held') > 0, 'the uplink was held');
  await until(() => driver.channel.counter('devRxPosted') === 0, 'the device out of free frames', 10_000);
  t.pass('the device holds no free frame: what arrives waits on the wire (a NIC would drop and count it)');
  // The guest takes frames again: everything arrives, in order.
  a.onWake = () => void a.poll();
  await until(() => {
    a.poll();
    inject();
    return atA.total().received === N;
  }, 'every frame at the guest', 90_000);
  t.same({ ...atA.total(), bytes: 0 }, { received: N, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'zero loss, in order');
  t.equal(h.nb.status()[0]!.counters.rx_queue_full, 0);
  t.equal(uplink.counter('rx_no_destination'), 0);
});
