// SPDX-License-Identifier: MIT
// bench/afxdp-driver.ts — the afxdp driver process end to end on a veth: net_uk ↔ channel ↔ driver ↔ wire.
//
// Usage (root): node --import=@tapjs/typescript/import bench/afxdp-driver.ts [--seconds 3] [--len 64]
// net_uk's side is a real Uplink over a PacketPool in this process; the driver is started by the
// supervisor on end A of a fresh veth; end B is an XSK socket.
//   rx  a child process (bench/xsk-veth.ts --role sender) blasts frames at A; reports frames/s
//       that reached net_uk, and what was lost where (kernel, driver).
//   tx  this process delivers frames to the uplink as fast as the channel takes them; B's XSK
//       never reads (drops in XDP); reports completions/s.
// Namespaces, files and processes are removed at exit.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDriver } from '../src/driver/supervisor.js';
import { Uplink, type UplinkHost } from '../src/driver/uplink.js';
import { mapShared } from '../src/native/index.js';
import { FRAME_BYTES, PacketPool } from '../src/netback/pool.js';
import type { Port } from '../src/netback/service.js';
import { XskSocket } from '../src/xsk/socket.js';

const { values: v } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, len: { type: 'string', default: '64' } } });
const seconds = Number(v.seconds);
const len = Number(v.len);
const FRAMES = 16384;

const tag = `${process.pid % 100000}`;
const nsA = `phx-dbench-${tag}-a`;
const nsB = `phx-dbench-${tag}-b`;
const ifA = `pda${tag}`;
const ifB = `pdb${tag}`;
const runDir = mkdtempSync(join('/dev/shm', 'phx-dbench-'));
const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8' });
process.on('exit', () => {
  for (const ns of [nsA, nsB]) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone
    }
  }
  rmSync(runDir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));
for (const ns of [nsA, nsB]) {
  ip('netns', 'add', ns);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
}
ip('link', 'add', ifA, 'netns', nsA, 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB, 'numtxqueues', '1', 'numrxqueues', '1');
ip('-n', nsA, 'link', 'set', ifA, 'up');
ip('-n', nsB, 'link', 'set', ifB, 'up');
const mac = (ns: string, i: string): string => /link\/ether (\S+)/.exec(ip('-n', ns, 'link', 'show', i))![1]!;
const macA = mac(nsA, ifA);
const macB = mac(nsB, ifB);

class Host implements UplinkHost {
  readonly pool: PacketPool;
  received = 0;
  first = 0;
  last = 0;
  constructor(buffer: ArrayBuffer) {
    this.pool = new PacketPool(buffer, FRAMES);
  }
  attachPort(p: Port): void {
    p.port = 1;
  }
  detachPort(): void {}
  ingress(_from: Port, frame: number): number {
    if (this.received++ === 0) this.first = performance.now();
    this.last = performance.now();
    this.pool.release(frame);
    return 1;
  }
  flush(): void {}
}

const poolPath = join(runDir, 'pool');
const poolRegion = mapShared(poolPath, { create: true, size: FRAMES * FRAME_BYTES });
const host = new Host(poolRegion.buffer);
const driver = startDriver({ name: 'afxdp', poolPath, nFrames: FRAMES, runDir, rxEntries: 4096, txEntries: 1024, args: ['--ifname', ifA, '--netns', nsA] });
let line = '';
driver.proc.stdout?.on('data', (d: Buffer) => (line += d.toString()));
const uplink = new Uplink(host, driver.channel, driver.kick, driver.notify);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
while (driver.alive && !/afxdp:/.test(line)) await sleep(10);
if (!driver.alive) throw new Error(`driver died: ${driver.stderr()}`);
uplink.start();
console.log(line.trim());

// ---- rx
{
  const sender = fileURLToPath(new URL('./xsk-veth.ts', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, sender, '--role', 'sender', '--ifname', ifB, '--netns', nsB, '--dst', macA, '--seconds', String(seconds), '--len', String(len)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let sent = '';
  child.stdout.on('data', (d: Buffer) => (sent += d.toString()));
  await new Promise((r) => child.on('exit', r));
  const got0 = host.received;
  await sleep(200);
  const ms = host.last - host.first;
  const c = driver.channel.snapshot();
  console.log(
    `rx ${len} B wire→net_uk: ${((host.received / ms) * 1000 / 1e6).toFixed(3)} Mpps (${host.received} of ${sent.trim()} sent; ${host.received - got0} after the sender stopped; ` +
      `device dropped ${c.devRxDropped}; driver busy passes ${c.busyPasses}, sleeps ${c.sleeps})`,
  );
}

// ---- tx
{
  const sink = mapShared(join(runDir, 'sink'), { create: true, size: 64 * FRAME_BYTES });
  const peer = await XskSocket.openWhenFree({ ifname: ifB, netns: nsB, umem: sink.buffer, rxSize: 64, txSize: 0, fillSize: 64 });
  peer.fillFrames(new Uint32Array(64).map((_, i) => i), 0, 64);
  const dst = Uint8Array.from(macB.split(':').map((h) => parseInt(h, 16)));
  const pool = host.pool;
  const before = driver.channel.counter('devTxCompleted');
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let delivered = 0;
  while (performance.now() < end) {
    const { tx, backlog } = uplink.inFlight;
    for (let i = 0; i < 256 && tx + backlog + i < 1024; i++) {
      const f = pool.alloc();
      if (f < 0) break;
      const o = pool.offset(f);
      pool.u8.set(dst, o);
      pool.u8[o + 12] = 0x88;
      pool.u8[o + 13] = 0xb5;
      pool.len[f] = len;
      if (uplink.deliver(f)) delivered++;
    }
    uplink.flush();
    await new Promise((r) => setImmediate(r));
  }
  const ms = performance.now() - t0;
  const done = driver.channel.counter('devTxCompleted') - before;
  const ps = peer.stats();
  console.log(
    `tx ${len} B net_uk→wire: ${((done / ms) * 1000 / 1e6).toFixed(3)} Mpps (${done} completed of ${delivered} delivered in ${ms.toFixed(0)} ms; ` +
      `peer dropped ${ps.rx_ring_full + ps.rx_dropped} in XDP; uplink tx_error ${uplink.counter('tx_error')})`,
  );
  peer.close();
  sink.close();
}
uplink.close();
await driver.close();
poolRegion.close();
