// A guest and the sim peer through vif → switch → uplink → sim driver process → wire, and back:
// flooding to the uplink, ARP learned across vif and uplink, sustained traffic with zero loss.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SimPeer } from '../../drivers/sim/peer.js';
import { startDriver } from '../../src/driver/supervisor.js';
import { Uplink } from '../../src/driver/uplink.js';
import { macAt, parseMac } from '../../src/switch/l2switch.js';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { startHost, until } from '../netback/harness.js';

const A = '00:16:3e:00:00:01';
const B = '00:16:3e:00:00:02';
const PEER = parseMac('02:00:00:00:00:ee');
const BCAST = parseMac('ff:ff:ff:ff:ff:ff');
const IP_A = [10, 0, 0, 1];
const IP_PEER = [10, 0, 0, 254];

/** An Ethernet ARP frame (padded to 60 bytes). */
function arp(op: 1 | 2, dst: Uint8Array, sha: Uint8Array, spa: number[], tha: Uint8Array, tpa: number[]): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(sha, 6);
  f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, op], 12);
  f.set(sha, 22);
  f.set(spa, 28);
  f.set(tha, 32);
  f.set(tpa, 38);
  return f;
}
const isArp = (b: Uint8Array, o: number, op: number): boolean => b[o + 12] === 0x08 && b[o + 13] === 0x06 && b[o + 21] === op;

t.test('guest ⇄ sim peer through the switch and a sim driver process', async (t) => {
  // Teardowns run in reverse order of registration; each is registered as soon as its part exists.
  const dir = mkdtempSync(join('/dev/shm', 'phx-upl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await startHost({ poolPath: join(dir, 'pool') });
  t.teardown(() => h.close());
  const peer = SimPeer.create(join(dir, 'wire'), 256);
  t.teardown(() => peer.close());
  const driver = startDriver({ name: 'sim', poolPath: join(dir, 'pool'), nFrames: h.nb.pool.frames, runDir: dir, args: ['--peer', peer.path] });
  t.teardown(() => driver.close());
  peer.onInject = () => driver.kick.signal();
  const uplink = new Uplink(h.nb, driver.channel, driver.kick, driver.notify);
  t.teardown(async () => {
    await driver.stop();
    uplink.close();
  });
  uplink.start();
  await until(() => driver.channel.counter('pid') === driver.pid, 'driver running', 30_000);
  const a = await h.addGuest(1, A);
  const b = await h.addGuest(2, B);
  const atA: Uint8Array[] = [];
  const atB: Uint8Array[] = [];
  const atPeer: Uint8Array[] = [];
  a.onFrame = (buf, off, len) => void atA.push(buf.slice(off, off + len));
  b.onFrame = (buf, off, len) => void atB.push(buf.slice(off, off + len));
  const pumpPeer = (): void => void peer.receive((buf, off, len) => void atPeer.push(buf.slice(off, off + len)));
  const poll = (): void => {
    a.poll();
    b.poll();
    pumpPeer();
  };
  const macA = parseMac(A);
  const frame = new Uint8Array(2048);

  // 1. Broadcast from guest A floods to B and to the uplink.
  buildFrame(frame, 0, BCAST, macA, 1, 0, 100);
  t.ok(a.send(frame, 0, 100));
  a.flushTx();
  await until(() => (poll(), atPeer.length === 1 && atB.length === 1), 'broadcast at the peer and at B');
  t.same([...atPeer[0]!.subarray(0, 6)], [...BCAST]);

  // 2. Unknown unicast (the peer's MAC is not learned yet) floods too.
  buildFrame(frame, 0, PEER, macA, 1, 1, 100);
  t.ok(a.send(frame, 0, 100));
  a.flushTx();
  await until(() => (poll(), atPeer.length === 2 && atB.length === 2), 'unknown unicast flooded');
  t.equal(h.nb.switch.stats.flooded, 2);

  // 3. The peer ARPs for A: the request floods to both guests; A's reply is unicast to the uplink only.
  t.ok(peer.inject(arp(1, BCAST, PEER, IP_PEER, new Uint8Array(6), IP_A), 0, 60));
  await until(() => (poll(), atA.length === 1 && atB.length === 3), 'ARP request at both guests');
  t.ok(isArp(atA[0]!, 0, 1), 'A got the ARP request');
  t.equal(h.nb.switch.lookup(macAt(PEER, 0)), uplink.port, 'the peer MAC is learned on the uplink port');
  const reply = arp(2, PEER, macA, IP_A, PEER, IP_PEER);
  t.ok(a.send(reply, 0, 60));
  a.flushTx();
  await until(() => (poll(), atPeer.length === 3), 'ARP reply at the peer');
  t.ok(isArp(atPeer[2]!, 0, 2), 'the peer got the ARP reply');
  t.same([...atPeer[2]!.subarray(22, 28)], [...macA], 'reply names A');
  t.equal(h.nb.switch.lookup(macAt(macA, 0)), h.nb.vif(1, 0)!.port, 'A is learned on its vif port');
  t.equal(atB.length, 3, 'B did not see the unicast reply');

  // 4. Sustained traffic both ways, unicast across vif and uplink: zero loss, in order.
  const N = 3000;
  const toPeer = new TrafficChecker();
  const toA = new TrafficChecker();
  a.onFrame = (buf, off, len) => toA.check(buf, off, len);
  const pump = (): void => void peer.receive((buf, off, len) => toPeer.check(buf, off, len));
  let sa = 0;
  let sp = 0;
  await until(() => {
    while (sa < N && a.txSpace >= 2 && sa - toPeer.total().received < 200) {
      const len = 60 + (sa % 1455);
      buildFrame(frame, 0, PEER, macA, 10, sa, len);
      a.send(frame, 0, len);
      sa++;
    }
    a.flushTx();
    while (sp < N && sp - toA.total().received < 128 && peer.injectSpace > 0) {
      const len = 60 + ((sp * 7) % 1455);
      buildFrame(frame, 0, macA, PEER, 20, sp, len);
      peer.inject(frame, 0, len, false);
      sp++;
    }
    peer.flush();
    a.poll();
    pump();
    return toPeer.total().received === N && toA.total().received === N;
  }, 'traffic both ways', 120_000);
  t.same({ ...toPeer.total(), bytes: 0 }, { received: N, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'peer got all of A, in order');
  t.same({ ...toA.total(), bytes: 0 }, { received: N, bad: 0, gaps: 0, reordered: 0, bytes: 0 }, 'A got all of the peer, in order');
  t.equal(atB.length, 3, 'no unicast leaked to B');
  const u = uplink.status();
  t.equal(u.tx_backlog_full + u.bad_tx_id + u.bad_rx_frame + u.bad_rsp_prod + u.rx_no_destination, 0, 'uplink: no drop, no bad response');
});
