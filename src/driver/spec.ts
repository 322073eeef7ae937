// SPDX-License-Identifier: MIT
// spec.ts — parse an uplink spec `DRIVER[:key=val,...]` into a driver name and its arguments.
//
// `phoenix serve --uplink afxdp:ifname=veth0,queue=0,netns=ns1` starts drivers/afxdp with
// `--ifname veth0 --queue 0 --netns ns1`. Every driver's accepted keys are listed here (the
// driver's own parseArgs is the authority; this table lets serve refuse a typo before anything
// is started, with an error naming what is accepted). Values may not contain ','; a key may
// appear once. Channel geometry per driver lives here too (afxdp wants a deep RX ring).

export interface DriverInfo {
  /** One line for --help. */
  summary: string;
  /** Accepted keys → one-line meaning. */
  keys: Record<string, string>;
  /** Keys that must be given. */
  required: string[];
  /** Driver channel ring sizes and RX frames kept posted (a fraction of the pool, capped). */
  txEntries: number;
  rxEntries: number;
  /** At most this share of the pool is posted to the driver for receiving. */
  rxPoolShare: number;
}

const POLL_KEYS = {
  'spin-us': 'adaptive polling: keep polling this long (µs) after the last work (default 50)',
  'tick-ms': 'heartbeat tick while asleep (default 10)',
};

export const DRIVERS: Record<string, DriverInfo> = {
  sim: {
    summary: 'in-memory NIC (tests); its wire is a file a SimPeer reads and writes',
    keys: { peer: 'the wire file of the sim peer (default: none, frames sent are discarded)', ...POLL_KEYS },
    required: [],
    txEntries: 1024,
    rxEntries: 4096,
    rxPoolShare: 0.25,
  },
  afxdp: {
    summary: 'AF_XDP socket on a Linux interface queue, the pool as its UMEM',
    keys: {
      ifname: 'the interface (required)',
      queue: 'its queue id (default 0)',
      netns: 'network namespace the interface is in (default: this one)',
      xdp: 'auto | native | generic (default auto)',
      'zero-copy': 'auto | force | never (default auto)',
      fill: 'fill ring entries (default 8192, at least the RX ring)',
      budget: 'descriptors per ring per pass (default 64)',
      'stats-ms': 'XDP_STATISTICS refresh period (default 50)',
      ...POLL_KEYS,
    },
    required: ['ifname'],
    txEntries: 2048,
    // 8K frames on the fill ring, or receive drops whenever the process loses the CPU a moment.
    rxEntries: 8192,
    rxPoolShare: 0.5,
  },
  tap: {
    summary: 'a Linux TAP device (hosts without XDP)',
    keys: {
      ifname: 'TAP name (required; created if missing, at most 15 characters)',
      netns: 'move the TAP into this network namespace once made (default: stay here)',
      up: 'bring the link up: 1 (default) or 0',
      budget: 'frames per direction per pass (default 64)',
      'stats-ms': 'refresh of the kernel statistics of the TAP (ip -s link; default 1000, 0 never)',
      ...POLL_KEYS,
    },
    required: ['ifname'],
    txEntries: 1024,
    rxEntries: 4096,
    rxPoolShare: 0.25,
  },
};

export interface UplinkSpec {
  driver: string;
  /** key → value, in the order given. */
  params: Record<string, string>;
  /** ['--key', 'val', ...] for the driver process. */
  args: string[];
  info: DriverInfo;
}

/** The accepted forms, for error messages and --help. */
export function uplinkUsage(): string {
  return Object.entries(DRIVERS)
    .map(([name, d]) => `${name}:${Object.keys(d.keys).map((k) => `${k}=…`).join(',')}${d.required.length > 0 ? ` (${d.required.join(', ')} required)` : ''}`)
    .join('; ');
}

/** Parse `DRIVER[:key=val,...]`; throws with what is accepted. */
export function parseUplinkSpec(text: string): UplinkSpec {
  const colon = text.indexOf(':');
  const driver = colon < 0 ? text : text.slice(0, colon);
  const info = DRIVERS[driver];
  if (info === undefined) throw new Error(`--uplink ${JSON.stringify(text)}: unknown driver "${driver}"; drivers: ${Object.keys(DRIVERS).join(', ')} (${uplinkUsage()})`);
  const params: Record<string, string> = {};
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  for (const item of rest === '' ? [] : rest.split(',')) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (eq < 0 || key === '') throw new Error(`--uplink ${driver}: "${item}" is not key=value (${driver} takes ${Object.keys(info.keys).join(', ')})`);
    if (!(key in info.keys)) throw new Error(`--uplink ${driver}: unknown key "${key}"; ${driver} takes ${Object.keys(info.keys).join(', ')}`);
    if (key in params) throw new Error(`--uplink ${driver}: key "${key}" given twice`);
    const val = item.slice(eq + 1);
    if (val === '') throw new Error(`--uplink ${driver}: key "${key}" has an empty value`);
    params[key] = val;
  }
  for (const k of info.required) if (!(k in params)) throw new Error(`--uplink ${driver}: ${k}=… is required (e.g. --uplink ${driver}:${k}=NAME)`);
  const args = Object.entries(params).flatMap(([k, val]) => [`--${k}`, val]);
  return { driver, params, args, info };
}
