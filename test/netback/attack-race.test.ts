// Double fetch (XSA-155): a guest rewrites its TX slots from another thread while the backend
// consumes them. The backend copies each slot once and uses only the copy, so whatever value it
// happened to read is the value it checked and used: the process survives, every frame that
// reaches guest 2 is exactly one of the sizes that were ever valid and intact, a size read as
// hostile makes the vif fatal for the right reason, and the other guests keep their traffic.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import { until } from './harness.js';
import { BAD, goodTrafficFlows, scene } from './attack-helpers.js';

const addonPath = resolve(import.meta.dirname, '../../build/Release/phoenix.node');

// The flipper: maps the guest's memory itself and toggles the `size` field of every TX slot
// between 60 (valid) and 5000 (crosses the page) until told to stop.
const FLIPPER = `
const { workerData, parentPort } = require('node:worker_threads');
const addon = require(workerData.addon);
const m = new addon.Mapping(workerData.mem, 0, 0);
const dv = new DataView(m.buffer);
let stop = false, n = 0;
parentPort.on('message', () => { stop = true; });
function burst() {
  for (let k = 0; k < 20000; k++) {
    const slot = workerData.ring + 64 + (k & 255) * 12;
    dv.setUint16(slot + 10, (k & 1) ? 5000 : 60, true);
    n++;
  }
  if (stop) { parentPort.postMessage(n); m.close(); } else setImmediate(burst);
}
burst();
`;

t.test('TX slots rewritten while the backend reads them', async (t) => {
  const s = await scene(t);
  const memPath = `${s.h.runDir}/dom${BAD}`;
  const worker = new Worker(FLIPPER, { eval: true, workerData: { addon: addonPath, mem: memPath, ring: s.bad.tx.sring.u8.byteOffset } });
  t.teardown(() => worker.terminate());
  const chk = new TrafficChecker();
  const sizes = new Map<number, number>();
  s.g2.onFrame = (b, o, l) => {
    sizes.set(l, (sizes.get(l) ?? 0) + 1);
    chk.check(b, o, l);
  };
  const f = new Uint8Array(60);
  let seq = 0;
  // Send until the vif dies of a size it read as 5000, or 20000 frames went through.
  await until(() => {
    if (s.h.nb.vif(BAD, 0)?.disabled) return true;
    while (seq < 20000 && s.bad.txSpace > 0) {
      buildFrame(f, 0, s.g2.mac, s.bad.mac, 9, seq++, 60);
      s.bad.send(f, 0, 60);
    }
    s.bad.flushTx();
    s.bad.poll();
    s.g2.poll();
    return seq >= 20000 && s.bad.stats.txOk + s.bad.stats.txErr >= seq;
  }, 'the race ran its course', 60_000);
  const flips = await new Promise<number>((res) => {
    worker.once('message', res);
    worker.postMessage('stop');
  });
  t.ok(flips > 0, `the flipper rewrote slots ${flips} times`);
  for (const len of sizes.keys()) t.equal(len, 60, 'every delivered frame has a size that was valid when read');
  t.equal(chk.total().bad, 0, 'and is intact');
  const v = s.h.nb.vif(BAD, 0)!;
  if (v.disabled) t.match(v.fatalReason, /crosses a page boundary/, 'a hostile read is fatal for the right reason');
  else t.comment('the backend happened to read only valid sizes');
  await goodTrafficFlows(t, s);
});
