// The uplink completes TCP/UDP checksums guests left blank (FF_CSUM_BLANK) before a frame goes on
// the TX ring, and counts what it cannot complete; frames without the flag are not touched.
// (test/driver/tap.test.ts shows a real kernel accepting the completed datagrams.)
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createChannel, openChannel } from '../../src/driver/channel.js';
import { Uplink } from '../../src/driver/uplink.js';
import { EventFd } from '../../src/native/index.js';
import { verifyL4Checksum } from '../../src/netback/checksum.js';
import { FF_CSUM_BLANK, FF_DATA_VALIDATED } from '../../src/netback/pool.js';
import { mac, udp, type L3 } from './frames.js';
import { StandInHost } from './helpers.js';

const FRAMES = 256;
const L: L3 = { dstMac: mac('02:00:00:00:00:01'), srcMac: mac('00:16:3e:00:00:02'), src: '10.0.0.2', dst: '10.0.0.1' };

t.test('blank checksums completed before the TX ring; failures counted; others untouched', async (t) => {
  const dir = mkdtempSync(join('/dev/shm', 'phx-upcs-'));
  const n = createChannel(join(dir, 'c'), { generation: 1, nFrames: FRAMES, txEntries: 64, rxEntries: 64 });
  const d = openChannel(join(dir, 'c'));
  const host = new StandInHost(new ArrayBuffer(FRAMES * 2048), FRAMES);
  const kick = EventFd.create();
  const notify = EventFd.create();
  const up = new Uplink(host, n, kick, notify);
  up.start();
  t.teardown(() => {
    up.close();
    kick.close();
    notify.close();
    n.close();
    d.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const pool = host.pool;
  const send = (build: (b: Uint8Array, o: number) => number, flags: number): number => {
    const f = pool.alloc();
    pool.len[f] = build(pool.u8, pool.offset(f));
    pool.flags[f] = flags;
    t.ok(up.deliver(f));
    return f;
  };
  // 1: blank UDP (partial sum only), odd payload length; 2: a test frame flagged blank (not IP);
  // 3: a wrong checksum without the flag (not ours to fix); 4: blank UDP with a bad IP length.
  const f1 = send((b, o) => udp(b, o, L, 1000, 2000, 1, 333, 'partial'), FF_CSUM_BLANK | FF_DATA_VALIDATED);
  const f2 = send((b, o) => {
    b.fill(0x11, o, o + 60);
    b[o + 12] = 0x88;
    b[o + 13] = 0xb5;
    return 60;
  }, FF_CSUM_BLANK);
  const f3 = send((b, o) => udp(b, o, L, 1000, 2000, 3, 100, 'wrong'), 0);
  const f4 = send((b, o) => {
    const len = udp(b, o, L, 1000, 2000, 4, 100, 'partial');
    b[o + 16] = 0x40; // IPv4 total length 16 K: beyond the frame
    return len;
  }, FF_CSUM_BLANK);
  t.equal(verifyL4Checksum(pool.u8, pool.offset(f1), pool.len[f1]!), true, 'blank UDP: checksum now valid');
  t.equal(pool.flags[f1]! & FF_CSUM_BLANK, 0, 'and no longer flagged blank');
  t.equal(pool.flags[f1]! & FF_DATA_VALIDATED, FF_DATA_VALIDATED, 'other flags kept');
  t.equal(pool.flags[f2]! & FF_CSUM_BLANK, FF_CSUM_BLANK, 'not IP: left flagged');
  t.equal(verifyL4Checksum(pool.u8, pool.offset(f3), pool.len[f3]!), false, 'an unflagged bad checksum is left alone');
  t.equal(up.counter('tx_csum_completed'), 1);
  t.equal(up.counter('tx_csum_failed'), 2, 'the non-IP frame and the inconsistent one');
  // All four still go on the TX ring (the wire decides about the rest).
  up.flush();
  t.equal(d.tx.readReqProd(), 4, 'every frame is on the TX ring');
  const req = new Int32Array(3);
  d.getTxRequest(0, req);
  t.same([req[0], req[1]], [f1, 34 + 8 + 333]);
});
