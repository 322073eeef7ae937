// SPDX-License-Identifier: MIT
// receiver.mjs — dom0 side of the bulk transfer: fetch the domU's blob over TCP, hash it, time it.
//
// Usage: node receiver.mjs HOST PORT [TIMEOUT_S]. Connects (retrying while the guest's
// `nc -l` restarts), reads to EOF, and prints one JSON line: bytes, sha256, seconds from the
// first byte to EOF, and the rate. Plain JavaScript: it runs in dom0 without a TypeScript step.
import { createConnection } from 'node:net';
import { createHash } from 'node:crypto';

const [host = '10.99.0.2', port = '5002', timeoutS = '120'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutS) * 1000;

function once() {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let first = 0;
    const s = createConnection({ host, port: Number(port) });
    s.setTimeout(Math.max(1000, deadline - Date.now()), () => s.destroy(new Error('timed out')));
    s.on('data', (b) => {
      if (bytes === 0) first = performance.now();
      bytes += b.length;
      hash.update(b);
    });
    s.on('error', reject);
    s.on('end', () => {
      const seconds = (performance.now() - first) / 1000;
      resolve({ bytes, sha256: hash.digest('hex'), seconds, MBps: bytes / 1048576 / seconds });
      s.destroy();
    });
  });
}

for (;;) {
  try {
    const r = await once();
    if (r.bytes === 0 && Date.now() < deadline) throw new Error('empty transfer');
    console.log(`PHX-TRANSFER ${JSON.stringify(r)}`);
    process.exit(0);
  } catch (e) {
    if (Date.now() > deadline) {
      console.log(`PHX-TRANSFER ${JSON.stringify({ error: String(e.message ?? e) })}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
