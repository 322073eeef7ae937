// SPDX-License-Identifier: MIT
// netfront.ts — a test netfront: the frontend side of the netif protocol over the shm transport.
//
// It does what Linux xen-netfront does (reference/xen-netif.md §2.6): waits for the backend's
// InitWait, creates and grants the two ring pages, allocates event channels (split when the
// backend offers it), writes its keys in one transaction, goes Connected, keeps the RX ring full
// of granted pages, and sends frames through granted TX pages. TX page i belongs to slot id i;
// frames are placed at a varying offset and split into two slots when they would cross the page
// end (as netfront does), so the backend's multi-slot path is exercised by ordinary traffic.
import { FrontRing, SharedRingView, sharedRingInit } from '../../src/ring/sring.js';
import {
  NETIF_RSP_OKAY,
  NETIF_RX_SLOT,
  NETIF_TX_SLOT,
  NETRXF_more_data,
  NETTXF_more_data,
  newRxResponse,
  newTxResponse,
  readRxResponse,
  readTxResponse,
  writeRxRequest,
  writeExtraInfo,
  writeTxRequest,
  type ExtraInfo,
} from '../../src/ring/netif.js';
import { parseMac } from '../../src/switch/l2switch.js';
import { ShmGuestDomain } from '../../src/transport/shm/guest.js';
import type { EventFdChannel } from '../../src/transport/shm/evtchn.js';
import { XenstoreClient } from '../../src/transport/xenstore/client.js';

const PAGE = 4096;

export type RawTxSlot =
  | { kind: 'req'; size: number; offset?: number; flags?: number; gref?: number }
  | { kind: 'extra'; extra: Partial<ExtraInfo> & { type: number; flags: number } };

export interface NetfrontOptions {
  /** Socket of xenstored for this domain (connections act as the domain). */
  xenstoreSocket: string;
  domid: number;
  devid?: number;
  memPath: string;
  /** Use split event channels when the backend offers them (default true). */
  split?: boolean;
  /** Place TX data at varying offsets so some frames span two slots (default true). */
  scatter?: boolean;
}

export class TestNetfront {
  mac: Uint8Array = new Uint8Array(6);
  readonly tx: FrontRing;
  readonly rx: FrontRing;
  private txFree: number[] = [];
  private readonly txGref = new Uint32Array(256);
  private readonly txHead = new Uint8Array(256);
  private readonly txPage = new Uint32Array(256);
  private readonly rxGref = new Uint32Array(256);
  private readonly rxPage = new Uint32Array(256);
  private readonly txDv: DataView;
  /** The whole domain image; pages are reached by offset (no view per packet). */
  private readonly mem: Uint8Array;
  private readonly rxDv: DataView;
  private txCh!: EventFdChannel;
  private rxCh!: EventFdChannel;
  private readonly txRsp = newTxResponse();
  private readonly rxRsp = newRxResponse();
  private nextOffset = 0;
  /** A received frame (valid until it returns); flags are the response's NETRXF_* bits. */
  onFrame: (buf: Uint8Array, off: number, len: number, flags: number) => void = () => undefined;
  /** Called when the backend notified us; by default polls (and re-arms). */
  onWake: () => void = () => void this.poll();
  /** Test hook: every TX response slot as it is reaped (id, status), extra slots included. */
  onTxResponse: (id: number, status: number) => void = () => undefined;
  /** Called when TX slots were freed. */
  onTxSpace: () => void = () => undefined;
  readonly stats = { txSent: 0, txOk: 0, txErr: 0, rxOk: 0, rxErr: 0, multiSlot: 0 };
  beState = 0;
  private readonly fe: string;
  private be = '';

  private constructor(
    readonly xs: XenstoreClient,
    readonly dom: ShmGuestDomain,
    readonly opts: NetfrontOptions,
  ) {
    this.fe = `/local/domain/${opts.domid}/device/vif/${opts.devid ?? 0}`;
    const txP = dom.allocPage();
    const rxP = dom.allocPage();
    const buf = dom.img.region.buffer;
    sharedRingInit(buf, dom.pageOffset(txP));
    sharedRingInit(buf, dom.pageOffset(rxP));
    this.tx = new FrontRing(new SharedRingView(buf, dom.pageOffset(txP), NETIF_TX_SLOT));
    this.rx = new FrontRing(new SharedRingView(buf, dom.pageOffset(rxP), NETIF_RX_SLOT));
    this.txDv = this.tx.sring.dv;
    this.mem = new Uint8Array(buf);
    this.rxDv = this.rx.sring.dv;
    this.ringPages = [txP, rxP];
  }
  private readonly ringPages: number[];

  static async connect(opts: NetfrontOptions): Promise<TestNetfront> {
    const xs = await XenstoreClient.connect(opts.xenstoreSocket);
    const dom = ShmGuestDomain.open(opts.memPath, opts.domid);
    const nf = new TestNetfront(xs, dom, opts);
    await nf.handshake();
    return nf;
  }

  private async waitBackend(states: number[], timeoutMs = 20000): Promise<number> {
    const path = `${this.be}/state`;
    return new Promise((resolve, reject) => {
      const token = `nf-wait-${Math.random()}`;
      const timer = setTimeout(() => {
        void this.xs.unwatch(path, token).catch(() => undefined);
        reject(new Error(`backend ${this.be} did not reach state ${states.join('/')} in ${timeoutMs} ms (last ${this.beState})`));
      }, timeoutMs);
      void this.xs.watch(path, token, () => {
        void this.xs.read(path).then((v) => {
          this.beState = Number(v ?? 0);
          if (states.includes(this.beState)) {
            clearTimeout(timer);
            void this.xs.unwatch(path, token).catch(() => undefined);
            resolve(this.beState);
          }
        });
      });
    });
  }

  private async handshake(): Promise<void> {
    const xs = this.xs;
    const be = await xs.read(`${this.fe}/backend`);
    const beId = Number(await xs.read(`${this.fe}/backend-id`));
    if (be === undefined) throw new Error(`${this.fe}/backend missing: did the toolstack create the vif?`);
    this.be = be;
    this.mac = parseMac((await xs.read(`${this.fe}/mac`)) ?? '');
    await this.waitBackend([2]);
    if ((await xs.read(`${be}/feature-rx-copy`)) !== '1') throw new Error('backend lacks feature-rx-copy');
    const split = (this.opts.split ?? true) && (await xs.read(`${be}/feature-split-event-channels`)) === '1';
    const dom = this.dom;
    const txRef = dom.grantAccess(this.ringPages[0]!, beId, false);
    const rxRef = dom.grantAccess(this.ringPages[1]!, beId, false);
    const a = dom.allocUnboundPort(beId);
    const b = split ? dom.allocUnboundPort(beId) : a;
    this.txCh = a.channel;
    this.rxCh = b.channel;
    for (let i = 0; i < 256; i++) {
      this.txPage[i] = dom.allocPage();
      this.txGref[i] = dom.grantAccess(this.txPage[i]!, beId, true);
      this.rxPage[i] = dom.allocPage();
      this.rxGref[i] = dom.grantAccess(this.rxPage[i]!, beId, false);
      this.txFree.push(255 - i);
    }
    await xs.transaction(async (tx) => {
      await xs.write(`${this.fe}/tx-ring-ref`, String(txRef), tx);
      await xs.write(`${this.fe}/rx-ring-ref`, String(rxRef), tx);
      if (split) {
        await xs.write(`${this.fe}/event-channel-tx`, String(a.port), tx);
        await xs.write(`${this.fe}/event-channel-rx`, String(b.port), tx);
      } else await xs.write(`${this.fe}/event-channel`, String(a.port), tx);
      await xs.write(`${this.fe}/request-rx-copy`, '1', tx);
      await xs.write(`${this.fe}/feature-rx-notify`, '1', tx);
      await xs.write(`${this.fe}/feature-sg`, '1', tx);
    });
    // Fill the RX ring before announcing Connected, as netfront does.
    for (let i = 0; i < 256; i++) {
      writeRxRequest(this.rxDv, this.rx.sring.slotOffset(this.rx.reqProdPvt), i, this.rxGref[i]!);
      this.rx.reqProdPvt = (this.rx.reqProdPvt + 1) >>> 0;
    }
    this.rx.pushRequests();
    this.txCh.setHandler(() => this.onWake());
    if (split) this.rxCh.setHandler(() => this.onWake());
    await xs.write(`${this.fe}/state`, '4');
    await this.waitBackend([4]);
  }

  get txSpace(): number {
    return this.txFree.length;
  }

  /**
   * Queue one frame (copied from buf[off, off+len)). Returns false when the TX ring is full.
   * Call flushTx() after a batch to publish and notify.
   */
  send(buf: Uint8Array, off: number, len: number): boolean {
    const scatter = this.opts.scatter ?? true;
    let pageOff = 0;
    if (scatter) {
      pageOff = this.nextOffset;
      this.nextOffset = (this.nextOffset + 2 * 997) % PAGE; // varying, even offsets
      // Like Linux netfront: the first slot must hold the Ethernet header, or netback drops it.
      if (PAGE - pageOff < 64) pageOff = 0;
    }
    const split = pageOff + len > PAGE;
    if (this.txFree.length < (split ? 2 : 1)) return false;
    const id0 = this.txFree.pop()!;
    this.txHead[id0] = 1;
    const mem = this.mem;
    const first = split ? PAGE - pageOff : len;
    copyInto(buf, off, mem, this.dom.pageOffset(this.txPage[id0]!) + pageOff, first);
    writeTxRequest(this.txDv, this.tx.sring.slotOffset(this.tx.reqProdPvt), this.txGref[id0]!, pageOff, split ? NETTXF_more_data : 0, id0, len);
    this.tx.reqProdPvt = (this.tx.reqProdPvt + 1) >>> 0;
    if (split) {
      const id1 = this.txFree.pop()!;
      this.txHead[id1] = 0;
      const rest = len - first;
      copyInto(buf, off + first, mem, this.dom.pageOffset(this.txPage[id1]!), rest);
      writeTxRequest(this.txDv, this.tx.sring.slotOffset(this.tx.reqProdPvt), this.txGref[id1]!, 0, 0, id1, rest);
      this.tx.reqProdPvt = (this.tx.reqProdPvt + 1) >>> 0;
      this.stats.multiSlot++;
    }
    this.stats.txSent++;
    return true;
  }

  // ---- test-only raw access (hostile-frontend tests) ----

  /**
   * Write raw TX slots at req_prod_pvt and push them. A 'req' slot takes a free slot id (and that
   * id's granted page unless `gref` is given); an 'extra' slot is a netif_extra_info. Returns the
   * ids used, in order. `push: false` writes without publishing (for partial publication).
   */
  rawTx(slots: RawTxSlot[], opts: { push?: boolean } = {}): number[] {
    const ids: number[] = [];
    for (const sl of slots) {
      const off = this.tx.sring.slotOffset(this.tx.reqProdPvt);
      if (sl.kind === 'extra') {
        writeExtraInfo(this.txDv, off, sl.extra);
      } else {
        const id = this.txFree.pop();
        if (id === undefined) throw new Error('rawTx: no free TX slot id');
        this.txHead[id] = 0;
        ids.push(id);
        writeTxRequest(this.txDv, off, sl.gref ?? this.txGref[id]!, sl.offset ?? 0, sl.flags ?? 0, id, sl.size);
      }
      this.tx.reqProdPvt = (this.tx.reqProdPvt + 1) >>> 0;
    }
    if (opts.push ?? true) this.flushTx();
    return ids;
  }

  /** The next TX slot id rawTx will use, and its page (to put frame bytes there first). */
  peekTxId(): number {
    const id = this.txFree[this.txFree.length - 1];
    if (id === undefined) throw new Error('no free TX slot id');
    return id;
  }

  writeTxPage(id: number, offset: number, bytes: Uint8Array): void {
    this.mem.set(bytes, this.dom.pageOffset(this.txPage[id]!) + offset);
  }

  txPageGref(id: number): number {
    return this.txGref[id]!;
  }

  txPageNumber(id: number): number {
    return this.txPage[id]!;
  }

  rxPageGref(id: number): number {
    return this.rxGref[id]!;
  }

  rxPageNumber(id: number): number {
    return this.rxPage[id]!;
  }

  flushTx(): void {
    if (this.tx.pushRequests()) this.txCh.notify();
  }

  /**
   * Reap TX completions and RX frames; re-post RX buffers. Safe to call any time. With arm
   * (default) it ends with the final checks that re-enable notifications; without, the caller
   * is polling and the backend need not notify. Returns whether anything was done.
   */
  poll(arm = true): boolean {
    let any = false;
    for (;;) {
      let work = false;
      // TX responses
      const txProd = this.tx.readRspProd();
      let freed = 0;
      while (this.tx.rspCons !== txProd) {
        readTxResponse(this.txDv, this.tx.sring.slotOffset(this.tx.rspCons), this.txRsp);
        this.tx.rspCons = (this.tx.rspCons + 1) >>> 0;
        this.onTxResponse(this.txRsp.id, this.txRsp.status);
        if (this.txRsp.status === 1) continue; // NETIF_RSP_NULL (extra slot)
        const id = this.txRsp.id & 255;
        // Count packets, not slots: the status of a packet's first slot is the packet's.
        if (this.txHead[id] === 1) {
          if (this.txRsp.status === NETIF_RSP_OKAY) this.stats.txOk++;
          else this.stats.txErr++;
        }
        this.txFree.push(id);
        freed++;
      }
      if (freed > 0) work = true;
      // RX responses (slot index == request index; id ignored, as netfront does)
      const rxProd = this.rx.readRspProd();
      let reposted = 0;
      while (this.rx.rspCons !== rxProd) {
        const idx = this.rx.rspCons;
        readRxResponse(this.rxDv, this.rx.sring.slotOffset(idx), this.rxRsp);
        const id = idx & 255;
        this.rx.rspCons = (idx + 1) >>> 0;
        if (this.rxRsp.status > 0 && (this.rxRsp.flags & NETRXF_more_data) === 0 && this.rxRsp.offset + this.rxRsp.status <= PAGE) {
          this.stats.rxOk++;
          this.onFrame(this.mem, this.dom.pageOffset(this.rxPage[id]!) + this.rxRsp.offset, this.rxRsp.status, this.rxRsp.flags);
        } else this.stats.rxErr++;
        writeRxRequest(this.rxDv, this.rx.sring.slotOffset(this.rx.reqProdPvt), id, this.rxGref[id]!);
        this.rx.reqProdPvt = (this.rx.reqProdPvt + 1) >>> 0;
        reposted++;
      }
      if (reposted > 0) {
        work = true;
        if (this.rx.pushRequests()) this.rxCh.notify();
      }
      if (freed > 0) this.onTxSpace();
      if (work) {
        any = true;
        continue;
      }
      if (!arm) return any;
      const txMore = this.tx.finalCheckForResponses();
      const rxMore = this.rx.finalCheckForResponses();
      if (!txMore && !rxMore) return any;
    }
  }

  async close(): Promise<void> {
    await this.xs.write(`${this.fe}/state`, '5').catch(() => undefined);
    await this.xs.write(`${this.fe}/state`, '6').catch(() => undefined);
    this.dom.close();
    await this.xs.close();
  }
}

function copyInto(src: Uint8Array, so: number, dst: Uint8Array, dO: number, n: number): void {
  if (n > 256) dst.set(src.subarray(so, so + n), dO);
  else for (let i = 0; i < n; i++) dst[dO + i] = src[so + i]!;
}
