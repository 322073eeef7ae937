// SPDX-License-Identifier: MIT
// vif.ts — VifBackend: one guest network interface, from xenbus handshake to TX/RX service.
//
// Lifecycle (reference/xen-netif.md §2.6, Linux netback xenbus.c): write features, hotplug-status
// and InitWait; on frontend Initialised/Connected read and validate its keys, map both rings,
// check req_prod − rsp_prod ≤ ring size, attach at the current rsp_prod (so a reconnect or a
// restarted backend resumes), bind the event channel(s), go Connected. Frontend Closing →
// disconnect → Closing → Closed; frontend Closed with online=0, or Unknown, → Closed, the vif is
// gone. The toolstack closes a device by writing *our* state = Closing (libxl on `xl destroy`,
// then it waits up to 10 s for Closed): onBackendState() answers Closed at once. Our state is
// written only while the backend node exists (as Linux's xenbus_switch_state), so a late write
// never recreates a node the toolstack has removed.
//
// A fatal frontend error (tx.ts, rx.ts) disables this vif only: a logged reason, the `fatal`
// counter, an `error` node, state Closing. Nothing thrown by a guest's input leaves this file.
import { BackRing, SharedRingView } from '../ring/sring.js';
import { NETIF_RX_SLOT, NETIF_TX_SLOT } from '../ring/netif.js';
import { parseMac } from '../switch/l2switch.js';
import type { EventChannel, GrantAccess, MappedPage, Transport } from '../transport/types.js';
import type { Logger } from '../util/log.js';
import { C, newCounters } from './counters.js';
import type { PacketPool } from './pool.js';
import { RxPath } from './rx.js';
import { TxPath } from './tx.js';
import { BACKEND_FEATURES, HandshakeError, parseState, readFrontendConfig, XenbusState } from './xenbus.js';

export interface VifHost {
  readonly transport: Transport;
  readonly pool: PacketPool;
  readonly log: Logger;
  /** A validated frame from this vif; ownership passes to the host. */
  forward(from: VifBackend, frame: number): void;
  /** After a TX pass: deliver what forward() queued. */
  flush(): void;
  /** The vif reached Connected, or left it. */
  linkChanged(vif: VifBackend, up: boolean): void;
  /** The vif is gone for good (toolstack removed it or the guest died). */
  removed(vif: VifBackend): void;
  /** The guest posted RX buffers: senders held back by this vif may resume. */
  rxDrained(vif: VifBackend): void;
  /** Keep polling a ring this long (µs) after its last work before sleeping on its event. */
  readonly spinUs: number;
}

interface Connection {
  grants: GrantAccess;
  txPage: MappedPage;
  rxPage: MappedPage;
  txCh: EventChannel;
  rxCh: EventChannel;
  exitWatch: { close(): void } | null;
}

export class VifBackend {
  readonly counters = newCounters();
  readonly key: string;
  mac: Uint8Array = new Uint8Array(6);
  /** Our xenbus state. */
  state: number = XenbusState.Initialising;
  /** Switch port number, set by the host. */
  port = -1;
  fe = '';
  disabled = false;
  fatalReason: string | undefined;
  tx: TxPath | null = null;
  rx: RxPath;
  /** Set while TX is held back (destination congested or pool empty). */
  txBlocked = false;
  private conn: Connection | null = null;
  private txScheduled = false;
  private connecting = false;
  private gone = false;
  private readonly log: Logger;
  private readonly watchToken: string;

  constructor(
    private readonly host: VifHost,
    readonly frontDomid: number,
    readonly devid: number,
    readonly be: string,
  ) {
    this.key = `${frontDomid}/${devid}`;
    this.log = host.log.child({ vif: `vif${frontDomid}.${devid}` });
    this.rx = new RxPath(null, null, host.pool, this.counters, (r) => this.fatal(r));
    this.watchToken = `vif-fe-${frontDomid}-${devid}`;
  }

  private get xs() {
    return this.host.transport.xenstore;
  }

  get connected(): boolean {
    return this.conn !== null && !this.disabled;
  }

  /** Probe: advertise features, stand in for the hotplug script, go InitWait, watch the frontend. */
  async start(): Promise<void> {
    const fe = await this.xs.read(`${this.be}/frontend`);
    const macText = await this.xs.read(`${this.be}/mac`);
    const expected = `/local/domain/${this.frontDomid}/device/vif/${this.devid}`;
    if (fe !== expected) throw new HandshakeError(`${this.be}/frontend is "${fe}", expected ${expected}`);
    this.fe = fe;
    this.mac = parseMac(macText ?? '');
    await this.xs.transaction(async (tx) => {
      for (const [k, v] of Object.entries(BACKEND_FEATURES)) await this.xs.write(`${this.be}/${k}`, v, tx);
      // We are our own hotplug script (no bridge to join): say so, as vif-bridge would.
      await this.xs.write(`${this.be}/hotplug-status`, 'connected', tx);
    });
    await this.setState(XenbusState.InitWait);
    await this.xs.watch(`${this.fe}/state`, this.watchToken, () => void this.onFrontendState());
  }

  private async setState(s: number): Promise<void> {
    this.state = s;
    const path = `${this.be}/state`;
    await this.xs
      .transaction(async (tx) => {
        if ((await this.xs.read(path, tx)) !== undefined) await this.xs.write(path, String(s), tx);
      })
      .catch((e: Error) => this.log.warn({ err: e.message }, 'cannot write backend state'));
  }

  /**
   * The backend's own `state` node changed (the service watches the whole backend tree): Closing
   * written by the toolstack means "close this device" — answer Closed; a removed node means the
   * toolstack is done with the device.
   */
  async onBackendState(): Promise<void> {
    if (this.gone) return;
    const v = await this.xs.read(`${this.be}/state`).catch(() => undefined);
    if (v === undefined) {
      await this.remove('backend node removed by the toolstack');
    } else if (v === String(XenbusState.Closing) && this.state !== XenbusState.Closing && this.state !== XenbusState.Closed) {
      this.disconnect('toolstack closing the device');
      await this.setState(XenbusState.Closed);
    }
  }

  private async onFrontendState(): Promise<void> {
    if (this.gone) return;
    const s = parseState(await this.xs.read(`${this.fe}/state`).catch(() => undefined));
    switch (s) {
      case XenbusState.Initialising:
        if (this.state === XenbusState.Connected || this.state === XenbusState.Closed) {
          // Frontend reconnecting (after its own restart): drop the old rings, offer again.
          this.disconnect('frontend re-initialising');
          this.disabled = false;
          this.fatalReason = undefined;
          await this.setState(XenbusState.InitWait);
        }
        return;
      case XenbusState.Initialised:
      case XenbusState.Connected:
        if (this.conn === null && !this.disabled && !this.connecting) await this.connect();
        return;
      case XenbusState.Closing:
        this.disconnect('frontend closing');
        await this.setState(XenbusState.Closing);
        await this.setState(XenbusState.Closed);
        return;
      case XenbusState.Closed: {
        this.disconnect('frontend closed');
        await this.setState(XenbusState.Closed);
        const online = await this.xs.read(`${this.be}/online`).catch(() => undefined);
        if (online !== '1') await this.remove('frontend closed and toolstack set online=0');
        return;
      }
      case XenbusState.Unknown:
        this.disconnect('frontend vanished (state Unknown)');
        await this.setState(XenbusState.Closed);
        await this.remove('frontend state Unknown');
        return;
      default:
        return;
    }
  }

  private async connect(): Promise<void> {
    this.connecting = true;
    const t = this.host.transport;
    let grants: GrantAccess | null = null;
    const opened: { close(): void }[] = [];
    try {
      const cfg = await readFrontendConfig(this.xs, this.fe);
      grants = await t.openGrants(this.frontDomid);
      const txPage = grants.map(cfg.txRingRef, true);
      const rxPage = grants.map(cfg.rxRingRef, true);
      const txView = new SharedRingView(txPage.buffer, txPage.byteOffset, NETIF_TX_SLOT);
      const rxView = new SharedRingView(rxPage.buffer, rxPage.byteOffset, NETIF_RX_SLOT);
      // Refuse rings that already claim more requests than fit (Linux: -EIO at connect).
      for (const [name, v] of [['TX', txView], ['RX', rxView]] as const) {
        const reqProd = v.reqProd;
        const rspProd = v.rspProd;
        if (((reqProd - rspProd) >>> 0) > v.size) throw new HandshakeError(`${name} ring: req_prod ${reqProd} − rsp_prod ${rspProd} exceeds ring size ${v.size}`);
      }
      const txRing = new BackRing(txView, { attach: true });
      const rxRing = new BackRing(rxView, { attach: true });
      const txCh = await t.bindInterdomain(this.frontDomid, cfg.evtchnTx);
      opened.push(txCh);
      const rxCh = cfg.split ? await t.bindInterdomain(this.frontDomid, cfg.evtchnRx) : txCh;
      if (cfg.split) opened.push(rxCh);
      const exitWatch = await t.watchDomainExit(this.frontDomid, () => void this.guestDied()).catch(() => null);
      this.conn = { grants, txPage, rxPage, txCh, rxCh, exitWatch };
      this.tx = new TxPath(txRing, grants, this.host.pool, this.counters, {
        forward: (f) => this.host.forward(this, f),
        fatal: (r) => this.fatal(r),
      });
      this.tx.notify = () => txCh.notify();
      this.rx = new RxPath(rxRing, grants, this.host.pool, this.counters, (r) => this.fatal(r));
      this.rx.notify = () => rxCh.notify();
      txCh.setHandler(() => this.onEvent());
      if (cfg.split) rxCh.setHandler(() => this.onRxEvent());
      await this.setState(XenbusState.Connected);
      this.log.info({ split: cfg.split, sg: cfg.sg, rxNotify: cfg.rxNotify, mac: this.macText() }, 'connected');
      this.host.linkChanged(this, true);
      this.scheduleTx(); // requests may already be waiting (reconnect/restart)
    } catch (e) {
      for (const o of opened) o.close();
      grants?.close();
      const reason = e instanceof Error ? e.message : String(e);
      this.log.warn({ reason }, 'connect failed');
      await this.xs.write(`${this.be}/error`, `connect: ${reason}`).catch(() => undefined);
      await this.setState(XenbusState.Closing);
    } finally {
      this.connecting = false;
    }
  }

  macText(): string {
    return [...this.mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
  }

  private onEvent(): void {
    this.counters[C.events]!++;
    this.scheduleTx();
    this.onRxEvent();
  }

  private onRxEvent(): void {
    if (!this.connected) return;
    if (this.rx.queued > 0) {
      this.rx.process(performance.now());
      this.host.rxDrained(this);
    }
  }

  /** Run a TX pass now if none is pending; later passes go through setImmediate (fairness). */
  scheduleTx(): void {
    if (this.txScheduled || this.inPass || !this.connected || this.txBlocked) return;
    this.runTx();
  }

  /** Safety net run by the host's timer: resume a ring that has requests nobody is serving. */
  kick(): void {
    if (!this.connected) return;
    if (this.rx.queued > 0) this.onRxEvent();
    this.scheduleTx();
  }

  private inPass = false;
  /** performance.now() of the last pass that moved packets. */
  private lastWorkMs = 0;
  private runTx = (): void => {
    this.txScheduled = false;
    if (!this.connected || this.txBlocked || this.tx === null) return;
    this.inPass = true;
    const now = performance.now();
    let r: ReturnType<TxPath['process']>;
    try {
      r = this.tx.process(false);
      this.host.flush();
    } finally {
      this.inPass = false;
    }
    if (this.tx.lastPassPackets > 0) this.lastWorkMs = now;
    // Adaptive polling: for spinUs after the last work keep polling without arming req_event,
    // so a busy guest need not notify us (an eventfd write per push) and we need no wake-up;
    // after that, arm and sleep on the event channel.
    if (r === 'spin' && (now - this.lastWorkMs) * 1000 >= this.host.spinUs) r = this.tx.armAndCheck() ? 'more' : 'idle';
    if ((r === 'more' || r === 'spin') && !this.txBlocked) {
      this.txScheduled = true;
      setImmediate(this.runTx);
    } else if (r === 'paused') {
      this.txBlocked = true;
      this.host.pool.whenFree(() => this.unblock());
    }
  };

  /**
   * Let TX run again after back-pressure ends. Always deferred: unblock() is called from inside
   * another vif's pass, and a pass must never run inside another.
   */
  unblock(): void {
    if (!this.txBlocked) return;
    this.txBlocked = false;
    if (this.txScheduled || !this.connected) return;
    this.txScheduled = true;
    setImmediate(this.runTx);
  }

  /** Disable this vif for a frontend protocol violation; other vifs are untouched. */
  fatal(reason: string): void {
    if (this.disabled) return;
    this.disabled = true;
    this.fatalReason = reason;
    this.counters[C.fatal]! = Math.max(this.counters[C.fatal]!, 1);
    this.log.error({ reason, domid: this.frontDomid, devid: this.devid }, 'fatal frontend error; disabling vif');
    // Off the hot path (XSA-90): the xenstore writes and teardown run after this pass unwinds.
    queueMicrotask(() => {
      this.disconnect(`fatal: ${reason}`);
      void this.xs.write(`${this.be}/error`, `fatal: ${reason}`).catch(() => undefined);
      void this.setState(XenbusState.Closing);
    });
  }

  private async guestDied(): Promise<void> {
    this.log.warn({}, 'guest process exited');
    this.disconnect('guest died');
    await this.remove('guest died');
  }

  /** Unmap, unbind, drop queued frames. Safe to call twice. */
  disconnect(why: string): void {
    const c = this.conn;
    if (c === null) return;
    this.conn = null;
    this.tx = null;
    this.rx.dropAll();
    this.rx = new RxPath(null, null, this.host.pool, this.counters, (r) => this.fatal(r));
    c.exitWatch?.close();
    c.txCh.close();
    if (c.rxCh !== c.txCh) c.rxCh.close();
    c.txPage.unmap();
    c.rxPage.unmap();
    c.grants.close();
    this.log.info({ why }, 'disconnected');
    this.host.linkChanged(this, false);
  }

  private async remove(why: string): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    this.disconnect(why);
    await this.xs.unwatch(`${this.fe}/state`, this.watchToken).catch(() => undefined);
    this.host.removed(this);
  }

  /** Shut down without touching xenstore state beyond our watch (service stop). */
  async close(): Promise<void> {
    this.gone = true;
    this.disconnect('service stopping');
    await this.xs.unwatch(`${this.fe}/state`, this.watchToken).catch(() => undefined);
  }
}
