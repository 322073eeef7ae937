// SPDX-License-Identifier: MIT
// service.ts — the netback service: discovers vifs in xenstore, owns the pool and the switch.
//
// Discovery is a real netback's: watch /local/domain/<self>/backend/vif and serve every
// <frontend-domid>/<devid> the toolstack creates. Frames flow vif → switch → vif through the
// packet pool. Guest-bound frames go to each destination's bounded RX queue; a TX pass that pushes
// a destination over its soft bound parks the sender until the destination drains (lossless
// under transient congestion), and a destination that takes nothing for its stall time is
// declared stalled so it can hold nobody up (reference/xen-netif.md §3.1, XSA-392).
// Ports that are not vifs (uplinks) take part in the same back-pressure: a port that reports
// itself congested parks the vifs sending to it until it calls portDrained(); a port that can be
// held (block/unblock) is parked like a vif when it feeds a congested vif — an uplink then stops
// reaping its driver's RX ring, and the device, not net_uk, drops (and counts) what overflows.
import { mapShared, type SharedRegion } from '../native/index.js';
import { L2Switch } from '../switch/l2switch.js';
import type { Transport } from '../transport/types.js';
import { createLogger, type Logger } from '../util/log.js';
import { C, countersToObject, type VifCounter } from './counters.js';
import { FRAME_BYTES, PacketPool } from './pool.js';
import { VifBackend, type VifHost } from './vif.js';

export interface NetbackOptions {
  transport: Transport;
  log?: Logger;
  /** Frames in the packet pool (default 16384 = 32 MiB). */
  poolFrames?: number;
  /** Put the pool in this shared-memory file (so a driver process can map it); default: private memory. */
  poolPath?: string;
  /** MAC aging of the switch, ms. */
  agingMs?: number;
  /** A vif whose guest takes no frame for this long is declared stalled (default 1000 ms). */
  rxStallMs?: number;
  /** Adaptive polling: keep polling a busy ring this long (µs) before sleeping on its event (default 50; 0 = pure event-driven). */
  spinUs?: number;
}

/**
 * A switch port that is not a vif (an uplink to a driver, src/driver/uplink.ts). attachPort()
 * numbers it and adds it to the switch; the switch then hands it frames with deliver().
 */
export interface Port {
  /** Switch port number; set by Netback.attachPort. */
  port: number;
  /** Take one reference to `frame` (the port releases it when done with it); false if it dropped the frame (the port counts why). */
  deliver(frame: number): boolean;
  /** End of a forwarding batch: publish what deliver() queued. */
  flush(): void;
  /** Optional: true while senders should hold back (call Netback.portDrained when it clears). */
  readonly congested?: boolean;
  /** Optional: stop feeding the switch until unblock() (a destination of this port is congested). */
  block?(): void;
  unblock?(): void;
}

/** Something parked by back-pressure: a vif's TX, or a port's ingress. */
type Sender = VifBackend | Port;

export interface VifStatus {
  vif: string;
  domid: number;
  devid: number;
  mac: string;
  state: number;
  connected: boolean;
  disabled: boolean;
  fatalReason?: string;
  rxQueued: number;
  counters: Record<VifCounter, number>;
}

export class Netback implements VifHost {
  readonly pool: PacketPool;
  readonly switch: L2Switch;
  readonly log: Logger;
  private readonly vifs = new Map<string, VifBackend>();
  private readonly byPort = new Map<number, VifBackend>();
  private readonly ports = new Map<number, Port>();
  private readonly dirtyPorts = new Set<Port>();
  private readonly dirty = new Set<VifBackend>();
  private readonly waiters = new Map<VifBackend | Port, Set<Sender>>();
  private readonly dest = new Int32Array(256);
  private nextPort = 1;
  private region: SharedRegion | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly root: string;
  private scanning: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly rxStallMs: number;
  readonly spinUs: number;

  private constructor(
    readonly transport: Transport,
    opts: NetbackOptions,
  ) {
    this.log = opts.log ?? createLogger({ svc: 'netback' });
    const frames = opts.poolFrames ?? 16384;
    let buf: ArrayBuffer;
    if (opts.poolPath !== undefined) {
      this.region = mapShared(opts.poolPath, { size: frames * FRAME_BYTES, create: true });
      buf = this.region.buffer;
    } else buf = new ArrayBuffer(frames * FRAME_BYTES);
    this.pool = new PacketPool(buf, frames);
    this.switch = new L2Switch(opts.agingMs === undefined ? {} : { agingMs: opts.agingMs });
    this.root = `/local/domain/${transport.selfDomid}/backend/vif`;
    this.rxStallMs = opts.rxStallMs ?? 1000;
    this.spinUs = opts.spinUs ?? 50;
  }

  static async start(opts: NetbackOptions): Promise<Netback> {
    const nb = new Netback(opts.transport, opts);
    const xs = opts.transport.xenstore;
    await xs.mkdir(nb.root).catch(() => undefined);
    await xs.watch(nb.root, 'netback-vifs', (path) => nb.onBackendTree(path));
    nb.timer = setInterval(() => nb.housekeeping(), 100);
    nb.timer.unref();
    return nb;
  }

  /**
   * Something under the backend tree changed. A vif's own `state` goes to that vif (the toolstack
   * closes a device by writing Closing there); a device we do not serve (any more) that the
   * toolstack closes is answered Closed, so `xl destroy` never waits for us. Then rescan.
   */
  private onBackendTree(path: string): void {
    const m = /^\/local\/domain\/\d+\/backend\/vif\/(\d+)\/(\d+)\/state$/.exec(path);
    if (m !== null && path.startsWith(`${this.root}/`)) {
      const vif = this.vifs.get(`${m[1]}/${m[2]}`);
      const xs = this.transport.xenstore;
      if (vif !== undefined) void vif.onBackendState();
      else {
        void xs
          .transaction(async (tx) => {
            if ((await xs.read(path, tx)) === '5') await xs.write(path, '6', tx);
          })
          .catch(() => undefined);
      }
    }
    this.rescan();
  }

  /** Serialize scans: xenstore watch events can arrive in bursts. */
  private rescan(): void {
    this.scanning = this.scanning.then(() => this.scan()).catch((e: Error) => this.log.error({ err: e.message }, 'vif scan failed'));
  }

  private async scan(): Promise<void> {
    if (this.closed) return;
    const xs = this.transport.xenstore;
    const doms = await xs.directory(this.root).catch(() => [] as string[]);
    for (const d of doms) {
      if (!/^[1-9][0-9]{0,4}$/.test(d)) continue;
      const devs = await xs.directory(`${this.root}/${d}`).catch(() => [] as string[]);
      for (const n of devs) {
        if (!/^(0|[1-9][0-9]{0,4})$/.test(n)) continue;
        const key = `${d}/${n}`;
        if (this.vifs.has(key)) continue;
        const be = `${this.root}/${d}/${n}`;
        // Only a complete toolstack entry (state 1, frontend set) is ours to probe.
        const state = await xs.read(`${be}/state`).catch(() => undefined);
        const fe = await xs.read(`${be}/frontend`).catch(() => undefined);
        if (state !== '1' || fe === undefined) continue;
        const vif = new VifBackend(this, Number(d), Number(n), be);
        vif.port = this.nextPort++;
        this.vifs.set(key, vif);
        this.byPort.set(vif.port, vif);
        try {
          await vif.start();
          this.log.info({ vif: key, mac: vif.macText() }, 'vif probed; waiting for the frontend');
        } catch (e) {
          this.log.error({ vif: key, err: (e as Error).message }, 'vif probe failed');
          await xs.write(`${be}/error`, `probe: ${(e as Error).message}`).catch(() => undefined);
          this.vifs.delete(key);
          this.byPort.delete(vif.port);
        }
      }
    }
  }

  // ---- VifHost

  /** A clock read once per pass (flush, housekeeping), good enough for aging and stall timing. */
  private now = performance.now();

  forward(from: VifBackend, frame: number): void {
    if (this.route(from.port, from, frame) === 0) from.counters[C.tx_no_destination]!++;
  }

  /**
   * A frame from a non-vif port (an uplink's RX) into the switch; ownership passes here. Returns
   * the number of destinations (0: no destination, the frame was released). Call flush() after a batch.
   */
  ingress(from: Port, frame: number): number {
    return this.route(from.port, from.block !== undefined ? from : null, frame);
  }

  /** Switch a frame from `port` to its destinations; `sender` (a vif, or a port that can be held) is parked if a destination is congested. */
  private route(port: number, sender: Sender | null, frame: number): number {
    const now = this.now;
    const n = this.switch.forward(port, this.pool.u8, this.pool.offset(frame), this.pool.len[frame]!, this.dest, now);
    if (n === 0) {
      this.pool.release(frame);
      return 0;
    }
    for (let i = 1; i < n; i++) this.pool.retain(frame);
    for (let i = 0; i < n; i++) {
      const d = this.dest[i]!;
      const to = this.byPort.get(d);
      if (to === undefined) {
        const p = this.ports.get(d);
        if (p === undefined) this.pool.release(frame);
        else {
          p.deliver(frame);
          this.dirtyPorts.add(p);
          if (sender !== null && p.congested === true && p !== sender) this.park(sender, p);
        }
        continue;
      }
      if (to.rx.enqueue(frame, now)) {
        this.dirty.add(to);
        if (sender !== null && to.rx.congested && to !== sender) this.park(sender, to);
      }
    }
    return n;
  }

  /** Add a non-vif port (an uplink) to the switch; sets p.port. */
  attachPort(p: Port): void {
    p.port = this.nextPort++;
    this.ports.set(p.port, p);
    this.switch.addPort(p.port);
  }

  /** Remove a port added with attachPort (its learned MACs are forgotten). */
  detachPort(p: Port): void {
    if (this.ports.get(p.port) !== p) return;
    this.switch.removePort(p.port);
    this.ports.delete(p.port);
    this.dirtyPorts.delete(p);
    this.release(p);
    for (const set of this.waiters.values()) set.delete(p);
  }

  /** A congested port (Port.congested) has room again: let its senders go. */
  portDrained(p: Port): void {
    if (p.congested !== true) this.release(p);
  }

  flush(): void {
    const now = (this.now = performance.now());
    if (this.dirtyPorts.size !== 0) {
      const ports = [...this.dirtyPorts];
      this.dirtyPorts.clear();
      for (const p of ports) p.flush();
    }
    if (this.dirty.size === 0) return;
    const dirty = [...this.dirty];
    this.dirty.clear();
    for (const to of dirty) {
      to.rx.process(now);
      if (!to.rx.congested) this.release(to);
    }
  }

  linkChanged(vif: VifBackend, up: boolean): void {
    if (up) {
      if (!this.switch.portList.includes(vif.port)) this.switch.addPort(vif.port);
    } else {
      if (this.switch.portList.includes(vif.port)) this.switch.removePort(vif.port);
      this.release(vif);
      for (const set of this.waiters.values()) set.delete(vif);
    }
  }

  removed(vif: VifBackend): void {
    this.vifs.delete(vif.key);
    this.byPort.delete(vif.port);
    this.release(vif);
    this.log.info({ vif: vif.key }, 'vif removed');
  }

  rxDrained(vif: VifBackend): void {
    if (!vif.rx.congested) this.release(vif);
  }

  // ---- back-pressure

  private park(sender: Sender, dest: VifBackend | Port): void {
    if (sender instanceof VifBackend) {
      sender.counters[C.backpressure]!++;
      sender.txBlocked = true;
    } else sender.block?.();
    let s = this.waiters.get(dest);
    if (s === undefined) this.waiters.set(dest, (s = new Set()));
    s.add(sender);
  }

  private release(dest: VifBackend | Port): void {
    const s = this.waiters.get(dest);
    if (s === undefined || s.size === 0) return;
    this.waiters.delete(dest);
    for (const sender of s) sender.unblock?.();
  }

  private static congested(dest: VifBackend | Port): boolean {
    return dest instanceof VifBackend ? dest.rx.congested : dest.congested === true;
  }

  private housekeeping(): void {
    const now = (this.now = performance.now());
    for (const dest of [...this.waiters.keys()]) if (!Netback.congested(dest)) this.release(dest);
    for (const v of this.vifs.values()) {
      v.kick();
      v.rx.stallMs = this.rxStallMs;
      if (v.rx.checkStall(now)) {
        this.log.warn({ vif: v.key }, 'guest took no frames for the stall timeout: dropping its traffic until it posts buffers');
        this.release(v);
      }
    }
  }

  // ---- status

  status(): VifStatus[] {
    return [...this.vifs.values()].map((v) => ({
      vif: `vif${v.frontDomid}.${v.devid}`,
      domid: v.frontDomid,
      devid: v.devid,
      mac: v.macText(),
      state: v.state,
      connected: v.connected,
      disabled: v.disabled,
      ...(v.fatalReason !== undefined ? { fatalReason: v.fatalReason } : {}),
      rxQueued: v.rx.queued,
      counters: countersToObject(v.counters),
    }));
  }

  vif(domid: number, devid: number): VifBackend | undefined {
    return this.vifs.get(`${domid}/${devid}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.scanning;
    await this.transport.xenstore.unwatch(this.root, 'netback-vifs').catch(() => undefined);
    for (const v of this.vifs.values()) await v.close();
    this.vifs.clear();
    this.region?.close();
  }
}
