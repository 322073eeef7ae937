// SPDX-License-Identifier: MIT
// counters.ts — per-vif counters as typed-array slots, read at scrape time (never counter.inc()).
//
// The names below are the metric label values and the JSON keys of `phoenix` status output.
// Direction follows the guest: "tx" is guest → backend, "rx" is backend → guest.
export const VIF_COUNTERS = [
  'tx_packets',
  'tx_bytes',
  'rx_packets',
  'rx_bytes',
  'tx_error', // a packet answered NETIF_RSP_ERROR (malformed but not fatal, grant failure)
  'tx_too_big', // larger than a pool frame
  'tx_runt', // first slot shorter than an Ethernet header
  'tx_too_many_slots', // more than 18 follow-on slots (dropped, not fatal)
  'tx_gso_unsupported',
  'tx_mcast_ctrl',
  'tx_no_destination', // the switch had nowhere to send it
  'rx_queue_full', // guest-bound frame dropped: the vif's RX queue was at its bound (XSA-392)
  'rx_stalled', // guest-bound frame dropped: the vif posted no RX buffers for the stall timeout
  'rx_not_connected',
  'rx_error', // a grant copy into the guest failed
  'pool_exhausted', // TX paused because the pool had no free frame
  'backpressure', // TX paused because a destination queue was over its soft bound
  'notify_tx',
  'notify_rx',
  'events',
  'fatal',
] as const;

export type VifCounter = (typeof VIF_COUNTERS)[number];
export const C = Object.fromEntries(VIF_COUNTERS.map((n, i) => [n, i])) as { readonly [K in VifCounter]: number };

export function newCounters(): Float64Array {
  return new Float64Array(VIF_COUNTERS.length);
}

export function countersToObject(c: Float64Array): Record<VifCounter, number> {
  const o = {} as Record<VifCounter, number>;
  VIF_COUNTERS.forEach((n, i) => (o[n] = c[i]!));
  return o;
}
