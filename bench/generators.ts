// SPDX-License-Identifier: MIT
// bench/generators.ts — the traffic generators of `phoenix bench path`: Debian's iperf3 and sockperf, guest → peer.
//
// Each function runs one measurement between two namespaces of a sandbox (our path or the kernel
// bridge path: both offer the same Endpoints) and returns numbers only; the commands are the same
// on both paths, so the comparison is like with like. Servers run in the peer namespace, clients
// in the guest namespace. A measurement that fails throws with the tool's stderr: numbers are
// never made up. Frame sizes are Ethernet frames as a veth carries them (no FCS): a 64-byte frame
// is 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 22 bytes of payload.
import type { ChildProcess, SpawnOptions } from 'node:child_process';

export interface Endpoints {
  guestNs: string;
  peerNs: string;
  peerIp: string;
  exec(netns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
}

/** Ethernet + IPv4 + UDP headers: a UDP payload of `frame - UDP_OVERHEAD` makes a `frame`-byte frame. */
export const UDP_OVERHEAD = 14 + 20 + 8;

export const IPERF3_PORT = 5201;
export const SOCKPERF_PORT = 11111;

export function udpPayloadFor(frameBytes: number): number {
  const l = frameBytes - UDP_OVERHEAD;
  if (!Number.isInteger(frameBytes) || l < 18 || frameBytes > 1514) throw new Error(`UDP frame size ${frameBytes}: 60..1514 bytes (iperf3 needs 18 bytes of payload at least)`);
  return l;
}

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run to completion (killed after timeoutMs). */
function finish(c: ChildProcess, timeoutMs: number): Promise<Done> {
  let stdout = '';
  let stderr = '';
  c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => {
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

/** A server in the peer namespace, ready once it printed `ready` (or after 2 s); stop() ends it. */
export interface Server {
  stop(): Promise<void>;
}

async function startServer(e: Endpoints, cmd: string, args: string[], ready: RegExp): Promise<Server> {
  const c = e.exec(e.peerNs, cmd, args);
  let out = '';
  await new Promise<void>((res, rej) => {
    const t = setTimeout(res, 2000); // some builds buffer their banner when piped
    const look = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(t);
        res();
      }
    };
    c.stdout?.on('data', look);
    c.stderr?.on('data', look);
    c.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`${cmd} server in ${e.peerNs} exited with ${code}: ${out.slice(-500)}${code === 127 || /not found/.test(out) ? ` (apt-get install ${cmd})` : ''}`));
    });
  });
  return {
    async stop() {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 1000);
      await gone;
      clearTimeout(t);
    },
  };
}

export const startIperf3Server = (e: Endpoints): Promise<Server> => startServer(e, 'iperf3', ['-s', '-p', String(IPERF3_PORT)], /Server listening/);
export const startSockperfServer = (e: Endpoints): Promise<Server> =>
  startServer(e, 'sockperf', ['sr', '-i', e.peerIp, '-p', String(SOCKPERF_PORT)], /using \w+\(\) to block|\[tid \d+\]/);

/** The client commands, as run in the guest namespace (reported in the JSON's "generators"). */
export function iperf3TcpArgs(peerIp: string, seconds: number): string[] {
  return ['-c', peerIp, '-p', String(IPERF3_PORT), '-t', String(seconds), '-C', 'cubic', '--json'];
}
export function iperf3UdpArgs(peerIp: string, seconds: number, frameBytes: number): string[] {
  return ['-c', peerIp, '-p', String(IPERF3_PORT), '-t', String(seconds), '-u', '-l', String(udpPayloadFor(frameBytes)), '-b', '0', '--json'];
}
export function sockperfArgs(peerIp: string, seconds: number): string[] {
  return ['pp', '-i', peerIp, '-p', String(SOCKPERF_PORT), '-t', String(seconds), '--full-rtt'];
}

/** Run a client in the guest namespace; one retry after 500 ms if the server was not listening yet. */
async function client(e: Endpoints, cmd: string, args: string[], seconds: number): Promise<string> {
  let last: Done | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 500));
    last = await finish(e.exec(e.guestNs, cmd, args), (seconds + 30) * 1000);
    if (last.code === 0) return last.stdout;
    if (!/refused|unable to connect|busy/i.test(last.stdout + last.stderr)) break;
  }
  const why = (last!.stderr + last!.stdout).trim().slice(-800);
  throw new Error(`\`ip netns exec ${e.guestNs} ${cmd} ${args.join(' ')}\` failed (exit ${last!.code}): ${why}`);
}

interface IperfSum {
  seconds: number;
  bytes: number;
  bits_per_second: number;
  packets?: number;
  lost_packets?: number;
}

function iperfReceived(stdout: string): IperfSum {
  let j: { end?: { sum_received?: IperfSum }; error?: string };
  try {
    j = JSON.parse(stdout) as typeof j;
  } catch {
    throw new Error(`iperf3 printed no JSON: ${stdout.slice(0, 300)}`);
  }
  if (j.error !== undefined) throw new Error(`iperf3: ${j.error}`);
  const r = j.end?.sum_received;
  if (r === undefined || !(r.seconds > 0)) throw new Error('iperf3 JSON has no end.sum_received (iperf3 3.9 or newer is needed)');
  return r;
}

/** TCP, one stream, cubic: Gbit/s the server received. */
export async function iperf3Tcp(e: Endpoints, seconds: number): Promise<number> {
  const r = iperfReceived(await client(e, 'iperf3', iperf3TcpArgs(e.peerIp, seconds), seconds));
  return r.bits_per_second / 1e9;
}

/** UDP at full speed (-b 0) with `frameBytes`-byte frames: packets/s the server received, and what the client sent. */
export async function iperf3Udp(e: Endpoints, seconds: number, frameBytes: number): Promise<{ pps: number; lost: number; sent: number }> {
  const r = iperfReceived(await client(e, 'iperf3', iperf3UdpArgs(e.peerIp, seconds, frameBytes), seconds));
  // The server's report: bytes it received (whole datagrams) and the sequence numbers it saw.
  const received = r.bytes / udpPayloadFor(frameBytes);
  return { pps: received / r.seconds, lost: r.lost_packets ?? 0, sent: r.packets ?? received };
}

/** sockperf ping-pong (UDP, blocking sockets): full round-trip percentiles in µs. */
export async function sockperfPingPong(e: Endpoints, seconds: number): Promise<{ p50: number; p99: number; p999: number; observations: number }> {
  // eslint-disable-next-line no-control-regex
  const out = (await client(e, 'sockperf', sockperfArgs(e.peerIp, seconds), seconds)).replace(/\x1b\[[0-9;]*m/g, '');
  const pct = (p: string): number => {
    const m = new RegExp(`percentile ${p.replace('.', '\\.')} =\\s*([0-9.]+)`).exec(out);
    if (m === null) throw new Error(`sockperf printed no ${p} percentile: ${out.slice(-600)}`);
    return Number(m[1]);
  };
  const obs = /Total (\d+) observations/.exec(out);
  return { p50: pct('50.000'), p99: pct('99.000'), p999: pct('99.900'), observations: obs !== null ? Number(obs[1]) : 0 };
}
