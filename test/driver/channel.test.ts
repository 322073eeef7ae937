// The driver channel's layout: geometry, header, both ends' codecs, validation on open.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHANNEL_MAGIC, channelGeometry, COUNTER_SLOTS, createChannel, H_CONTROL, H_COUNTERS_OFFSET, H_MAGIC, H_N_FRAMES, H_RX_SIZE, H_TX_OFFSET, H_TX_SIZE, K, openChannel, ST_ERROR, ST_OK,
} from '../../src/driver/channel.js';

t.test('geometry: multi-page rings of the sizes DESIGN asks for', async (t) => {
  const g = channelGeometry(1024, 4096);
  t.same(g, { txSize: 1024, rxSize: 4096, txOffset: 4096, txBytes: 12288, rxOffset: 16384, rxBytes: 36864, countersOffset: 53248, totalBytes: 57344 });
  t.equal(channelGeometry(1, 1).txSize, 256, 'one page holds 256 8-byte slots');
  t.equal(channelGeometry(2048, 8192).rxSize, 8192);
  t.throws(() => channelGeometry(1000, 4096), /power of two/);
  t.equal(Object.keys(K).length, COUNTER_SLOTS, 'every counter slot named');
});

t.test('createChannel / openChannel: header, rings, codecs both ways', async (t) => {
  const dir = mkdtempSync(join('/dev/shm', 'phx-chan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'c');
  const n = createChannel(path, { generation: 7, nFrames: 512 });
  const d = openChannel(path);
  t.teardown(() => (n.close(), d.close()));
  t.equal(n.u32[H_MAGIC >> 2], CHANNEL_MAGIC);
  t.equal(d.u32[H_TX_SIZE >> 2], 1024);
  t.equal(d.u32[H_RX_SIZE >> 2], 4096);
  t.equal(d.u32[H_N_FRAMES >> 2], 512);
  t.equal(d.u32[H_COUNTERS_OFFSET >> 2], 53248);
  t.equal(d.generation, 7);
  t.equal(d.frameBytes, 2048);
  t.equal(d.tx.size, 1024);
  t.equal(d.rx.size, 4096);

  // TX: request from net_uk, response from the driver, across the ring's page boundary too.
  n.tx.reqProdPvt = n.tx.rspCons = 1020;
  d.tx.reqCons = d.tx.rspProdPvt = 1020;
  n.tx.sring.reqProd = 1020;
  n.tx.sring.rspProd = 1020;
  n.tx.sring.rspEvent = 1021; // as finalCheckForResponses would arm it
  const got = new Int32Array(3);
  for (let i = 0; i < 10; i++) n.putTxRequest(100 + i, 60 + i, 500 + i);
  n.tx.pushRequests();
  t.equal(d.tx.readReqProd(), 1030);
  for (let i = 0; i < 10; i++) {
    d.getTxRequest(d.tx.reqCons, got);
    d.tx.reqCons = d.tx.reqCons + 1;
    t.same([...got], [100 + i, 60 + i, 500 + i], `TX request ${i}`);
    d.putTxResponse(got[2]!, i === 3 ? ST_ERROR : ST_OK);
  }
  t.ok(d.tx.pushResponses(), 'driver notifies: net_uk armed rsp_event');
  for (let i = 0; i < 10; i++) {
    n.getTxResponse(n.tx.rspCons, got);
    n.tx.rspCons = n.tx.rspCons + 1;
    t.same([got[0], got[1]], [500 + i, i === 3 ? ST_ERROR : ST_OK]);
  }

  // RX: free frame from net_uk, filled frame back in the same slot.
  n.putRxRequest(42, 42);
  n.rx.pushRequests();
  d.getRxRequest(d.rx.reqCons, got);
  t.same([got[0], got[1]], [42, 42]);
  d.rx.reqCons = d.rx.reqCons + 1;
  d.putRxResponse(42, 1514, ST_OK);
  d.rx.pushResponses();
  n.getRxResponse(0, got);
  t.same([...got], [42, 1514, ST_OK]);

  // Counters and control.
  d.set('pid', 1234);
  d.bump('heartbeat');
  d.bump('heartbeat');
  t.equal(n.counter('pid'), 1234);
  t.equal(n.snapshot().heartbeat, 2);
  n.setControl(2, 9);
  t.equal(d.control, 2);
  t.equal(d.controlArg, 9);
  t.equal(d.u32[H_CONTROL >> 2], 2);
});

t.test('openChannel refuses what is not a channel', async (t) => {
  const dir = mkdtempSync(join('/dev/shm', 'phx-chan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const junk = join(dir, 'junk');
  writeFileSync(junk, Buffer.alloc(8192));
  t.throws(() => openChannel(junk), /bad magic/);
  const path = join(dir, 'c');
  const n = createChannel(path, { generation: 1, nFrames: 64, txEntries: 256, rxEntries: 256 });
  n.u32[H_TX_OFFSET >> 2] = 8192;
  t.throws(() => openChannel(path), /geometry/);
  n.close();
});
