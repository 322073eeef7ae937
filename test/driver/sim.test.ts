// A real sim driver process behind an Uplink: traffic both ways with zero loss and in order.
import t from 'tap';
import { buildFrame, sizeFor, TrafficChecker } from '../guest/traffic.js';
import { until } from '../netback/harness.js';
import { startSimRig } from './helpers.js';

const PEER = Uint8Array.from([0x02, 0, 0, 0, 0, 0xee]);
const HOST = Uint8Array.from([0x00, 0x16, 0x3e, 0, 0, 0x01]);

t.test('uplink ⇄ sim driver ⇄ peer: 20000 frames each way, zero loss, in order', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const N = 20_000;
  const atPeer = new TrafficChecker();
  const atHost = new TrafficChecker();
  rig.host.onFrame = (b, o, l) => atHost.check(b, o, l);
  const scratch = new Uint8Array(2048);
  let sent = 0;
  let injected = 0;
  await until(() => {
    // host → wire: keep a bounded number of frames outstanding so nothing is dropped by the backlog.
    while (sent < N && rig.uplink.inFlight.backlog < 512) {
      const len = sizeFor(sent, 60, 1514);
      const seq = sent;
      if (!rig.send((b, o) => (buildFrame(b, o, PEER, HOST, 1, seq, len), len))) break;
      sent++;
    }
    rig.uplink.flush();
    // wire → host
    while (injected < N && rig.peer.injectSpace > 0) {
      const len = sizeFor(injected + 7, 60, 1514);
      buildFrame(scratch, 0, HOST, PEER, 2, injected, len);
      rig.peer.inject(scratch, 0, len, false);
      injected++;
    }
    rig.peer.flush();
    rig.peer.receive((b, o, l) => atPeer.check(b, o, l));
    return atPeer.total().received === N && atHost.total().received === N;
  }, 'all frames across both ways', 120_000);
  t.same({ ...atPeer.total(), bytes: 0 }, { received: N, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'peer got every host frame, in order');
  t.same({ ...atHost.total(), bytes: 0 }, { received: N, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'host got every peer frame, in order');
  const u = rig.uplink.status();
  t.equal(u.tx_packets, N);
  t.equal(u.rx_packets, N);
  t.equal(u.tx_backlog_full + u.tx_error + u.bad_tx_id + u.bad_rx_frame + u.bad_rsp_prod + u.rx_error, 0, 'no drop, no error');
  await until(() => rig.uplink.inFlight.tx === 0, 'every TX answered');
  const k = rig.driver.channel.snapshot();
  t.equal(k.devTxCompleted, N);
  t.equal(k.devRxReceived, N);
  t.equal(k.generation, rig.driver.generation);
  t.ok(k.heartbeat > 0, 'heartbeat runs');
  // Pool accounting: only the RX frames posted to the driver are out of the pool.
  t.equal(rig.host.pool.free, rig.host.pool.frames - rig.uplink.inFlight.rx);
});

t.test('the idle driver sleeps on its eventfd and a kick wakes it', async (t) => {
  const rig = await startSimRig();
  t.teardown(() => rig.close());
  const ch = rig.driver.channel;
  await until(() => ch.counter('state') === 2, 'driver asleep');
  const kicks = rig.uplink.counter('notifications');
  const got = new TrafficChecker();
  t.ok(rig.send((b, o) => (buildFrame(b, o, PEER, HOST, 9, 0, 100), 100)));
  rig.uplink.flush();
  await until(() => (rig.peer.receive((b, o, l) => got.check(b, o, l)), got.total().received === 1), 'frame sent');
  t.ok(ch.counter('sleeps') > 0, 'the driver went to sleep when idle');
  t.ok(rig.uplink.counter('notifications') > kicks, 'the sleeping driver had armed req_event, so net_uk kicked it');
});
