// SPDX-License-Identifier: MIT
// suite.ts — the end-to-end checks through a path sandbox, the same for every uplink driver.
//
// Two guests (Linux stacks on TAPs behind test netfronts) and a peer namespace behind the uplink
// driver. Checked with real programs: ARP (arping) and broadcast across vifs and uplink, ping
// both ways with zero loss (guest↔peer and guest↔guest through the switch), iperf3 TCP and UDP
// in both directions, and a sequence-numbered UDP stream (fixtures/udpseq.mjs) received
// complete and in order at a moderate rate. No timing is asserted: rates are only reported.
import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import { listNetns, pidAlive, shmDirsOf } from '../../src/sandbox/netns.js';
import { buildPathSandbox, type PathDriver, type PathSandbox } from '../../src/sandbox/path.js';
import { canRun, lastJson, pingStats, runIn, startIn, UDPSEQ, waitListening } from './helpers.js';

const node = process.execPath;

async function ping(t: Test, sb: PathSandbox, ns: string, to: string, what: string): Promise<void> {
  const r = await runIn(sb, ns, 'ping', ['-c', '20', '-i', '0.02', '-W', '5', '-q', to]);
  const s = pingStats(r.stdout);
  t.equal(s.sent, 20, `${what}: 20 echo requests sent`);
  t.equal(s.received, 20, `${what}: every echo answered (zero loss)`, { out: r.stdout + r.stderr });
}

/** A UDP stream from `fromNs` to `to` received in `toNs`: every datagram, in order. */
async function udpStream(t: Test, sb: PathSandbox, fromNs: string, toNs: string, to: string, port: number, what: string, o: { count?: number; pps?: number; size?: number } = {}): Promise<void> {
  const count = o.count ?? 2000;
  const rx = await startIn(sb, toNs, node, [UDPSEQ, 'recv', '--port', String(port), '--count', String(count), '--idle-ms', '5000'], /"listening"/);
  const tx = await runIn(sb, fromNs, node, [UDPSEQ, 'send', '--to', to, '--port', String(port), '--count', String(count), '--pps', String(o.pps ?? 1000), '--size', String(o.size ?? 512)], 60_000);
  const sent = lastJson(tx.stdout, 'sent');
  t.same(sent !== undefined ? { count: sent.count, errors: sent.errors } : tx, { count, errors: 0 }, `${what}: ${count} datagrams sent`);
  const done = lastJson((await rx.done).stdout, 'done');
  t.ok(done, `${what}: receiver reported`);
  if (done === undefined) return;
  t.equal(done.received, count, `${what}: every datagram received`);
  t.equal(done.inOrder, count, `${what}: all in order`);
  t.equal(done.gaps, 0, `${what}: no gap`);
  t.equal(done.reordered, 0, `${what}: no reordering or duplicate`);
  t.equal(done.bad, 0, `${what}: nothing malformed`);
  t.comment(`${what}: ${count} datagrams at ${o.pps ?? 1000}/s in ${String(sent?.ms)} ms`);
}

interface IperfEnd {
  sum_sent?: { bytes: number; retransmits?: number };
  sum_received?: { bytes: number };
  sum?: { bytes: number; packets: number; lost_packets: number; lost_percent: number };
}

/** Kernel drop counters in a namespace: UDP receive-buffer overflows and every link's TX/RX drops. */
async function kernelDrops(sb: PathSandbox, ns: string): Promise<{ rcvbuf: number; links: Record<string, number> }> {
  const snmp = (await runIn(sb, ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const rcvbuf = snmp.length === 2 ? Number(snmp[1]!.split(/\s+/)[snmp[0]!.split(/\s+/).indexOf('RcvbufErrors')]) : NaN;
  const links: Record<string, number> = {};
  const js = JSON.parse((await runIn(sb, ns, 'ip', ['-s', '-j', 'link', 'show'])).stdout || '[]') as { ifname: string; stats64?: { rx: { dropped: number }; tx: { dropped: number } } }[];
  for (const l of js) if (l.ifname !== 'lo') links[l.ifname] = (l.stats64?.rx.dropped ?? 0) + (l.stats64?.tx.dropped ?? 0);
  return { rcvbuf, links };
}

async function iperf(t: Test, sb: PathSandbox, fromNs: string, toNs: string, to: string, port: number, udp: boolean, what: string): Promise<void> {
  const before = udp ? await Promise.all([kernelDrops(sb, fromNs), kernelDrops(sb, toNs)]) : undefined;
  const server = sb.exec(toNs, 'iperf3', ['-s', '-1', '-p', String(port)], { stdio: 'ignore' });
  await waitListening(sb, toNs, port);
  const args = ['-c', to, '-p', String(port), '-t', '2', '-J', ...(udp ? ['-u', '-b', '20M', '-l', '1400'] : [])];
  const r = await runIn(sb, fromNs, 'iperf3', args, 30_000);
  server.kill('SIGTERM');
  let end: IperfEnd | undefined;
  try {
    end = (JSON.parse(r.stdout) as { end?: IperfEnd }).end;
  } catch {
    end = undefined;
  }
  t.equal(r.code, 0, `${what}: iperf3 ran`, { stderr: r.stderr, stdout: r.stdout.slice(-2000) });
  if (end === undefined) {
    t.fail(`${what}: no iperf3 JSON result`);
    return;
  }
  if (!udp) {
    const rx = end.sum_received?.bytes ?? 0;
    t.ok(rx > 1_000_000, `${what}: the receiver got data (${rx} bytes)`);
    t.comment(`${what}: ${((rx * 8) / 2 / 1e6).toFixed(0)} Mbit/s, ${end.sum_sent?.retransmits ?? '?'} retransmits`);
  } else {
    const s = end.sum;
    t.ok(s !== undefined && s.packets > 1000, `${what}: datagrams were sent (${s?.packets})`);
    // Loss at 20 Mbit/s on a shared 2-core machine is reported, and only gross loss fails.
    t.ok(s !== undefined && s.lost_percent < 20, `${what}: most datagrams arrived (lost ${s?.lost_packets}/${s?.packets})`);
    // Where the losses happened, as the kernels counted them (receiver socket, TAP queues, veth).
    const after = await Promise.all([kernelDrops(sb, fromNs), kernelDrops(sb, toNs)]);
    const delta = (i: number): string => {
      const b = before![i]!, a = after[i]!;
      const links = Object.entries(a.links).map(([k, v]) => `${k} ${v - (b.links[k] ?? 0)}`).join(', ');
      return `socket rcvbuf ${a.rcvbuf - b.rcvbuf}, link drops: ${links}`;
    };
    const counted = [0, 1].reduce((sum, i) => sum + (after[i]!.rcvbuf - before![i]!.rcvbuf) + Object.entries(after[i]!.links).reduce((x, [k, v]) => x + v - (before![i]!.links[k] ?? 0), 0), 0);
    // Towards the peer every drop point is a kernel's (the guest's TAP queue, the peer's socket):
    // a loss no kernel counted vanished in the backend. Towards a guest the afxdp driver may also
    // drop, counted in its own counters (printed at the end), so there it is only reported.
    if (toNs === sb.peer.netns) t.ok(s !== undefined && s.lost_packets <= counted, `${what}: every lost datagram was counted by a kernel (socket buffer or link), none vanished in the backend path`, { lost: s?.lost_packets, counted });
    t.comment(`${what}: ${s?.packets} datagrams, lost ${s?.lost_packets} (${s?.lost_percent.toFixed(2)}%); sender side: ${delta(0)}; receiver side: ${delta(1)}`);
  }
}

function macOf(out: string): string {
  return /link\/ether ([0-9a-f:]{17})/.exec(out)?.[1] ?? '?';
}

export function pathSuite(t: Test, driver: PathDriver): void {
  t.test(`guests ↔ peer through the backend and the ${driver} uplink`, { timeout: 240_000 }, async (t) => {
    if (!canRun(t, ['ip', 'ping', 'arping', 'iperf3', 'ss', 'ethtool'])) return;
    const sb = await buildPathSandbox({ driver, guests: 2, prefix: 'phx-e2e' });
    t.teardown(() => sb.close());
    const [g0, g1] = [sb.guests[0]!, sb.guests[1]!];
    const peer = sb.peer;
    t.comment(`sandbox: ${JSON.stringify({ guests: sb.guests.map((g) => g.netns), peer: peer.netns, driver })}`);

    await t.test('ARP across vif and uplink', async (t) => {
      const peerMac = macOf((await runIn(sb, peer.netns, 'ip', ['link', 'show', 'dev', peer.ifname])).stdout);
      for (const [ns, dev, to, mac, what] of [
        [peer.netns, peer.ifname, g0.ip, g0.mac, 'peer asks for guest 0'],
        [g0.netns, g0.ifname, peer.ip, peerMac, 'guest 0 asks for the peer'],
        [g0.netns, g0.ifname, g1.ip, g1.mac, 'guest 0 asks for guest 1'],
      ] as const) {
        await runIn(sb, ns, 'ip', ['neigh', 'flush', 'dev', dev]);
        const r = await runIn(sb, ns, 'arping', ['-c', '1', '-w', '10', '-I', dev, to]);
        const replies = [...r.stdout.matchAll(/reply from [0-9.]+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase());
        t.ok(replies.length >= 1, `${what}: answered`, { out: r.stdout + r.stderr });
        t.ok(replies.length > 0 && replies.every((m) => m === mac), `${what}: the answer names ${mac}`, { replies });
      }
    });

    await t.test('broadcast reaches every vif and the uplink', async (t) => {
      const bcast = g0.ip.replace(/\.\d+$/, '.255');
      const rxPeer = await startIn(sb, peer.netns, node, [UDPSEQ, 'recv', '--port', '7100', '--count', '50', '--idle-ms', '4000'], /"listening"/);
      const rxG1 = await startIn(sb, g1.netns, node, [UDPSEQ, 'recv', '--port', '7100', '--count', '50', '--idle-ms', '4000'], /"listening"/);
      await runIn(sb, g0.netns, node, [UDPSEQ, 'send', '--to', bcast, '--port', '7100', '--count', '50', '--pps', '500', '--broadcast']);
      for (const [rx, who] of [[rxPeer, 'peer'], [rxG1, 'guest 1']] as const) {
        const d = lastJson((await rx.done).stdout, 'done');
        t.equal(d?.received, 50, `guest 0's broadcasts reach the ${who}`);
      }
      const rxG0 = await startIn(sb, g0.netns, node, [UDPSEQ, 'recv', '--port', '7101', '--count', '50', '--idle-ms', '4000'], /"listening"/);
      const rxG1b = await startIn(sb, g1.netns, node, [UDPSEQ, 'recv', '--port', '7101', '--count', '50', '--idle-ms', '4000'], /"listening"/);
      await runIn(sb, peer.netns, node, [UDPSEQ, 'send', '--to', bcast, '--port', '7101', '--count', '50', '--pps', '500', '--broadcast']);
      for (const [rx, who] of [[rxG0, 'guest 0'], [rxG1b, 'guest 1']] as const) {
        const d = lastJson((await rx.done).stdout, 'done');
        t.equal(d?.received, 50, `the peer's broadcasts reach ${who}`);
      }
    });

    await t.test('ping both ways, zero loss', async (t) => {
      await ping(t, sb, g0.netns, peer.ip, 'guest 0 → peer');
      await ping(t, sb, peer.netns, g0.ip, 'peer → guest 0');
      await ping(t, sb, peer.netns, g1.ip, 'peer → guest 1');
      await ping(t, sb, g0.netns, g1.ip, 'guest 0 → guest 1 (switch)');
      await ping(t, sb, g1.netns, g0.ip, 'guest 1 → guest 0 (switch)');
    });

    await t.test('sequence-numbered UDP streams: complete and in order', async (t) => {
      await udpStream(t, sb, g0.netns, peer.netns, peer.ip, 7200, 'guest 0 → peer');
      await udpStream(t, sb, peer.netns, g0.netns, g0.ip, 7201, 'peer → guest 0');
      await udpStream(t, sb, g0.netns, g1.netns, g1.ip, 7202, 'guest 0 → guest 1');
    });

    await t.test('iperf3 TCP', async (t) => {
      await iperf(t, sb, g0.netns, peer.netns, peer.ip, 5301, false, 'TCP guest → peer');
      await iperf(t, sb, peer.netns, g0.netns, g0.ip, 5302, false, 'TCP peer → guest');
    });

    await t.test('iperf3 UDP', async (t) => {
      await iperf(t, sb, g0.netns, peer.netns, peer.ip, 5303, true, 'UDP guest → peer');
      await iperf(t, sb, peer.netns, g0.netns, g0.ip, 5304, true, 'UDP peer → guest');
    });

    const up = sb.serve.lines.find((l) => l.event === 'ready')?.uplink as { pid?: number } | undefined;
    const pids = [sb.servePid, ...sb.netfronts.map((h) => h.pid), ...(up?.pid !== undefined ? [up.pid] : [])];
    const dirs = [sb.runDir, ...shmDirsOf(pids)];
    await sb.close();
    const ns = new Set(listNetns());
    t.same([...sb.guests.map((g) => g.netns), peer.netns].filter((n) => ns.has(n)), [], 'close(): every namespace removed');
    t.same(dirs.filter((d) => existsSync(d)), [], 'close(): run directory and backend pool files removed');
    t.same(pids.filter(pidAlive), [], 'close(): backend, driver and netfront processes gone');
    // What the processes counted (for a failure's post-mortem as much as for the asserts below).
    const st = sb.serve.lines.filter((l) => l.event === 'status').at(-1) as { vifs?: { vif: string; counters: object }[]; uplink?: { counters: object } } | undefined;
    for (const v of st?.vifs ?? []) t.comment(`${v.vif}: ${JSON.stringify(v.counters)}`);
    t.comment(`uplink: ${JSON.stringify(st?.uplink?.counters)}`);
    for (const h of sb.netfronts) t.comment(`netfront: ${JSON.stringify(h.lines.find((l) => l.event === 'done'))}`);
    // The netfronts' own accounting: nothing refused by the kernel, nothing malformed.
    for (const [i, h] of sb.netfronts.entries()) {
      const done = h.lines.find((l) => l.event === 'done') as { tap?: { tapWriteDropped: number; tapBadLen: number }; tx?: { txErr: number } } | undefined;
      t.ok(done, `netfront ${i} reported its counters`);
      t.equal(done?.tap?.tapWriteDropped, 0, `netfront ${i}: no frame refused by its TAP`);
      t.equal(done?.tap?.tapBadLen, 0, `netfront ${i}: no oversized frame from its TAP`);
      t.equal(done?.tx?.txErr, 0, `netfront ${i}: the backend accepted every TX request`);
    }
  });
}
