// SPDX-License-Identifier: MIT
// connection.ts — one client socket of our xenstored: framing, in-order dispatch, replies, events, limits.
//
// Requests are handled strictly in arrival order, one at a time (a handler may be async, e.g.
// INTRODUCE, which opens a socket); replies echo req_id and tx_id, errors become XS_ERROR with
// the errno name. A broken stream (a len over 4096) closes this connection only, as xenstored
// does. An unprivileged peer cannot make us buffer without bound: we stop reading from it while
// its queued requests or its unsent output are over their limits, and drop watch events for it
// while its output is over the limit (xenstored drops events past a domain's memory quota).
import type { Socket } from 'node:net';
import type { Identity } from './permissions.js';
import type { Transaction } from './transactions.js';
import type { Watch } from './watches.js';
import { encodeMessage, FrameDecoder, isXsErrorName, joinStrings, XenstoreError, XENSTORE_PAYLOAD_MAX, XsType, type XsMessage } from './wire.js';

export interface Reply {
  type: number;
  payload: Buffer;
  /** Runs after the reply is queued (a new watch fires once, after its OK). */
  after?: () => void;
}

export type Dispatch = (conn: Connection, msg: XsMessage) => Reply | Promise<Reply>;

/** Requests we hold unprocessed before we stop reading from the socket. */
const QUEUE_HIGH = 64;

export class Connection {
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  closed = false;
  eventsDropped = 0;
  private nextTx = 1;
  private readonly decoder = new FrameDecoder();
  private readonly queue: XsMessage[] = [];
  private busy = false;

  constructor(
    readonly socket: Socket,
    readonly who: Identity,
    private readonly dispatch: Dispatch,
    private readonly outputLimit: number,
    private readonly onClose: (c: Connection, why: string | undefined) => void,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.pump());
    socket.on('error', () => undefined); // 'close' follows and does the cleanup
    socket.on('close', () => this.finish(undefined));
  }

  /** Allocate a transaction id: non-zero, not in use on this connection. */
  allocTxId(): number {
    for (;;) {
      const id = this.nextTx;
      this.nextTx = this.nextTx >= 0xffffffff ? 1 : this.nextTx + 1;
      if (!this.transactions.has(id)) return id;
    }
  }

  sendEvent(path: string, token: string): void {
    if (this.closed) return;
    const payload = joinStrings(path, token);
    if (payload.length > XENSTORE_PAYLOAD_MAX) return; // xenstored does not send over-long events
    if (!this.who.privileged && this.socket.writableLength > this.outputLimit) {
      this.eventsDropped++;
      return;
    }
    this.socket.write(encodeMessage(XsType.WATCH_EVENT, 0, 0, payload));
  }

  /** Drop the connection (protocol violation, domain released, server closing). */
  destroy(why: string): void {
    this.finish(why);
    this.socket.destroy();
  }

  private finish(why: string | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.onClose(this, why);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let msgs: XsMessage[];
    try {
      msgs = this.decoder.push(chunk);
    } catch (e) {
      this.destroy((e as Error).message);
      return;
    }
    for (const m of msgs) this.queue.push(m);
    this.pump();
  }

  private outputBlocked(): boolean {
    return !this.who.privileged && this.socket.writableLength > this.outputLimit;
  }

  private pump(): void {
    while (!this.busy && !this.closed && this.queue.length > 0 && !this.outputBlocked()) {
      const msg = this.queue.shift()!;
      let r: Reply | Promise<Reply>;
      try {
        r = this.dispatch(this, msg);
      } catch (e) {
        this.replyError(msg, e);
        continue;
      }
      if (r instanceof Promise) {
        this.busy = true;
        r.then(
          (reply) => this.reply(msg, reply),
          (e: unknown) => this.replyError(msg, e),
        ).finally(() => {
          this.busy = false;
          this.pump();
        });
        break;
      }
      this.reply(msg, r);
    }
    if (this.closed) return;
    // Flow control: stop reading while we are behind, start again once caught up.
    if (this.queue.length >= QUEUE_HIGH || this.outputBlocked()) this.socket.pause();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  private reply(req: XsMessage, r: Reply): void {
    if (this.closed) return;
    if (r.payload.length > XENSTORE_PAYLOAD_MAX) {
      this.replyError(req, new XenstoreError('E2BIG'));
      return;
    }
    this.socket.write(encodeMessage(r.type, req.reqId, req.txId, r.payload));
    r.after?.();
  }

  private replyError(req: XsMessage, e: unknown): void {
    if (this.closed) return;
    let code = 'EINVAL';
    if (e instanceof XenstoreError && isXsErrorName(e.code)) code = e.code;
    else if (!(e instanceof XenstoreError)) code = 'EIO'; // a bug of ours; the peer gets an answer anyway
    this.socket.write(encodeMessage(XsType.ERROR, req.reqId, req.txId, joinStrings(code)));
  }
}
