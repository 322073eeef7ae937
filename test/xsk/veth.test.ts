// SPDX-License-Identifier: MIT
// veth.test.ts — AF_XDP over a real veth pair between two fresh namespaces: receive, transmit,
// modes, detach on close. Needs root (skips with the reason otherwise; fails under CI=true).
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { XskSocket } from '../../src/xsk/socket.js';
import { ip, needRoot, vethPair, xdpOnLink } from './netns.js';
import { Receiver, Sender, testPool } from './traffic.js';

const RX_FRAMES = 8192;
const TX_FRAMES = 4096;

/** Pump a sender and a receiver in turns until `count` frames arrived or the sender has been idle for 500 ms. */
async function pump(s: Sender, r: Receiver, count: number, batch: number, paceEvery = 0): Promise<{ ms: number }> {
  const t0 = performance.now();
  let idleSince = performance.now();
  let turns = 0;
  while (r.received + r.foreign + r.duplicates < count) {
    const moved = s.step(batch, count) + r.step();
    if (moved > 0) idleSince = performance.now();
    else if (performance.now() - idleSince > 500) break;
    if (paceEvery > 0 && ++turns % paceEvery === 0) await sleep(0);
  }
  // Let the last completions come back.
  for (let i = 0; i < 50 && s.inFlight > 0; i++) {
    s.step(0, count);
    await sleep(2);
  }
  return { ms: performance.now() - t0 };
}

t.test('receive through our XSK: zero loss, frames checked, mode reported', async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  const poolA = testPool(t, RX_FRAMES);
  const poolB = testPool(t, TX_FRAMES);
  const rx = XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: poolA.buffer, fillSize: 8192, rxSize: 4096, txSize: 0 });
  t.teardown(() => rx.close());
  t.equal(rx.xdpMode, 'native', `veth has native XDP (${rx.describe()})`);
  t.equal(rx.zeroCopy, false, 'veth cannot do zero-copy: copy mode');
  t.equal(xdpOnLink(v.nsA, v.ifA), 'xdp', 'ip link shows the native program');
  const tx = XskSocket.open({ ifname: v.ifB, netns: v.nsB, umem: poolB.buffer, rxSize: 0, txSize: 2048, xdp: 'none' });
  t.teardown(() => tx.close());
  t.equal(tx.xdpMode, 'none');

  const COUNT = 200_000;
  const r = new Receiver(rx, poolA, RX_FRAMES, COUNT);
  const s = new Sender(tx, poolB, TX_FRAMES, v.macA, v.macB, 64);
  const { ms } = await pump(s, r, COUNT, 64, 64);
  const st = rx.stats();
  t.comment(`rx: ${COUNT} x 64 B in ${ms.toFixed(0)} ms = ${((COUNT / ms) * 1000 / 1e6).toFixed(3)} Mpps; stats ${JSON.stringify(st)}`);
  t.same(r.missing(), [], 'no sequence number missing');
  t.equal(r.received, COUNT, 'every frame arrived');
  t.equal(r.duplicates, 0);
  t.equal(r.foreign, 0, 'no damaged or foreign frame');
  t.equal(r.lastOffset, 256, 'received data starts XDP_PACKET_HEADROOM into the chunk');
  t.equal(r.lastLen, 64);
  t.equal(st.rx_dropped + st.rx_ring_full + st.rx_invalid_descs, 0, 'kernel dropped nothing');
  t.equal(tx.stats().tx_invalid_descs, 0);
  t.equal(s.inFlight, 0, 'every sent frame completed');
});

t.test('transmit through our XSK, received on the peer', async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  const poolA = testPool(t, TX_FRAMES);
  const poolB = testPool(t, RX_FRAMES);
  const ours = XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: poolA.buffer, rxSize: 2048, txSize: 2048 });
  t.teardown(() => ours.close());
  const peer = XskSocket.open({ ifname: v.ifB, netns: v.nsB, umem: poolB.buffer, rxSize: 4096, txSize: 0 });
  t.teardown(() => peer.close());
  const COUNT = 100_000;
  const r = new Receiver(peer, poolB, RX_FRAMES, COUNT);
  const s = new Sender(ours, poolA, TX_FRAMES, v.macB, v.macA, 1514);
  const { ms } = await pump(s, r, COUNT, 64, 64);
  t.comment(`tx: ${COUNT} x 1514 B in ${ms.toFixed(0)} ms = ${((COUNT / ms) * 1000 / 1e6).toFixed(3)} Mpps; kick errors ${ours.kickErrors}; stats ${JSON.stringify(ours.stats())}`);
  t.equal(r.received, COUNT, 'every frame arrived on the peer');
  t.equal(r.foreign, 0);
  t.equal(r.lastLen, 1514);
  t.equal(s.inFlight, 0, 'every frame completed');
  t.equal(ours.stats().tx_invalid_descs, 0);
});

t.test('modes: generic on request, zero-copy refused on veth with the reason, close detaches', async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  const pool = testPool(t, RX_FRAMES);
  const g = XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, xdp: 'generic' });
  t.equal(g.xdpMode, 'generic');
  t.equal(xdpOnLink(v.nsA, v.ifA), 'xdpgeneric', 'ip link shows the generic program');
  g.close();
  t.equal(g.closed, true);
  t.equal(xdpOnLink(v.nsA, v.ifA), 'none', 'close() detached the program');
  t.equal(g.fill.size, 8192);
  t.throws(() => g.fill.producer, TypeError, 'a closed socket\'s ring views are detached');
  g.close(); // idempotent
  // The queue is released by a kernel work item shortly after close(): openWhenFree waits for it.
  await t.rejects(
    XskSocket.openWhenFree({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, zeroCopy: 'force' }),
    { code: 'ENOTSUP', errno: -95, syscall: 'bind', message: /zero-copy/ },
    'forced zero-copy on veth: EOPNOTSUPP (uv calls it ENOTSUP), explained',
  );
  t.equal(xdpOnLink(v.nsA, v.ifA), 'none', 'a failed open leaves no program behind');
  const n = await XskSocket.openWhenFree({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, xdp: 'native' });
  t.equal(n.xdpMode, 'native');
  t.equal(n.xdpFallback, '');
  t.throws(
    () => XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, queue: 0 }),
    { syscall: 'bind', code: 'EBUSY' },
    'a second socket on the same queue: EBUSY',
  );
  n.close();
  t.equal(xdpOnLink(v.nsA, v.ifA), 'none');
});

t.test('errors name the cause and the fix', async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  const pool = testPool(t, 1024);
  t.throws(() => XskSocket.open({ ifname: 'nosuchif0', netns: v.nsA, umem: pool.buffer }), {
    code: 'ENODEV',
    syscall: 'if_nametoindex',
    message: /no interface named 'nosuchif0'/,
  });
  t.throws(() => XskSocket.open({ ifname: v.ifA, netns: 'phx-no-such-ns', umem: pool.buffer }), {
    code: 'ENOENT',
    message: /ip netns add/,
  });
  t.throws(() => XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, queue: 5 }), {
    code: 'EINVAL',
    syscall: 'bind',
    message: /queue 5 does not exist/,
  });
  t.throws(() => XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, fillSize: 1000 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, frames: 5000 }), { code: 'ERR_OUT_OF_RANGE', message: /whole frames/ });
  t.throws(() => XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer, rxSize: 0 }), { message: /xdp none/ });
  ip(['link', 'set', 'dev', v.ifA, 'down'], v.nsA);
  t.throws(() => XskSocket.open({ ifname: v.ifA, netns: v.nsA, umem: pool.buffer }), { code: 'ENETDOWN', message: /ip link set/ });
  t.equal(xdpOnLink(v.nsA, v.ifA), 'none', 'nothing left attached');
});
