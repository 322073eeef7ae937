// SPDX-License-Identifier: MIT
// drivers/sim/main.ts — the sim driver: an in-memory NIC with a peer, run as its own process.
//
// Usage: node drivers/sim/main.(ts|js) --channel PATH --pool PATH [--peer PATH] [--spin-us N] [--tick-ms N]
// with the kick/notify eventfds at fds 3 and 4 (docs/driver-channel.md). It speaks only the
// driver channel (src/driver/channel.ts) and imports nothing else of net_uk.
//
// The device: TX requests are taken into a device queue (bounded, like a NIC's descriptor ring)
// and "sent" by copying the frame onto the wire (the peer file; without --peer the wire is a
// sink), then completed in order. RX requests give the device free frames; frames on the wire
// are received into them in order. Fault hooks come from the header's control word (Control in
// channel.ts): hang, slow (100x), crash, corrupt a TX id / an RX frame index, device stop.
// Adaptive polling: passes back to back while there is work, for spinUs after the last work,
// then the rings' events are armed and the loop sleeps on fd 3; a tick (tickMs) keeps the
// heartbeat going while asleep and retries a device that was busy.
import { parseArgs } from 'node:util';
import { ControlWord, stopWithParent } from '../common/lifecycle.js';
import { EventFd } from '../../src/native/index.js';
import { Control, DRIVER_FD_KICK, DRIVER_FD_NOTIFY, DriverState, mapPool, openChannel, ST_ERROR, ST_OK } from '../../src/driver/channel.js';
import { SimWire } from './peer.js';

const { values: v } = parseArgs({
  options: {
    channel: { type: 'string' },
    pool: { type: 'string' },
    peer: { type: 'string' },
    'spin-us': { type: 'string', default: '50' },
    'tick-ms': { type: 'string', default: '10' },
  },
});
if (v.channel === undefined || v.pool === undefined) {
  process.stderr.write('sim driver: --channel PATH and --pool PATH are required\n');
  process.exit(2);
}

const ch = openChannel(v.channel);
const poolRegion = mapPool(v.pool, ch.nFrames, ch.frameBytes);
const pool = new Uint8Array(poolRegion.buffer, 0, ch.nFrames * ch.frameBytes);
const wire = v.peer !== undefined ? SimWire.open(v.peer) : null;
const kick = EventFd.fromFd(DRIVER_FD_KICK);
const notify = EventFd.fromFd(DRIVER_FD_NOTIFY);
const spinMs = Number(v['spin-us']) / 1000;
const tickMs = Number(v['tick-ms']);
const nFrames = ch.nFrames;
const frameBytes = ch.frameBytes;

ch.set('pid', process.pid);
ch.set('generation', ch.generation);
ch.set('state', DriverState.polling);

// Device state: TX descriptors taken from the channel, RX free frames, in order.
const DEV_TX = 256;
const devTxId = new Uint16Array(DEV_TX);
const devTxFrame = new Uint32Array(DEV_TX);
const devTxLen = new Uint16Array(DEV_TX);
let devTxHead = 0;
let devTxCount = 0;
const DEV_RX = ch.rx.size;
const devRxFrame = new Uint32Array(DEV_RX);
let devRxHead = 0;
let devRxCount = 0;

const req = new Int32Array(3);
let corruptTx = false;
let corruptRx = false;
let deviceStopped = false;
const control = new ControlWord(ch, (c) => {
  if (c === Control.corruptTxId) corruptTx = true;
  if (c === Control.corruptRxFrame) corruptRx = true;
  deviceStopped = c === Control.deviceStop;
});

/** One pass over both rings and the device; returns whether anything moved. */
function pass(): boolean {
  const budget = control.slow ? 1 : 64;
  let work = 0;
  // Driver: take TX requests into the device queue.
  const tx = ch.tx;
  const txProd = tx.readReqProd();
  if (!tx.requestProdOverflow(txProd)) {
    while (work < budget && tx.reqCons !== txProd && devTxCount < DEV_TX && !tx.requestConsOverflow(tx.reqCons)) {
      ch.getTxRequest(tx.reqCons, req);
      tx.reqCons = tx.reqCons + 1;
      const [frame, len, id] = [req[0]!, req[1]!, req[2]!];
      if (frame < 0 || frame >= nFrames || len < 1 || len > frameBytes || (wire !== null && len > 2044)) {
        ch.bump('badRequests');
        ch.putTxResponse(id, ST_ERROR);
      } else {
        const slot = (devTxHead + devTxCount) % DEV_TX;
        devTxId[slot] = id;
        devTxFrame[slot] = frame;
        devTxLen[slot] = len;
        devTxCount++;
      }
      work++;
    }
  }
  // Driver: take RX free frames into the device.
  const rx = ch.rx;
  const rxProd = rx.readReqProd();
  if (!rx.requestProdOverflow(rxProd)) {
    while (work < budget * 2 && rx.reqCons !== rxProd && devRxCount < DEV_RX && !rx.requestConsOverflow(rx.reqCons)) {
      ch.getRxRequest(rx.reqCons, req);
      rx.reqCons = rx.reqCons + 1;
      const frame = req[0]!;
      if (frame < 0 || frame >= nFrames) {
        ch.bump('badRequests');
        ch.putRxResponse(frame, 0, ST_ERROR);
      } else {
        devRxFrame[(devRxHead + devRxCount) % DEV_RX] = frame;
        devRxCount++;
      }
      work++;
    }
  }
  if (!deviceStopped) {
    // Device: send and complete, in order.
    let sent = 0;
    while (sent < budget && devTxCount > 0) {
      const id = devTxId[devTxHead]!;
      const f = devTxFrame[devTxHead]!;
      if (wire !== null && !wire.send(pool, f * frameBytes, devTxLen[devTxHead]!)) break;
      devTxHead = (devTxHead + 1) % DEV_TX;
      devTxCount--;
      ch.putTxResponse(corruptTx ? 0xffff : id, ST_OK);
      corruptTx = false;
      ch.bump('devTxCompleted');
      sent++;
    }
    // Device: receive from the wire into free frames, in order.
    let got = 0;
    while (wire !== null && got < budget && devRxCount > 0) {
      const len = wire.peekLength();
      if (len < 0) break;
      if (len < 1 || len > frameBytes) {
        wire.skip();
        ch.bump('devRxDropped');
        continue;
      }
      const f = devRxFrame[devRxHead]!;
      devRxHead = (devRxHead + 1) % DEV_RX;
      devRxCount--;
      wire.take(pool, f * frameBytes, len);
      ch.putRxResponse(corruptRx ? nFrames + 7 : f, len, ST_OK);
      corruptRx = false;
      ch.bump('devRxReceived');
      got++;
    }
    work += sent + got;
  }
  ch.set('txReqCons', tx.reqCons);
  ch.set('rxReqCons', rx.reqCons);
  ch.set('devTxPending', devTxCount);
  ch.set('devRxPosted', devRxCount);
  const a = tx.pushResponses();
  const b = rx.pushResponses();
  if (a || b) notify.signal();
  return work > 0;
}

let scheduled = false;
let asleep = false;
let lastWork = performance.now();

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  if (control.slow) setTimeout(run, 1);
  else setImmediate(run);
}

function run(): void {
  scheduled = false;
  if (control.read()) {
    // Hung: no progress, no heartbeat; look at the control word now and then so a test can resume us.
    setTimeout(run, 20);
    scheduled = true;
    return;
  }
  asleep = false;
  ch.bump('heartbeat');
  ch.set('state', DriverState.polling);
  const now = performance.now();
  if (pass()) {
    ch.bump('busyPasses');
    lastWork = now;
    schedule();
    return;
  }
  if (now - lastWork < spinMs) {
    schedule();
    return;
  }
  // Idle: arm every event we sleep on, then re-check (ring.h's final check).
  const t = ch.tx.finalCheckForRequests();
  const r = ch.rx.finalCheckForRequests();
  const w = wire !== null && wire.finalCheck();
  if (t || r || w) {
    schedule();
    return;
  }
  asleep = true;
  ch.set('state', DriverState.sleeping);
  ch.bump('sleeps');
}

kick.watch(() => {
  if (!asleep) return;
  ch.bump('wakeups');
  asleep = false;
  schedule();
});
// Tick: heartbeat while asleep, retry a busy/stopped device, and a net against a lost wake-up.
setInterval(() => {
  if (asleep && !scheduled) {
    asleep = false;
    schedule();
  }
}, tickMs);

const stop = (): void => {
  ch.set('state', DriverState.stopping);
  process.exit(0);
};
stopWithParent(stop);
schedule();
