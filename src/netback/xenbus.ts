// SPDX-License-Identifier: MIT
// xenbus.ts — XenbusState values and the validated reading of frontend-written xenstore keys.
//
// Everything under the frontend's directory is written by the guest: each value is parsed with a
// strict pattern and a bound before use (reference/xen-netif.md §3.3), and a bad value is a
// handshake error with the key named, never an exception that reaches the process.
import type { XenstoreClient } from '../transport/xenstore/client.js';

export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];

export class HandshakeError extends Error {
  readonly code = 'EHANDSHAKE';
}

/** Parse a decimal u32 as Xen writes grant refs, ports and ids; undefined if absent. */
export function parseU32(key: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,9})$/.test(v) || Number(v) > 0xffffffff) throw new HandshakeError(`${key}: "${v.slice(0, 32)}" is not an unsigned 32-bit decimal`);
  return Number(v);
}

export function parseState(v: string | undefined): number {
  if (v === undefined) return XenbusState.Unknown;
  const n = /^[0-8]$/.test(v) ? Number(v) : NaN;
  return Number.isNaN(n) ? XenbusState.Unknown : n;
}

/** A boolean feature flag: "1" on, absent or "0" off; anything else is an error. */
export function parseFlag(key: string, v: string | undefined): boolean {
  if (v === undefined || v === '0') return false;
  if (v === '1') return true;
  throw new HandshakeError(`${key}: "${v.slice(0, 32)}" is not 0 or 1`);
}

export interface FrontendConfig {
  txRingRef: number;
  rxRingRef: number;
  /** One shared channel, or split tx/rx channels. */
  evtchnTx: number;
  evtchnRx: number;
  split: boolean;
  rxNotify: boolean;
  sg: boolean;
}

/** Read and check what the frontend wrote for a single-queue connection (talk_to_netback). */
export async function readFrontendConfig(xs: XenstoreClient, fe: string): Promise<FrontendConfig> {
  const r = (k: string): Promise<string | undefined> => xs.read(`${fe}/${k}`);
  const queues = parseU32('multi-queue-num-queues', await r('multi-queue-num-queues'));
  if (queues !== undefined && queues !== 1) throw new HandshakeError(`multi-queue-num-queues: ${queues} requested, this backend offers 1 (multi-queue-max-queues not advertised)`);
  const txRingRef = parseU32('tx-ring-ref', await r('tx-ring-ref'));
  const rxRingRef = parseU32('rx-ring-ref', await r('rx-ring-ref'));
  if (txRingRef === undefined || rxRingRef === undefined) throw new HandshakeError('tx-ring-ref/rx-ring-ref missing');
  const shared = parseU32('event-channel', await r('event-channel'));
  const tx = parseU32('event-channel-tx', await r('event-channel-tx'));
  const rx = parseU32('event-channel-rx', await r('event-channel-rx'));
  let evtchnTx: number;
  let evtchnRx: number;
  let split = false;
  if (shared !== undefined) {
    evtchnTx = evtchnRx = shared;
  } else if (tx !== undefined && rx !== undefined) {
    evtchnTx = tx;
    evtchnRx = rx;
    split = true;
  } else throw new HandshakeError('event-channel (or event-channel-tx and event-channel-rx) missing');
  if (!parseFlag('request-rx-copy', await r('request-rx-copy'))) throw new HandshakeError('request-rx-copy is not 1: this backend only does rx-copy (as Linux netback)');
  return {
    txRingRef,
    rxRingRef,
    evtchnTx,
    evtchnRx,
    split,
    rxNotify: parseFlag('feature-rx-notify', await r('feature-rx-notify')),
    sg: parseFlag('feature-sg', await r('feature-sg')),
  };
}

/** Feature keys this backend advertises in its own directory before InitWait. */
export const BACKEND_FEATURES: Record<string, string> = {
  'feature-sg': '1',
  'feature-rx-copy': '1',
  'feature-rx-flip': '0',
  'feature-split-event-channels': '1',
  'feature-gso-tcpv4': '0',
  'feature-gso-tcpv6': '0',
  'feature-ipv6-csum-offload': '0',
  'feature-multicast-control': '0',
  'feature-dynamic-multicast-control': '0',
};
