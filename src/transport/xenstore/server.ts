// SPDX-License-Identifier: MIT
// server.ts — our xenstored: the real wire protocol on unix sockets, for machines without Xen.
//
// Connections on `socketPath` are dom0 (privileged), as on /run/xenstored/socket. Each
// introduced domain D gets its own socket, `${socketPath}.d<D>`, whose connections act as D
// (unprivileged, home /local/domain/D): that is how a test guest talks to xenstore as a
// domain without a hypervisor. Introduction comes from introduceDomain() or from dom0's
// XS_INTRODUCE (ring page and event channel arguments are opaque here) and fires
// @introduceDomain. Release (releaseDomain() or XS_RELEASE) drops the domain's connections
// with their watches and transactions, removes the nodes the domain owns and its entries in
// other nodes' permission lists (Xen 4.17 does the same, so a later domain reusing the id
// inherits nothing), then fires @releaseDomain. Everything else lives in ops.ts (node
// operations), dispatch.ts (request types), transactions.ts, watches.ts and connection.ts.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Logger } from '../../util/log.js';
import { Connection } from './connection.js';
import { dispatch, DOMID_FIRST_RESERVED, type ServerCore } from './dispatch.js';
import { DEFAULT_QUOTAS, removeSubtree, type OpContext, type Quotas } from './ops.js';
import { childPath, domainSocketPath } from './paths.js';
import { PERM_READ, permFor, type Identity, type XsPerm } from './permissions.js';
import { GlobalView, Store } from './store.js';
import { Transaction } from './transactions.js';
import { eventPermitted, INTRODUCE_DOMAIN, isSpecial, RELEASE_DOMAIN, reportedPath, watchMatches, type ChangeEvent } from './watches.js';
import { XenstoreError, type XsMessage } from './wire.js';

export interface XenstoreServerOptions {
  /** The dom0 (privileged) socket. Domain sockets are created next to it. */
  socketPath: string;
  /** Limits for unprivileged domains (defaults: C xenstored's). */
  quota?: Partial<Quotas>;
  log?: Logger;
}

interface Domain {
  readonly domid: number;
  readonly who: Identity;
  readonly socketPath: string;
  readonly conns: Set<Connection>;
  listener?: net.Server;
}

const DOM0: Identity = Object.freeze({ domid: 0, privileged: true });
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => silent };

export class XenstoreServer implements ServerCore {
  readonly quota: Quotas;
  readonly special = new Map<string, XsPerm[]>([
    [INTRODUCE_DOMAIN, [{ id: 0, perm: 'n' }]],
    [RELEASE_DOMAIN, [{ id: 0, perm: 'n' }]],
  ]);
  private readonly store = new Store();
  readonly globalView = new GlobalView(this.store);
  private readonly conns = new Set<Connection>();
  private readonly domains = new Map<number, Domain>();
  private readonly introducing = new Map<number, Promise<Domain>>();
  private readonly log: Logger;
  private listener: net.Server | undefined;
  private closing = false;
  private eventsDroppedClosed = 0;

  private constructor(
    readonly socketPath: string,
    opts: XenstoreServerOptions,
  ) {
    this.quota = { ...DEFAULT_QUOTAS, ...opts.quota };
    this.log = opts.log ?? silent;
  }

  static async start(opts: XenstoreServerOptions): Promise<XenstoreServer> {
    const s = new XenstoreServer(opts.socketPath, opts);
    s.listener = await listenUnix(opts.socketPath, (sock) => s.accept(sock, DOM0, undefined));
    return s;
  }

  /** Where domain `domid` connects (whether or not it is introduced yet). */
  domainSocketPath(domid: number): string {
    return domainSocketPath(this.socketPath, domid);
  }

  /** Give domain `domid` its socket (idempotent) and fire @introduceDomain the first time. */
  async introduceDomain(domid: number): Promise<string> {
    if (!Number.isInteger(domid) || domid <= 0 || domid >= DOMID_FIRST_RESERVED) {
      throw new XenstoreError('EINVAL', `cannot introduce domain ${domid}`, 'introduce');
    }
    return (await this.ensureDomain(domid)).socketPath;
  }

  /** Disconnect domain `domid`, remove what it owns, fire @releaseDomain. */
  async releaseDomain(domid: number): Promise<void> {
    await this.introducing.get(domid)?.catch(() => undefined);
    const d = this.domains.get(domid);
    if (d === undefined) throw new XenstoreError('ENOENT', `domain ${domid} is not introduced`, 'release');
    this.domains.delete(domid);
    for (const c of [...d.conns]) c.destroy('domain released');
    closeListener(d.listener, d.socketPath);
    this.forgetDomain(domid);
    this.fire({ path: RELEASE_DOMAIN, exact: true });
    this.log.info({ domid }, 'xenstore domain released');
  }

  isIntroduced(domid: number): boolean {
    return this.domains.has(domid);
  }

  /** Tree size, connections, domains; unsent bytes over all connections; watch events dropped for slow readers. */
  get stats(): { nodes: number; connections: number; domains: number; unsentBytes: number; eventsDropped: number } {
    let unsentBytes = 0;
    let eventsDropped = this.eventsDroppedClosed;
    for (const c of this.conns) {
      unsentBytes += c.socket.writableLength;
      eventsDropped += c.eventsDropped;
    }
    return { nodes: this.store.size, connections: this.conns.size, domains: this.domains.size, unsentBytes, eventsDropped };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.allSettled([...this.introducing.values()]);
    for (const c of [...this.conns]) c.destroy('server closing');
    for (const d of this.domains.values()) closeListener(d.listener, d.socketPath);
    this.domains.clear();
    closeListener(this.listener, this.socketPath);
  }

  // ---- ServerCore, used by dispatch.ts ----

  fire(ev: ChangeEvent): void {
    const special = isSpecial(ev.path) ? this.special.get(ev.path) : undefined;
    for (const c of this.conns) {
      if (c.closed || c.watches.length === 0) continue;
      if (isSpecial(ev.path)) {
        if (special === undefined || (permFor(c.who, special) & PERM_READ) === 0) continue;
      } else if (!eventPermitted(c.who, ev)) continue;
      for (const w of c.watches) if (watchMatches(w, ev)) c.sendEvent(reportedPath(w, ev.path), w.token);
    }
  }

  newTransaction(conn: Connection, id: number): Transaction {
    return new Transaction(id, this.store, conn.who.privileged ? Infinity : this.quota.transactionNodes);
  }

  domainWatchCount(conn: Connection): number {
    const d = this.domains.get(conn.who.domid);
    let n = 0;
    for (const c of d?.conns ?? [conn]) n += c.watches.length;
    return n;
  }

  async introduce(domid: number): Promise<void> {
    await this.ensureDomain(domid);
  }

  async release(domid: number): Promise<void> {
    await this.releaseDomain(domid);
  }

  setTarget(domid: number, target: number): void {
    const d = this.domains.get(domid);
    if (d !== undefined) d.who.target = target;
  }

  control(args: string[]): string {
    switch (args[0]) {
      case 'help':
        return 'check\t\nhelp\t\nprint\t<string>\n';
      case 'check':
        return 'OK';
      case 'print':
        this.log.info({ text: args.slice(1).join(' ') }, 'xenstore control print');
        return 'OK';
      default:
        throw new XenstoreError('EINVAL', `unknown control command ${args[0]}`);
    }
  }

  // ---- internals ----

  private ensureDomain(domid: number): Promise<Domain> {
    const have = this.domains.get(domid);
    if (have !== undefined) return Promise.resolve(have);
    const pending = this.introducing.get(domid);
    if (pending !== undefined) return pending;
    if (this.closing) return Promise.reject(new XenstoreError('EIO', 'server closing', 'introduce'));
    const d: Domain = { domid, who: { domid, privileged: false }, socketPath: this.domainSocketPath(domid), conns: new Set() };
    const p = listenUnix(d.socketPath, (sock) => this.accept(sock, d.who, d)).then((listener) => {
      d.listener = listener;
      this.domains.set(domid, d);
      this.fire({ path: INTRODUCE_DOMAIN, exact: true });
      this.log.info({ domid, socket: d.socketPath }, 'xenstore domain introduced');
      return d;
    });
    this.introducing.set(domid, p);
    const forget = (): void => {
      this.introducing.delete(domid);
    };
    p.then(forget, forget);
    return p;
  }

  private accept(sock: net.Socket, who: Identity, d: Domain | undefined): void {
    if (this.closing || (d !== undefined && (this.domains.get(d.domid) !== d || d.conns.size >= this.quota.connectionsPerDomain))) {
      sock.destroy();
      return;
    }
    const c = new Connection(sock, who, (conn, msg) => this.safeDispatch(conn, msg), this.quota.outputBytes, (conn, why) => {
      this.conns.delete(conn);
      d?.conns.delete(conn);
      this.eventsDroppedClosed += conn.eventsDropped;
      conn.watches.length = 0;
      conn.transactions.clear();
      if (why !== undefined) this.log.warn({ domid: who.domid, why }, 'xenstore connection dropped');
    });
    this.conns.add(c);
    d?.conns.add(c);
  }

  private safeDispatch(conn: Connection, msg: XsMessage): ReturnType<typeof dispatch> {
    const bug = (e: unknown): never => {
      if (!(e instanceof XenstoreError)) this.log.error({ err: String(e), type: msg.type }, 'xenstore request failed unexpectedly');
      throw e;
    };
    try {
      const r = dispatch(this, conn, msg);
      return r instanceof Promise ? r.catch(bug) : r;
    } catch (e) {
      return bug(e);
    }
  }

  /** Remove the nodes `domid` owns (with their subtrees) and its entries in other nodes' ACLs. */
  private forgetDomain(domid: number): void {
    const ctx: OpContext = { who: DOM0, view: this.globalView, quota: this.quota, special: this.special, emit: (ev) => this.fire(ev) };
    const doomed: string[] = [];
    const stack = ['/'];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const n = this.store.get(p)!;
      if (p !== '/' && n.perms[0]!.id === domid) {
        doomed.push(p);
        continue;
      }
      if (n.perms.some((e, i) => i > 0 && e.id === domid)) n.perms = n.perms.filter((e, i) => i === 0 || e.id !== domid);
      for (const c of n.children) stack.push(childPath(p, c));
    }
    for (const p of doomed) if (this.store.get(p) !== undefined) removeSubtree(ctx, p);
    for (const [name, perms] of this.special) {
      const kept = perms.filter((e, i) => i === 0 || e.id !== domid);
      if (kept[0]!.id === domid) kept[0] = { id: 0, perm: kept[0]!.perm };
      this.special.set(name, kept);
    }
  }
}

/** Listen on a unix socket path; a stale socket file left by a dead server is replaced. */
async function listenUnix(path: string, onConn: (s: net.Socket) => void): Promise<net.Server> {
  const once = (srv: net.Server): Promise<void> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(path, () => {
        srv.off('error', reject);
        resolve();
      });
    });
  let server = net.createServer(onConn);
  try {
    await once(server);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !(await isStale(path))) throw e;
    fs.rmSync(path, { force: true });
    server = net.createServer(onConn);
    await once(server);
  }
  server.on('error', () => undefined);
  fs.chmodSync(path, 0o600); // like /run/xenstored/socket: whoever can connect is trusted as that domain
  return server;
}

function isStale(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' || e.code === 'ENOENT'));
  });
}

function closeListener(l: net.Server | undefined, path: string): void {
  l?.close();
  fs.rmSync(path, { force: true });
}
