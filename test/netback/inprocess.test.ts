// The in-process host: handshake, traffic both ways, teardown — the base the hostile tests build on.
import t from 'tap';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { startHost, until } from './harness.js';

t.test('two in-process guests connect and exchange verified frames', async (t) => {
  const h = await startHost();
  t.teardown(() => h.close());
  const a = await h.addGuest(1, '00:16:3e:00:00:01');
  const b = await h.addGuest(2, '00:16:3e:00:00:02');
  const ca = new TrafficChecker();
  const cb = new TrafficChecker();
  a.onFrame = (buf, off, len) => ca.check(buf, off, len);
  b.onFrame = (buf, off, len) => cb.check(buf, off, len);
  const frame = new Uint8Array(2048);
  const N = 2000;
  let sa = 0;
  let sb = 0;
  const pump = (from: typeof a, to: typeof a, flow: number, seq: number): number => {
    while (seq < N && from.txSpace >= 2) {
      const len = 60 + (seq % 1455);
      buildFrame(frame, 0, to.mac, from.mac, flow, seq, len);
      from.send(frame, 0, len);
      seq++;
    }
    from.flushTx();
    return seq;
  };
  await until(() => {
    sa = pump(a, b, 1, sa);
    sb = pump(b, a, 2, sb);
    a.poll();
    b.poll();
    return ca.total().received === N && cb.total().received === N;
  }, 'both guests received all frames', 30_000);
  t.same(ca.total(), { received: N, bad: 0, gaps: 0, reordered: 0, bytes: ca.total().bytes });
  t.same(cb.total(), { received: N, bad: 0, gaps: 0, reordered: 0, bytes: cb.total().bytes });
  const st = h.nb.status();
  t.equal(st.length, 2);
  for (const v of st) {
    t.equal(v.state, 4, `${v.vif} Connected`);
    t.equal(v.counters.tx_packets, N);
    t.equal(v.counters.rx_packets, N);
    t.equal(v.counters.fatal, 0);
  }
});

t.test('frontend close tears the vif down and the backend goes Closed', async (t) => {
  const h = await startHost();
  t.teardown(() => h.close());
  const a = await h.addGuest(3, '00:16:3e:00:00:03');
  await h.xs0.write('/local/domain/0/backend/vif/3/0/online', '0');
  await a.close();
  await until(() => h.nb.vif(3, 0) === undefined, 'vif removed');
  t.equal(await h.xs0.read('/local/domain/0/backend/vif/3/0/state'), '6');
});
