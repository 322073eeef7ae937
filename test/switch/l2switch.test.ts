import t from 'tap';
import { L2Switch, macAt, parseMac, formatMac } from '../../src/switch/l2switch.js';

function frame(dst: string, src: string): Uint8Array {
  const f = new Uint8Array(60);
  f.set(parseMac(dst), 0);
  f.set(parseMac(src), 6);
  return f;
}
const A = '00:16:3e:00:00:0a';
const B = '00:16:3e:00:00:0b';
const BCAST = 'ff:ff:ff:ff:ff:ff';

t.test('unknown unicast floods, then learned unicast goes to one port', async (t) => {
  const sw = new L2Switch();
  [1, 2, 3].forEach((p) => sw.addPort(p));
  const out = new Int32Array(8);
  t.same([...out.subarray(0, sw.forward(1, frame(B, A), 0, 60, out))], [2, 3], 'unknown B floods');
  t.same([...out.subarray(0, sw.forward(2, frame(A, B), 0, 60, out))], [1], 'A learned on 1');
  t.same([...out.subarray(0, sw.forward(1, frame(B, A), 0, 60, out))], [2], 'B learned on 2');
  t.equal(sw.stats.unicast, 2);
  t.equal(sw.stats.flooded, 1);
});

t.test('broadcast and multicast flood; group source not learned', async (t) => {
  const sw = new L2Switch();
  [1, 2, 3].forEach((p) => sw.addPort(p));
  const out = new Int32Array(8);
  t.same([...out.subarray(0, sw.forward(2, frame(BCAST, A), 0, 60, out))], [1, 3]);
  t.same([...out.subarray(0, sw.forward(3, frame('01:00:5e:00:00:01', B), 0, 60, out))], [1, 2]);
  sw.forward(1, frame(B, '01:00:5e:00:00:02'), 0, 60, out);
  t.equal(sw.lookup(macAt(parseMac('01:00:5e:00:00:02'), 0)), undefined, 'multicast source never learned');
});

t.test('station move, filtering, aging, port removal', async (t) => {
  let now = 0;
  const sw = new L2Switch({ agingMs: 1000, now: () => now });
  [1, 2].forEach((p) => sw.addPort(p));
  const out = new Int32Array(8);
  sw.forward(1, frame(BCAST, A), 0, 60, out);
  t.equal(sw.lookup(macAt(parseMac(A), 0)), 1);
  sw.forward(2, frame(BCAST, A), 0, 60, out);
  t.equal(sw.lookup(macAt(parseMac(A), 0)), 2, 'moved');
  t.equal(sw.stats.moved, 1);
  t.equal(sw.forward(2, frame(A, B), 0, 60, out), 0, 'destination on ingress port is filtered');
  now = 5000;
  t.equal(sw.forward(1, frame(A, B), 0, 60, out), 1, 'aged entry: flood');
  t.equal(out[0], 2);
  t.equal(sw.age(), 0, 'A was deleted at lookup, B was just learned');
  now = 10000;
  t.equal(sw.age(), 1, 'B aged');
  sw.forward(1, frame(BCAST, A), 0, 60, out);
  sw.removePort(1);
  t.equal(sw.lookup(macAt(parseMac(A), 0)), undefined, 'forgotten with its port');
  t.same(sw.portList, [2]);
  t.throws(() => sw.addPort(2));
  t.throws(() => sw.addPort(-1));
});

t.test('short frames are dropped; MAC helpers', async (t) => {
  const sw = new L2Switch();
  sw.addPort(1);
  sw.addPort(2);
  t.equal(sw.forward(1, new Uint8Array(10), 0, 10, new Int32Array(4)), 0);
  t.equal(formatMac(parseMac(A)), A);
  t.equal(macAt(parseMac('ff:ff:ff:ff:ff:ff'), 0), 2 ** 48 - 1);
  t.throws(() => parseMac('00:16:3e:00:00'), /bad MAC/);
});
