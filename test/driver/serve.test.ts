// `phoenix serve --uplink sim`: a backend process starts the sim driver process as its uplink; a
// guest process and the sim peer (this test) exchange verified frames through it.
import t from 'tap';
import { join } from 'node:path';
import { SimPeer } from '../../drivers/sim/peer.js';
import { ShmWorld } from '../../src/sandbox/shmworld.js';
import { parseMac } from '../../src/switch/l2switch.js';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { until } from '../netback/harness.js';

const G = '00:16:3e:00:00:07';
const PEER = '02:00:00:00:00:ee';

t.test('phoenix serve --uplink sim: guest process ⇄ sim peer', { timeout: 120_000 }, async (t) => {
  const t0 = Date.now();
  const world = await ShmWorld.create('phx-serve-up');
  t.teardown(() => world.close());
  const peer = SimPeer.create(join(world.runDir, 'wire'), 256);
  t.teardown(() => peer.close());
  // No kick eventfd from another process here: the driver's tick picks injected frames up.
  const backend = await world.startBackend(['--uplink', `sim:peer=${peer.path}`, '--pool-frames', '8192']);
  const TO_PEER = 3000;
  const TO_GUEST = 500;
  const g = await world.startGuest(7, G, ['--send-to', PEER, '--count', String(TO_PEER), '--expect', String(TO_GUEST), '--flow', '7', '--idle-ms', '60000']);
  const atPeer = new TrafficChecker();
  const pump = setInterval(() => peer.receive((b, o, l) => atPeer.check(b, o, l)), 2);
  t.teardown(() => clearInterval(pump));
  t.comment(`backend + guest up after ${Date.now() - t0} ms`);
  g.proc.stdin!.write('go\n');
  await until(() => atPeer.total().received === TO_PEER, 'peer got every guest frame', 60_000);
  t.comment(`guest → peer done after ${Date.now() - t0} ms`);
  t.same({ ...atPeer.total(), bytes: 0 }, { received: TO_PEER, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'guest → peer: zero loss, in order');
  // The guest MAC is learned on its vif now: inject unicast frames for it.
  const buf = new Uint8Array(2048);
  let sent = 0;
  await until(() => {
    while (sent < TO_GUEST && peer.injectSpace > 0) {
      const len = 60 + ((sent * 13) % 1455);
      buildFrame(buf, 0, parseMac(G), parseMac(PEER), 99, sent, len);
      peer.inject(buf, 0, len);
      sent++;
    }
    return sent === TO_GUEST;
  }, 'all injected', 60_000);
  const done = await g.waitEvent('done', 60_000);
  t.comment(`peer → guest done after ${Date.now() - t0} ms`);
  const rx = done.rx as { received: number; bad: number; gaps: number; reordered: number };
  t.equal(rx.received, TO_GUEST, 'guest got every peer frame');
  t.equal(rx.bad + rx.gaps + rx.reordered, 0, 'peer → guest: intact, no loss, in order');
  await world.stop(backend);
});
