// SPDX-License-Identifier: MIT
// tapmode.ts — `phoenix netfront --tap NAME [--netns NS]`: the guest's network stack is Linux's.
//
// The TAP is created here, in this process's namespace (the addon opens /dev/net/tun where it
// runs), then moved into NS with `ip link set NAME netns NS` — the open fd keeps working across
// the move. It gets the vif's MAC (so what Linux sends as the TAP's address is what the switch
// learns for the vif), IPv6 autoconfiguration stays as the namespace has it, and the link goes
// up; --addr gives it an IPv4 address. The TAP disappears when this process closes its fd.
// The bridge runs until SIGTERM/SIGINT, until stdin reaches EOF when it is a pipe, or until the
// parent process dies (the sandbox that started us is gone), then prints its counters.
import { execFileSync } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { openTap } from '../../src/native/index.js';
import type { TestNetfront } from './netfront.js';
import { TapBridge, type TapLike } from './tapbridge.js';

function ip(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`phoenix netfront: \`ip ${args.join(' ')}\` failed: ${(err.stderr ?? err.message).trim()} (root/CAP_NET_ADMIN and iproute2 are needed; does the namespace exist? \`ip netns add NS\`)`);
  }
}

/** Create TAP `name`, move it into `netns` (if given), give it `mac` (and `addr`), bring it up. */
export function openGuestTap(o: { name: string; netns?: string; mac: string; addr?: string }): TapLike {
  if (o.name === '' || o.name.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(o.name)) throw new Error(`phoenix netfront: --tap ${JSON.stringify(o.name)}: an interface name of 1..15 letters, digits, '-', '_' or '.'`);
  let tap: TapLike;
  try {
    tap = openTap(o.name);
  } catch (e) {
    throw new Error(`phoenix netfront: cannot create TAP ${o.name}: ${(e as Error).message}`);
  }
  try {
    const n = o.netns !== undefined ? ['-n', o.netns] : [];
    if (o.netns !== undefined) ip(['link', 'set', 'dev', o.name, 'netns', o.netns]);
    ip([...n, 'link', 'set', 'dev', o.name, 'address', o.mac]);
    ip([...n, 'link', 'set', 'dev', o.name, 'up']);
    if (o.addr !== undefined) ip([...n, 'addr', 'add', o.addr, 'brd', '+', 'dev', o.name]);
  } catch (e) {
    tap.close();
    throw e;
  }
  return tap;
}

/** Bridge until told to stop; resolves with the bridge's counters. */
export async function runTapBridge(nf: TestNetfront, tap: TapLike, o: { spinUs: number; out: (o: object) => void }): Promise<TapBridge> {
  const bridge = new TapBridge(nf, tap, { spinUs: o.spinUs });
  bridge.start();
  o.out({ event: 'bridging', tap: tap.name, pid: process.pid });
  const parent = process.ppid;
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      clearInterval(orphan);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.stdin.off('end', stop);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (stdinIsPipe()) {
      process.stdin.on('end', stop);
      process.stdin.on('error', stop);
      process.stdin.resume();
    }
    // Reparented: whoever started us died without stopping us.
    const orphan = setInterval(() => {
      if (process.ppid !== parent) stop();
    }, 500);
  });
  bridge.close();
  return bridge;
}

function stdinIsPipe(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}
