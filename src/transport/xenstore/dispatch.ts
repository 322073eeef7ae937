// SPDX-License-Identifier: MIT
// dispatch.ts — maps each request type to its handler: node ops, watches, transactions, domains.
//
// Rules taken from process_message() in tools/xenstore/xenstored_core.c: a non-zero tx_id must
// name an open transaction of this connection (ENOENT otherwise) except for WATCH/UNWATCH,
// which ignore it; CONTROL, INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, RESUME and SET_TARGET are
// for privileged callers only (EACCES). Types xs_wire.h defines that we do not serve (20 was
// RESTRICT; 23..26 are newer than 4.17; WATCH_EVENT and ERROR are not requests) answer ENOSYS,
// as C xenstored does; numbers outside the enum answer EINVAL, as oxenstored does.
import type { Connection, Reply } from './connection.js';
import type { Quotas, OpContext } from './ops.js';
import { opDirectory, opDirectoryPart, opGetPerms, opMkdir, opRead, opRm, opSetPerms, opWrite } from './ops.js';
import { canonicalize, domainPath, isValidNodename, parseDomid } from './paths.js';
import type { XsPerm } from './permissions.js';
import type { TreeView } from './store.js';
import type { Transaction } from './transactions.js';
import { reportedPath, type ChangeEvent, type Watch } from './watches.js';
import { isKnownType, joinStrings, oneArg, splitStrings, XenstoreError, XENSTORE_REL_PATH_MAX, XsType, type XsMessage } from './wire.js';

/** What the dispatcher needs from the server. */
export interface ServerCore {
  readonly quota: Quotas;
  readonly special: Map<string, XsPerm[]>;
  readonly globalView: TreeView;
  fire(ev: ChangeEvent): void;
  newTransaction(conn: Connection, id: number): Transaction;
  /** Watches held by all connections of this connection's domain (the quota is per domain). */
  domainWatchCount(conn: Connection): number;
  isIntroduced(domid: number): boolean;
  introduce(domid: number): Promise<void>;
  release(domid: number): Promise<void>;
  setTarget(domid: number, target: number): void;
  control(args: string[]): string;
}

export const DOMID_FIRST_RESERVED = 0x7ff0;
const DOMID_SELF = 0x7ff0;
const XS_RESTRICT = 20; // removed in Xen 4.9; still inside the enum, so ENOSYS like the other unserved types
const PRIVILEGED_ONLY = new Set<number>([XsType.CONTROL, XsType.INTRODUCE, XsType.RELEASE, XsType.IS_DOMAIN_INTRODUCED, XsType.RESUME, XsType.SET_TARGET]);
type NodeOp = (ctx: OpContext, payload: Buffer) => Buffer;
const NODE_OPS = new Map<number, NodeOp>([
  [XsType.READ, opRead],
  [XsType.WRITE, opWrite],
  [XsType.MKDIR, opMkdir],
  [XsType.RM, opRm],
  [XsType.DIRECTORY, opDirectory],
  [XsType.DIRECTORY_PART, opDirectoryPart],
  [XsType.GET_PERMS, opGetPerms],
  [XsType.SET_PERMS, opSetPerms],
]);

const OK = joinStrings('OK');
const fail = (code: string, msg?: string): XenstoreError => new XenstoreError(code, msg);

function domidArg(payload: Buffer): number {
  const d = parseDomid(oneArg(payload));
  if (d === undefined) throw fail('EINVAL', 'expected <domid>|');
  return d;
}

export function dispatch(core: ServerCore, conn: Connection, msg: XsMessage): Reply | Promise<Reply> {
  const { type, payload } = msg;
  if (!isKnownType(type) && type !== XS_RESTRICT) throw fail('EINVAL', `unknown message type ${type}`);
  if (PRIVILEGED_ONLY.has(type) && !conn.who.privileged) throw fail('EACCES');
  const notx = type === XsType.WATCH || type === XsType.UNWATCH;
  let tx: Transaction | undefined;
  if (!notx && msg.txId !== 0) {
    tx = conn.transactions.get(msg.txId);
    if (tx === undefined) throw fail('ENOENT', `no transaction ${msg.txId}`);
  }
  const reply = (p: Buffer, after?: () => void): Reply => ({ type, payload: p, after });

  const nodeOp = NODE_OPS.get(type);
  if (nodeOp !== undefined) {
    const t = tx;
    const ctx: OpContext = {
      who: conn.who,
      view: t ?? core.globalView,
      quota: core.quota,
      special: core.special,
      emit: t === undefined ? (ev) => core.fire(ev) : (ev) => t.events.push(ev),
    };
    return reply(nodeOp(ctx, payload));
  }

  switch (type) {
    case XsType.WATCH: {
      const args = splitStrings(payload);
      if (args.length !== 2) throw fail('EINVAL', 'WATCH needs <path>|<token>|');
      const [raw, token] = args as [string, string];
      let node = raw;
      let relativeTo: string | undefined;
      if (raw.startsWith('@')) {
        if (raw.length > XENSTORE_REL_PATH_MAX) throw fail('EINVAL');
      } else {
        if (!raw.startsWith('/')) relativeTo = domainPath(conn.who.domid);
        node = canonicalize(raw, conn.who.domid);
        if (!isValidNodename(node)) throw fail('EINVAL', 'invalid watch path');
      }
      if (conn.watches.some((w) => w.node === node && w.token === token)) throw fail('EEXIST');
      if (!conn.who.privileged && core.domainWatchCount(conn) >= core.quota.watches) throw fail('E2BIG', 'watch quota reached');
      const w: Watch = { node, token, relativeTo };
      conn.watches.push(w);
      // Fires once straight away, after the OK, with the watched path (xenstored does so).
      return reply(OK, () => conn.sendEvent(reportedPath(w, node), token));
    }
    case XsType.UNWATCH: {
      const args = splitStrings(payload);
      if (args.length !== 2) throw fail('EINVAL', 'UNWATCH needs <path>|<token>|');
      const node = canonicalize(args[0]!, conn.who.domid);
      const i = conn.watches.findIndex((w) => w.node === node && w.token === args[1]);
      if (i < 0) throw fail('ENOENT');
      conn.watches.splice(i, 1);
      return reply(OK);
    }
    case XsType.RESET_WATCHES:
      conn.watches.length = 0;
      conn.transactions.clear();
      return reply(OK);
    case XsType.TRANSACTION_START: {
      if (tx !== undefined) throw fail('EBUSY', 'nested transactions are not supported');
      if (!conn.who.privileged && conn.transactions.size >= core.quota.transactions) throw fail('ENOSPC', 'transaction quota reached');
      const id = conn.allocTxId();
      conn.transactions.set(id, core.newTransaction(conn, id));
      return reply(joinStrings(String(id)));
    }
    case XsType.TRANSACTION_END: {
      const arg = oneArg(payload);
      if (arg !== 'T' && arg !== 'F') throw fail('EINVAL', 'TRANSACTION_END needs T| or F|');
      if (tx === undefined) throw fail('ENOENT', 'no transaction');
      conn.transactions.delete(tx.id);
      if (arg === 'T') {
        const d = conn.who.domid;
        if (!conn.who.privileged && tx.grows(d) && tx.ownedCount(d) > core.quota.nodes) throw fail('ENOSPC', 'node quota');
        for (const ev of tx.commit()) core.fire(ev);
      }
      return reply(OK);
    }
    case XsType.GET_DOMAIN_PATH:
      return reply(joinStrings(domainPath(domidArg(payload))));
    case XsType.IS_DOMAIN_INTRODUCED: {
      const d = domidArg(payload);
      return reply(joinStrings(d === DOMID_SELF || d === 0 || core.isIntroduced(d) ? 'T' : 'F'));
    }
    case XsType.INTRODUCE: {
      const args = splitStrings(payload);
      if (args.length < 3) throw fail('EINVAL', 'INTRODUCE needs <domid>|<gfn>|<evtchn>|');
      const d = parseDomid(args[0]);
      const port = Number(/^-?\d*/.exec(args[2]!)![0] || '0'); // atoi; the ring page and port are opaque to us
      if (d === undefined || d === 0 || d >= DOMID_FIRST_RESERVED || !(port > 0)) throw fail('EINVAL');
      return core.introduce(d).then(() => reply(OK));
    }
    case XsType.RELEASE:
    case XsType.RESUME: {
      const d = domidArg(payload);
      if (d === 0) throw fail('EINVAL');
      if (!core.isIntroduced(d)) throw fail('ENOENT');
      return type === XsType.RELEASE ? core.release(d).then(() => reply(OK)) : reply(OK);
    }
    case XsType.SET_TARGET: {
      const args = splitStrings(payload);
      const d = parseDomid(args[0]);
      const t = parseDomid(args[1]);
      if (args.length < 2 || d === undefined || t === undefined) throw fail('EINVAL');
      if (!core.isIntroduced(d) || !core.isIntroduced(t)) throw fail('ENOENT');
      core.setTarget(d, t);
      return reply(OK);
    }
    case XsType.CONTROL: {
      const args = splitStrings(payload);
      if (args.length === 0) throw fail('EINVAL');
      return reply(joinStrings(core.control(args)));
    }
    default:
      throw fail('ENOSYS', `message type ${type} is not served`);
  }
}
