// SPDX-License-Identifier: MIT
// afxdp.test.ts — the AF_XDP driver process on a real veth, net_uk's side played by an Uplink.
//
// A fresh namespace pair joined by a single-queue veth; the driver (drivers/afxdp, started by the
// supervisor with a fresh channel) owns end A; the test's own XSK socket owns end B and is the
// far side of the wire. Checks: every frame through in each direction, frames intact; the mode
// and the XSK ring counters published in the counters page; a killed driver leaves no XDP
// program; a stopped one hands every frame back. Needs root (skips with the reason; fails under
// CI=true); everything it makes is removed at teardown.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afxdpView, readAfxdpCounters } from '../../drivers/afxdp/counters.js';
import { DriverState } from '../../src/driver/channel.js';
import { startDriver, type DriverProcess } from '../../src/driver/supervisor.js';
import { Uplink } from '../../src/driver/uplink.js';
import { mapShared } from '../../src/native/index.js';
import { FRAME_BYTES } from '../../src/netback/pool.js';
import { XskSocket } from '../../src/xsk/socket.js';
import { needRoot, readFrame, vethPair, writeFrame, xdpOnLink, type Test, type VethPair } from '../xsk/netns.js';
import { Receiver, Sender, testPool } from '../xsk/traffic.js';
import { StandInHost } from './helpers.js';

const FRAMES = 16384; // 32 MiB pool: 4096 RX frames posted, the rest for TX

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

interface Rig {
  v: VethPair;
  host: StandInHost;
  driver: DriverProcess;
  uplink: Uplink;
  stdout: () => string;
}

async function startRig(t: Test, extra: string[] = []): Promise<Rig> {
  const v = vethPair(t);
  const runDir = mkdtempSync(join('/dev/shm', 'phx-afxdp-'));
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }));
  const poolPath = join(runDir, 'pool');
  const poolRegion = mapShared(poolPath, { create: true, size: FRAMES * FRAME_BYTES });
  t.teardown(() => poolRegion.close());
  const host = new StandInHost(poolRegion.buffer, FRAMES);
  const driver = startDriver({
    name: 'afxdp',
    poolPath,
    nFrames: FRAMES,
    runDir,
    rxEntries: 4096,
    txEntries: 1024,
    args: ['--ifname', v.ifA, '--netns', v.nsA, ...extra],
  });
  let out = '';
  driver.proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const uplink = new Uplink(host, driver.channel, driver.kick, driver.notify);
  t.teardown(async () => {
    uplink.close();
    await driver.close();
  });
  await until(() => !driver.alive || driver.channel.counter('state') === DriverState.sleeping || driver.channel.counter('state') === DriverState.polling, 'the driver to run', 30_000);
  if (!driver.alive) throw new Error(`afxdp driver died at start: ${driver.stderr()}`);
  uplink.start();
  return { v, host, driver, uplink, stdout: () => out };
}

t.test('the driver reports its modes and publishes the XSK counters', async (t) => {
  if (!needRoot(t)) return;
  const r = await startRig(t);
  await until(() => /copy mode/.test(r.stdout()), 'the mode line');
  t.match(r.stdout(), /afxdp: pxa\S+ q0: copy mode, native XDP \(prog \d+\)/, 'native XDP, copy mode, said on stdout');
  t.equal(xdpOnLink(r.v.nsA, r.v.ifA), 'xdp');
  const x = afxdpView(r.driver.channel.region.buffer, r.driver.channel.geometry.countersOffset);
  await until(() => (readAfxdpCounters(x)?.fillProd ?? 0) >= 4096, 'the fill ring stocked from RX requests');
  const c = readAfxdpCounters(x)!;
  t.equal(c.mode, 1 << 8, 'counters page: native XDP, not zero-copy');
  t.equal(c.queue, 0);
  t.ok(c.ifindex > 0);
  t.equal(r.driver.channel.counter('devRxPosted'), 4096, 'every posted RX frame is with the device');
  const hb = r.driver.channel.counter('heartbeat');
  await sleep(50);
  t.ok(r.driver.channel.counter('heartbeat') > hb, 'heartbeat moves while idle');
  t.ok(readAfxdpCounters(x)!.statsReads > 0, 'XDP statistics published');
});

t.test('wire → driver → net_uk: every frame, intact', async (t) => {
  if (!needRoot(t)) return;
  const r = await startRig(t);
  const peerPool = testPool(t, 4096);
  const peer = XskSocket.open({ ifname: r.v.ifB, netns: r.v.nsB, umem: peerPool.buffer, rxSize: 0, txSize: 2048, xdp: 'none' });
  t.teardown(() => peer.close());
  const COUNT = 100_000;
  const seen = new Uint8Array(COUNT);
  let good = 0;
  let bad = 0;
  r.host.onFrame = (buf, off, len) => {
    const seq = readFrame(buf, off, len);
    if (seq < 0 || seq >= COUNT || seen[seq] !== 0 || len !== 60) bad++;
    else {
      seen[seq] = 1;
      good++;
    }
  };
  const s = new Sender(peer, peerPool, 4096, r.v.macA, r.v.macB, 60);
  const t0 = performance.now();
  while (s.seq < COUNT) {
    // Moderate rate: never more than 1024 frames ahead of what net_uk has taken.
    if (s.seq - r.host.received < 1024) s.step(64, COUNT);
    await new Promise((res) => setImmediate(res));
  }
  await until(() => good + bad >= COUNT, `${COUNT} frames at net_uk (have ${good} + ${bad} bad)`, 20_000).catch(() => undefined);
  const ms = performance.now() - t0;
  const x = readAfxdpCounters(afxdpView(r.driver.channel.region.buffer, r.driver.channel.geometry.countersOffset))!;
  t.comment(`wire→net_uk: ${good} frames in ${ms.toFixed(0)} ms (${((good / ms) * 1000 / 1e6).toFixed(3)} Mpps); driver ${JSON.stringify(r.driver.channel.snapshot())}; xsk ${JSON.stringify(x)}; uplink ${JSON.stringify(r.uplink.status())}`);
  t.equal(good, COUNT, 'every frame reached net_uk');
  t.equal(bad, 0, 'none damaged, duplicated or foreign');
  t.equal(r.driver.channel.counter('devRxDropped'), 0, 'the device dropped nothing');
  t.ok(r.driver.channel.counter('devRxReceived') >= COUNT);
  t.equal(r.uplink.counter('bad_rx_frame') + r.uplink.counter('rx_bad_len'), 0, 'net_uk found every response valid');
});

t.test('net_uk → driver → wire: every frame, intact', async (t) => {
  if (!needRoot(t)) return;
  const r = await startRig(t);
  const peerPool = testPool(t, 8192);
  const peer = XskSocket.open({ ifname: r.v.ifB, netns: r.v.nsB, umem: peerPool.buffer, rxSize: 4096, txSize: 0 });
  t.teardown(() => peer.close());
  const COUNT = 100_000;
  const rx = new Receiver(peer, peerPool, 8192, COUNT);
  const pool = r.host.pool;
  let seq = 0;
  const t0 = performance.now();
  while (rx.received + rx.foreign + rx.duplicates < COUNT) {
    for (let i = 0; i < 64 && seq < COUNT && seq - rx.received < 1024; i++) {
      const f = pool.alloc();
      if (f < 0) break;
      writeFrame(pool.u8, pool.offset(f), 128, r.v.macB, r.v.macA, seq);
      pool.len[f] = 128;
      if (r.uplink.deliver(f)) seq++;
    }
    r.uplink.flush();
    rx.step();
    await new Promise((res) => setImmediate(res));
    if (performance.now() - t0 > 30_000) break;
  }
  const ms = performance.now() - t0;
  await until(() => r.driver.channel.counter('devTxPending') === 0, 'every completion', 5000).catch(() => undefined);
  t.comment(`net_uk→wire: ${rx.received} frames in ${ms.toFixed(0)} ms (${((rx.received / ms) * 1000 / 1e6).toFixed(3)} Mpps); driver ${JSON.stringify(r.driver.channel.snapshot())}; uplink ${JSON.stringify(r.uplink.status())}`);
  t.equal(rx.received, COUNT, 'every frame reached the peer');
  t.equal(rx.foreign + rx.duplicates, 0);
  t.equal(r.uplink.counter('tx_error') + r.uplink.counter('bad_tx_id'), 0, 'every TX answered ok');
  t.equal(r.driver.channel.counter('devTxPending'), 0, 'every frame completed');
  t.ok(r.driver.channel.counter('devTxCompleted') >= COUNT);
  t.equal(r.driver.channel.counter('badRequests'), 0);
});

t.test('a killed driver leaves no XDP program; a stopped one hands every frame back', async (t) => {
  if (!needRoot(t)) return;
  const r = await startRig(t);
  await until(() => r.driver.channel.counter('devRxPosted') === 4096, 'RX frames posted');
  r.driver.kill('SIGKILL');
  await r.driver.exited;
  await until(() => xdpOnLink(r.v.nsA, r.v.ifA) === 'none', 'the program to go with the process', 5000).catch(() => undefined);
  t.equal(xdpOnLink(r.v.nsA, r.v.ifA), 'none', 'the BPF link died with the process');

  const r2 = await startRig(t);
  await until(() => r2.driver.channel.counter('devRxPosted') === 4096, 'RX frames posted');
  const exit = await r2.driver.stop();
  t.same(exit, { code: 0, signal: null }, 'SIGTERM: clean exit');
  await until(() => r2.uplink.counter('rx_error') >= 4096, 'the RX frames handed back', 5000).catch(() => undefined);
  t.equal(r2.uplink.counter('rx_error'), 4096, 'every posted RX frame came back unused');
  t.equal(xdpOnLink(r2.v.nsA, r2.v.ifA), 'none');
});

t.test('a driver on a missing interface exits with the reason', async (t) => {
  if (!needRoot(t)) return;
  const v = vethPair(t);
  const runDir = mkdtempSync(join('/dev/shm', 'phx-afxdp-'));
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }));
  const poolPath = join(runDir, 'pool');
  const region = mapShared(poolPath, { create: true, size: 1024 * FRAME_BYTES });
  t.teardown(() => region.close());
  const d = startDriver({ name: 'afxdp', poolPath, nFrames: 1024, runDir, args: ['--ifname', 'nosuch0', '--netns', v.nsA] });
  t.teardown(() => d.close());
  const exit = await d.exited;
  t.equal(exit.code, 1);
  t.match(d.stderr(), /ENODEV.*no interface named 'nosuch0'/);
});
