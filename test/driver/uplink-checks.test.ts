// The Uplink against a hand-driven driver end in this process: every impossible response is
// counted, none crashes net_uk, and every frame goes back to the pool on close.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createChannel, openChannel, ST_ERROR, ST_OK, type DriverChannel } from '../../src/driver/channel.js';
import { Uplink } from '../../src/driver/uplink.js';
import { EventFd } from '../../src/native/index.js';
import { StandInHost } from './helpers.js';

const FRAMES = 256;

function rig(t: Test, opts: { backlog?: number; txEntries?: number } = {}): { host: StandInHost; up: Uplink; d: DriverChannel; faults: string[] } {
  const dir = mkdtempSync(join('/dev/shm', 'phx-upc-'));
  const n = createChannel(join(dir, 'c'), { generation: 1, nFrames: FRAMES, txEntries: opts.txEntries ?? 256, rxEntries: 256 });
  const d = openChannel(join(dir, 'c'));
  const host = new StandInHost(new ArrayBuffer(FRAMES * 2048), FRAMES);
  const kick = EventFd.create();
  const notify = EventFd.create();
  const faults: string[] = [];
  const up = new Uplink(host, n, kick, notify, { ...(opts.backlog !== undefined ? { backlog: opts.backlog } : {}), onFault: (r) => void faults.push(r) });
  up.start();
  t.teardown(() => {
    up.close();
    kick.close();
    notify.close();
    n.close();
    d.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { host, up, d, faults };
}

function sendOne(host: StandInHost, up: Uplink, len = 60): number {
  const f = host.pool.alloc();
  host.pool.len[f] = len;
  host.pool.u8.fill(0xab, host.pool.offset(f), host.pool.offset(f) + len);
  up.deliver(f);
  return f;
}

t.test('the RX ring is stocked with free frames, and RX responses are checked', async (t) => {
  const { host, up, d } = rig(t);
  const posted = d.rx.readReqProd();
  t.equal(posted, FRAMES / 4, 'a quarter of the pool posted');
  t.equal(host.pool.free, FRAMES - posted);
  const req = new Int32Array(3);
  const frames: number[] = [];
  for (let i = 0; i < 5; i++) {
    d.getRxRequest(d.rx.reqCons, req);
    d.rx.reqCons = d.rx.reqCons + 1;
    frames.push(req[0]!);
  }
  d.putRxResponse(frames[0]!, 100, ST_OK); // good
  d.putRxResponse(FRAMES + 3, 100, ST_OK); // outside the pool
  d.putRxResponse(frames[0]!, 100, ST_OK); // not posted (any more)
  d.putRxResponse(frames[1]!, 5, ST_OK); // runt
  d.putRxResponse(frames[2]!, 0, ST_ERROR); // returned unused
  d.rx.pushResponses();
  t.ok(up.poll());
  t.equal(host.received, 1, 'one frame into the switch');
  const s = up.status();
  t.equal(s.rx_packets, 1);
  t.equal(s.bad_rx_frame, 2, 'out of range + not posted');
  t.equal(s.rx_bad_len, 1);
  t.equal(s.rx_error, 1);
  t.equal(up.faultReason, undefined);
  t.equal(d.rx.readReqProd(), posted + 3, 'the three frames that came back were re-posted');
});

t.test('TX: ids in flight, bad ids, errors, backlog and its bound', async (t) => {
  const { host, up, d } = rig(t, { backlog: 4 });
  const size = d.tx.size;
  for (let i = 0; i < size + 6; i++) sendOne(host, up);
  up.flush();
  t.equal(d.tx.readReqProd(), size, 'the ring is full');
  t.equal(up.inFlight.backlog, 4);
  t.equal(up.counter('tx_backlog_full'), 2, 'beyond the backlog: dropped and counted');
  const req = new Int32Array(3);
  d.getTxRequest(0, req);
  d.tx.reqCons = 1;
  d.putTxResponse(req[2]!, ST_OK);
  d.putTxResponse(60000, ST_OK); // never sent
  d.putTxResponse(req[2]!, ST_OK); // answered twice
  d.tx.pushResponses();
  up.poll();
  t.equal(up.counter('bad_tx_id'), 2);
  t.equal(up.inFlight.tx, size, 'one completed, one backlog frame took its place');
  t.equal(up.inFlight.backlog, 3);
  d.getTxRequest(1, req);
  d.putTxResponse(req[2]!, ST_ERROR);
  d.tx.pushResponses();
  up.poll();
  t.equal(up.counter('tx_error'), 1);
  t.equal(up.counter('tx_bad_len'), 0);
  const f = host.pool.alloc();
  host.pool.len[f] = 3000;
  t.notOk(up.deliver(f), 'a length beyond the frame is refused');
  t.equal(up.counter('tx_bad_len'), 1);
});

t.test('an impossible rsp_prod stops the uplink with a fault, without throwing', async (t) => {
  const { host, up, d, faults } = rig(t);
  sendOne(host, up);
  up.flush();
  d.tx.rspProdPvt = 50; // 50 responses for 1 request
  d.tx.publishResponses();
  t.doesNotThrow(() => up.poll());
  t.equal(faults.length, 1);
  t.match(up.faultReason, /TX rsp_prod 50/);
  t.equal(up.counter('bad_rsp_prod'), 1);
  t.notOk(up.deliver(host.pool.alloc()), 'a faulted uplink takes no frames');
  t.equal(up.counter('tx_down'), 1);
  up.close();
  t.equal(host.pool.free, FRAMES, 'close gave every frame back to the pool');
});
