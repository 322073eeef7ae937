// A guest that stops taking frames (posts no RX buffers, XSA-392) cannot hold anybody up: its
// queue stays bounded, it is declared stalled after rxStallMs, frames for it are dropped and
// counted, senders to it are released, and everyone else's traffic goes on. When it posts
// buffers again it is served again.
import t from 'tap';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { until } from './harness.js';
import { BAD, counter, goodTrafficFlows, scene } from './attack-helpers.js';

t.test('a guest that stops posting RX buffers', async (t) => {
  const s = await scene(t, { rxStallMs: 200 });
  // The bad guest never polls again: its 256 posted buffers fill and are never re-posted.
  s.bad.onWake = () => undefined;
  const f = new Uint8Array(128);
  const N = 3000;
  let seq = 0;
  // Let the switch learn the bad guest's MAC first (one frame from it).
  buildFrame(f, 0, s.g1.mac, s.bad.mac, 1, 0, 128);
  s.bad.send(f, 0, 128);
  s.bad.flushTx();
  await until(() => (s.h.nb.switch.tableSize ?? 0) >= 1 && counter(s, BAD, 'tx_packets') === 1, 'bad guest learned');
  await until(() => {
    while (seq < N && s.g1.txSpace > 0) {
      buildFrame(f, 0, s.bad.mac, s.g1.mac, 2, seq++, 128);
      s.g1.send(f, 0, 128);
    }
    s.g1.flushTx();
    s.g1.poll();
    const q = s.h.nb.vif(BAD, 0)!.rx.queued;
    if (q > 1024) throw new Error(`queue for the stalled guest grew to ${q}`);
    return seq === N && s.g1.stats.txOk === N;
  }, 'every frame guest 1 sent to the stalled guest was answered (sender not held up)', 30_000);
  t.ok(counter(s, BAD, 'rx_stalled') > 0, 'drops for the stalled guest are counted');
  t.ok(counter(s, BAD, 'rx_packets') <= 256, 'it got at most the buffers it had posted');
  t.ok(s.h.log.lines.some((l) => typeof l.msg === 'string' && /stall/.test(l.msg)), 'stall logged');
  await goodTrafficFlows(t, s);

  // It comes back: polls (re-posting its buffers), and frames reach it again.
  const chk = new TrafficChecker();
  s.bad.onFrame = (b, o, l) => chk.check(b, o, l);
  s.bad.poll();
  let seq2 = 0;
  await until(() => {
    if (seq2 < 50 && s.g1.txSpace > 0) {
      buildFrame(f, 0, s.bad.mac, s.g1.mac, 3, seq2++, 128);
      s.g1.send(f, 0, 128);
      s.g1.flushTx();
    }
    s.g1.poll();
    s.bad.poll();
    return (chk.flows.get(3)?.received ?? 0) === 50;
  }, 'recovered guest receives again');
  t.equal(chk.flows.get(3)?.gaps, 0);
});
