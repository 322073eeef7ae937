// SPDX-License-Identifier: MIT
// l2switch.ts — an L2 learning bridge: source-MAC learning, unicast by learned MAC, flooding.
//
// The switch decides, it does not move bytes: forward() reads the 14-byte Ethernet header of a
// frame the caller already copied out of guest memory (never a shared page), learns the source,
// and fills `out` with destination port numbers. Broadcast, multicast and unknown unicast flood to
// every port but the ingress. Learned entries age out after `agingMs` without traffic; a MAC
// seen on another port moves (station moved). Multicast/broadcast source MACs are never learned.
// MACs are keyed as a 48-bit number (hi16 * 2^32 + lo32) so no string is made per packet.
// Ports are small integers chosen by the caller; `uplink` ports (see addPort) are ordinary ports
// as far as forwarding goes. Counters are plain numbers read at scrape time.

export interface SwitchStats {
  learned: number;
  moved: number;
  flooded: number;
  unicast: number;
  filtered: number; // destination learned on the ingress port itself: not sent back
  aged: number;
}

interface Entry {
  port: number;
  seenMs: number;
}

export class L2Switch {
  readonly agingMs: number;
  readonly stats: SwitchStats = { learned: 0, moved: 0, flooded: 0, unicast: 0, filtered: 0, aged: 0 };
  private readonly table = new Map<number, Entry>();
  private ports: number[] = [];
  private nowMs: () => number;

  constructor(opts: { agingMs?: number; now?: () => number } = {}) {
    this.agingMs = opts.agingMs ?? 300_000; // IEEE 802.1D default: 300 s
    this.nowMs = opts.now ?? (() => performance.now());
  }

  addPort(port: number): void {
    if (!Number.isInteger(port) || port < 0) throw new RangeError(`switch port must be a non-negative integer, got ${port}`);
    if (this.ports.includes(port)) throw new Error(`switch port ${port} already exists`);
    this.ports = [...this.ports, port];
  }

  /** Remove a port and forget every MAC learned on it. */
  removePort(port: number): void {
    this.ports = this.ports.filter((p) => p !== port);
    for (const [mac, e] of this.table) if (e.port === port) this.table.delete(mac);
  }

  get portList(): readonly number[] {
    return this.ports;
  }

  get tableSize(): number {
    return this.table.size;
  }

  /** The port a MAC was learned on, if any and not aged. */
  lookup(mac: number): number | undefined {
    const e = this.table.get(mac);
    if (e === undefined) return undefined;
    if (this.nowMs() - e.seenMs > this.agingMs) return undefined;
    return e.port;
  }

  /**
   * Decide where a frame goes. `frame[off..off+len)` must be a private copy; len ≥ 14.
   * Writes destination ports into `out` and returns how many (0: drop). `nowMs` lets a caller
   * pass a clock it already read for this batch (reading the clock per packet is not free).
   */
  forward(ingress: number, frame: Uint8Array, off: number, len: number, out: Int32Array, nowMs?: number): number {
    if (len < 14) return 0;
    const now = nowMs ?? this.nowMs();
    // Learn the source unless it is a group address (I/G bit of the first octet).
    if ((frame[off + 6]! & 1) === 0) {
      const src = macAt(frame, off + 6);
      const e = this.table.get(src);
      if (e === undefined) {
        this.table.set(src, { port: ingress, seenMs: now });
        this.stats.learned++;
      } else {
        if (e.port !== ingress) {
          e.port = ingress;
          this.stats.moved++;
        }
        e.seenMs = now;
      }
    }
    if ((frame[off]! & 1) === 0) {
      const e = this.table.get(macAt(frame, off));
      if (e !== undefined) {
        if (now - e.seenMs <= this.agingMs) {
          if (e.port === ingress) {
            this.stats.filtered++;
            return 0;
          }
          this.stats.unicast++;
          out[0] = e.port;
          return 1;
        }
        this.table.delete(macAt(frame, off));
        this.stats.aged++;
      }
    }
    this.stats.flooded++;
    let n = 0;
    for (const p of this.ports) if (p !== ingress && n < out.length) out[n++] = p;
    return n;
  }

  /** Drop entries not seen for agingMs. Call from a timer, not per packet. */
  age(): number {
    const now = this.nowMs();
    let n = 0;
    for (const [mac, e] of this.table) {
      if (now - e.seenMs > this.agingMs) {
        this.table.delete(mac);
        n++;
      }
    }
    this.stats.aged += n;
    return n;
  }
}

/** The 48-bit MAC at frame[off..off+6) as a number. */
export function macAt(frame: Uint8Array, off: number): number {
  return (
    (frame[off]! * 256 + frame[off + 1]!) * 4294967296 +
    (((frame[off + 2]! << 24) | (frame[off + 3]! << 16) | (frame[off + 4]! << 8) | frame[off + 5]!) >>> 0)
  );
}

/** Parse "aa:bb:cc:dd:ee:ff" into 6 bytes; throws with the offending text. */
export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})$/.exec(text);
  if (m === null) throw new Error(`bad MAC address "${text}": expected six hex pairs like 00:16:3e:00:00:01`);
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}
