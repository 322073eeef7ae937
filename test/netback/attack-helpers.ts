// SPDX-License-Identifier: MIT
// attack-helpers.ts — shared scenes for the hostile-frontend tests: two good guests and a bad one.
import type { Test } from 'tap';
import { buildFrame, TrafficChecker } from '../guest/traffic.js';
import type { TestNetfront } from '../guest/netfront.js';
import { startHost, until, type Host } from './harness.js';

export const MAC1 = '00:16:3e:00:00:01';
export const MAC2 = '00:16:3e:00:00:02';
export const MAC_BAD = '00:16:3e:00:00:0b';
export const BAD = 11;

export interface Scene {
  h: Host;
  g1: TestNetfront;
  g2: TestNetfront;
  bad: TestNetfront;
  /** TX responses the bad guest has reaped: [id, status] per slot, extras included. */
  rsp: [number, number][];
  be: string;
}

export async function scene(t: Test, opts: { rxStallMs?: number } = {}): Promise<Scene> {
  const h = await startHost(opts);
  t.teardown(() => h.close());
  const g1 = await h.addGuest(1, MAC1);
  const g2 = await h.addGuest(2, MAC2);
  const bad = await h.addGuest(BAD, MAC_BAD);
  const rsp: [number, number][] = [];
  bad.onTxResponse = (id, st) => void rsp.push([id, st]);
  return { h, g1, g2, bad, rsp, be: `/local/domain/0/backend/vif/${BAD}/0` };
}

let nextFlow = 100;

/** g1 → g2: n verified frames arrive, in order, none lost. */
export async function goodTrafficFlows(t: Test, s: Scene | Scene2, n = 300): Promise<void> {
  const flow = nextFlow++;
  const chk = new TrafficChecker();
  s.g2.onFrame = (buf, off, len) => chk.check(buf, off, len);
  const frame = new Uint8Array(2048);
  let seq = 0;
  await until(() => {
    while (seq < n && s.g1.txSpace >= 2) {
      const len = 60 + ((seq * 37) % 1400);
      buildFrame(frame, 0, s.g2.mac, s.g1.mac, flow, seq++, len);
      s.g1.send(frame, 0, len);
    }
    s.g1.flushTx();
    s.g1.poll();
    s.g2.poll();
    return (chk.flows.get(flow)?.received ?? 0) >= n;
  }, `g1 → g2 flow ${flow}: ${n} frames`, 20_000);
  const f = chk.flows.get(flow)!;
  t.same({ received: f.received, bad: f.bad, gaps: f.gaps, reordered: f.reordered }, { received: n, bad: 0, gaps: 0, reordered: 0 }, 'other guests keep their traffic');
}

/** Reap the bad guest's responses until `k` slots answered. */
export async function responses(s: Scene, k: number): Promise<[number, number][]> {
  await until(() => {
    s.bad.poll();
    return s.rsp.length >= k;
  }, `${k} TX responses for the bad guest`);
  return s.rsp.splice(0, s.rsp.length);
}

/** Put a valid frame (to g2) into the TX page of the next slot id; returns its bytes. */
export function stageFrame(s: Scene, len: number, offset = 0): Uint8Array {
  const f = new Uint8Array(Math.max(len, 32));
  buildFrame(f, 0, s.g2.mac, s.bad.mac, 999, 0, f.length);
  s.bad.writeTxPage(s.bad.peekTxId(), offset, f);
  return f;
}

/** The backend disabled the bad vif for `reason`, logged it, wrote an error node and went Closing. */
export async function assertFatal(t: Test, s: Scene, reason: RegExp): Promise<void> {
  await until(() => s.h.nb.vif(BAD, 0)?.disabled === true, 'bad vif disabled');
  const v = s.h.nb.vif(BAD, 0)!;
  t.match(v.fatalReason, reason, 'fatal reason names the violation');
  t.equal(s.h.nb.status().find((x) => x.domid === BAD)?.counters.fatal, 1, 'fatal counted');
  await until(async () => (await s.h.xs0.read(`${s.be}/state`)) === '5', 'backend state Closing');
  t.match(await s.h.xs0.read(`${s.be}/error`), /^fatal: /, 'error node written');
  t.ok(s.h.log.lines.some((l) => l.level === 'error' && typeof l.reason === 'string' && reason.test(l.reason)), 'logged with its reason');
  t.notOk(s.h.nb.vif(1, 0)?.disabled, 'guest 1 untouched');
  t.notOk(s.h.nb.vif(2, 0)?.disabled, 'guest 2 untouched');
}

export function counter(s: Scene, domid: number, name: string): number {
  const v = s.h.nb.status().find((x) => x.domid === domid);
  return (v?.counters as Record<string, number> | undefined)?.[name] ?? NaN;
}

export interface Scene2 {
  h: Host;
  g1: TestNetfront;
  g2: TestNetfront;
  be: string;
}

/** Two good guests only; the test brings its own (hand-written) bad frontend. */
export async function scene2(t: Test, opts: { rxStallMs?: number } = {}): Promise<Scene2> {
  const h = await startHost(opts);
  t.teardown(() => h.close());
  const g1 = await h.addGuest(1, MAC1);
  const g2 = await h.addGuest(2, MAC2);
  return { h, g1, g2, be: `/local/domain/0/backend/vif/${BAD}/0` };
}
