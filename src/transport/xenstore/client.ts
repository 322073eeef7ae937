// SPDX-License-Identifier: MIT
// client.ts — a xenstore client speaking the wire protocol: for our server and for a real xenstored.
//
// Requests are pipelined: each gets a fresh non-zero req_id and its reply is matched by it, so
// many calls may be in flight at once (watch events carry req_id 0). A failed request rejects
// with a XenstoreError whose `code` is the xenstore error name and whose `op`/`path` say what
// was asked. If the socket closes, every pending and later request rejects with ECONNRESET.
// Conventions: read() resolves undefined for a missing node; directory() resolves [] for a
// missing node (use read() to tell "absent" from "no children") and falls back to
// DIRECTORY_PART for lists over 4096 bytes like libxenstore; rm() of a missing node whose
// parent exists succeeds (the server's rule). Payloads over 4096 bytes are refused locally
// with E2BIG, because a real xenstored would drop the whole connection. Watch callbacks run
// synchronously as events arrive; an exception thrown by one is rethrown asynchronously
// (like an EventEmitter listener's), it does not break the connection. connect() takes a unix
// socket; /dev/xen/xenbus (a character device) is not wired yet: fromStream() is the hook.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { domainSocketPath } from './paths.js';
import { formatPerm, parsePerm, type XsPerm } from './permissions.js';
import { encodeMessage, FrameDecoder, joinStrings, splitStrings, XenstoreError, XENSTORE_PAYLOAD_MAX, XsType, type XsMessage } from './wire.js';

export type { PermChar, XsPerm } from './permissions.js';
export { XenstoreError } from './wire.js';

export type WatchCallback = (path: string, token: string) => void;

interface Pending {
  type: number;
  op: string;
  path: string | undefined;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface ClientWatch {
  path: string;
  token: string;
  cb: WatchCallback;
}

const s2b = (s: string): Buffer => Buffer.from(s, 'utf8');
/** "op path" for messages, with absurdly long paths cut (the error's `path` keeps it whole). */
const describe = (op: string, path: string | undefined): string =>
  path === undefined ? op : `${op} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`;

function watchCovers(wpath: string, epath: string): boolean {
  if (wpath.startsWith('@') || wpath === epath) return wpath === epath;
  if (wpath === '/') return epath.startsWith('/');
  return epath.startsWith(`${wpath}/`);
}

export class XenstoreClient {
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<string, ClientWatch>();
  private readonly closeHandlers: ((err?: Error) => void)[] = [];
  private readonly decoder = new FrameDecoder();
  private nextReq = 1;
  private closedWith: Error | undefined;

  private constructor(
    private readonly stream: Duplex,
    /** The socket we connected to, if any. */
    readonly socketPath: string | undefined,
  ) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (e: Error) => this.shutdown(e));
    stream.on('close', () => this.shutdown(undefined));
  }

  /** Connect to a xenstored unix socket (ours, or /run/xenstored/socket). */
  static connect(socketPath: string): Promise<XenstoreClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(socketPath);
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(Object.assign(new XenstoreError(e.code ?? 'EIO', `xenstore connect ${socketPath}: ${e.message}`, 'connect', socketPath), { errno: e.errno, syscall: e.syscall }));
      };
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        resolve(new XenstoreClient(sock, socketPath));
      });
    });
  }

  /** Speak xenstore over any byte stream (e.g. a future /dev/xen/xenbus wrapper, or a test pipe). */
  static fromStream(stream: Duplex): XenstoreClient {
    return new XenstoreClient(stream, undefined);
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Called once when the connection ends, with the reason if it was not close(). */
  onClose(cb: (err?: Error) => void): void {
    this.closeHandlers.push(cb);
  }

  async readBuffer(path: string, tx = 0): Promise<Buffer | undefined> {
    try {
      return await this.request(XsType.READ, tx, joinStrings(s2b(path)), 'read', path);
    } catch (e) {
      if (e instanceof XenstoreError && e.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async read(path: string, tx = 0): Promise<string | undefined> {
    return (await this.readBuffer(path, tx))?.toString('utf8');
  }

  async write(path: string, value: string | Buffer, tx = 0): Promise<void> {
    const v = typeof value === 'string' ? s2b(value) : value;
    await this.request(XsType.WRITE, tx, Buffer.concat([joinStrings(s2b(path)), v]), 'write', path);
  }

  async mkdir(path: string, tx = 0): Promise<void> {
    await this.request(XsType.MKDIR, tx, joinStrings(s2b(path)), 'mkdir', path);
  }

  /** Remove a node and everything below it. */
  async rm(path: string, tx = 0): Promise<void> {
    await this.request(XsType.RM, tx, joinStrings(s2b(path)), 'rm', path);
  }

  /** Child names; [] when the node does not exist. */
  async directory(path: string, tx = 0): Promise<string[]> {
    try {
      const b = await this.request(XsType.DIRECTORY, tx, joinStrings(s2b(path)), 'directory', path);
      return splitUtf8(b);
    } catch (e) {
      if (!(e instanceof XenstoreError)) throw e;
      if (e.code === 'ENOENT') return [];
      if (e.code === 'E2BIG') return this.directoryPart(path, tx);
      throw e;
    }
  }

  /** As libxenstore's xs_directory_part: fetch by offset, restart if the node changed meanwhile. */
  private async directoryPart(path: string, tx: number): Promise<string[]> {
    for (let restarts = 0; restarts < 16; restarts++) {
      const chunks: Buffer[] = [];
      let gen: string | undefined;
      let off = 0;
      for (;;) {
        const b = await this.request(XsType.DIRECTORY_PART, tx, joinStrings(s2b(path), String(off)), 'directory', path);
        const nul = b.indexOf(0);
        const g = b.toString('latin1', 0, nul);
        if (gen !== undefined && g !== gen) break;
        gen = g;
        const part = b.subarray(nul + 1);
        chunks.push(part);
        off += part.length;
        // The last part ends in an extra nul (an empty string after the final name).
        if (part.length <= 1 || part[part.length - 2] === 0) return splitUtf8(Buffer.concat(chunks).subarray(0, -1));
      }
    }
    throw new XenstoreError('EAGAIN', `directory ${path}: kept changing`, 'directory', path);
  }

  async getPerms(path: string, tx = 0): Promise<XsPerm[]> {
    const b = await this.request(XsType.GET_PERMS, tx, joinStrings(s2b(path)), 'getPerms', path);
    return splitStrings(b).map(parsePerm);
  }

  /** perms[0] is the owner and everybody's default; the rest grant specific domains. */
  async setPerms(path: string, perms: readonly XsPerm[], tx = 0): Promise<void> {
    if (perms.length === 0) throw new XenstoreError('EINVAL', `setPerms ${path}: empty permission list`, 'setPerms', path);
    await this.request(XsType.SET_PERMS, tx, joinStrings(s2b(path), ...perms.map(formatPerm)), 'setPerms', path);
  }

  /** Watch a node and its subtree; `cb` also fires once right away, with `path`. */
  async watch(path: string, token: string, cb: WatchCallback): Promise<void> {
    const key = `${path}\0${token}`;
    if (this.watches.has(key)) throw new XenstoreError('EEXIST', `watch ${path} ${token}: already set`, 'watch', path);
    this.watches.set(key, { path, token, cb }); // before the request: the first event follows the OK at once
    try {
      await this.request(XsType.WATCH, 0, joinStrings(s2b(path), s2b(token)), 'watch', path);
    } catch (e) {
      this.watches.delete(key);
      throw e;
    }
  }

  /** No callback runs for this watch after unwatch() is called, even for events already in flight. */
  async unwatch(path: string, token: string): Promise<void> {
    this.watches.delete(`${path}\0${token}`);
    await this.request(XsType.UNWATCH, 0, joinStrings(s2b(path), s2b(token)), 'unwatch', path);
  }

  async resetWatches(): Promise<void> {
    this.watches.clear();
    await this.request(XsType.RESET_WATCHES, 0, joinStrings(''), 'resetWatches', undefined);
  }

  async transactionStart(): Promise<number> {
    const b = await this.request(XsType.TRANSACTION_START, 0, joinStrings(''), 'transactionStart', undefined);
    return Number(splitStrings(b)[0]);
  }

  /** Commit (true) or abort (false). A commit that conflicted rejects with code EAGAIN. */
  async transactionEnd(tx: number, commit: boolean): Promise<void> {
    await this.request(XsType.TRANSACTION_END, tx, joinStrings(commit ? 'T' : 'F'), 'transactionEnd', undefined);
  }

  /**
   * Run `fn` in a transaction and commit; on EAGAIN start over (at most `attempts` times, with a
   * short random back-off so two retrying writers do not collide forever). If `fn` throws, the
   * transaction is aborted and the error rethrown.
   */
  async transaction<T>(fn: (tx: number) => Promise<T>, opts: { attempts?: number } = {}): Promise<T> {
    const attempts = opts.attempts ?? 16;
    for (let i = 1; ; i++) {
      const tx = await this.transactionStart();
      let result: T;
      try {
        result = await fn(tx);
      } catch (e) {
        await this.transactionEnd(tx, false).catch(() => undefined);
        throw e;
      }
      try {
        await this.transactionEnd(tx, true);
        return result;
      } catch (e) {
        if (!(e instanceof XenstoreError) || e.code !== 'EAGAIN' || i >= attempts) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** i)));
      }
    }
  }

  /**
   * XS_INTRODUCE (dom0 only). Resolves to the socket phoenix xenstored opened for the domain
   * (`<our socket>.d<domid>`); that path means nothing to a real xenstored, which instead needs
   * a real ring page `gfn` and event channel `port` (our server treats both as opaque).
   */
  async introduce(domid: number, gfn = 0, port = 1): Promise<string> {
    if (this.socketPath === undefined) throw new XenstoreError('EINVAL', 'introduce: this client has no socket path to derive the domain socket from', 'introduce');
    await this.request(XsType.INTRODUCE, 0, joinStrings(String(domid), String(gfn), String(port)), 'introduce', undefined);
    return domainSocketPath(this.socketPath, domid);
  }

  async release(domid: number): Promise<void> {
    await this.request(XsType.RELEASE, 0, joinStrings(String(domid)), 'release', undefined);
  }

  async getDomainPath(domid: number): Promise<string> {
    const b = await this.request(XsType.GET_DOMAIN_PATH, 0, joinStrings(String(domid)), 'getDomainPath', undefined);
    return splitUtf8(b)[0] ?? '';
  }

  async isDomainIntroduced(domid: number): Promise<boolean> {
    const b = await this.request(XsType.IS_DOMAIN_INTRODUCED, 0, joinStrings(String(domid)), 'isDomainIntroduced', undefined);
    return splitStrings(b)[0] === 'T';
  }

  async close(): Promise<void> {
    if (this.closedWith !== undefined) return;
    const done = new Promise<void>((r) => this.stream.once('close', () => r()));
    this.shutdown(undefined);
    this.stream.destroy();
    await done;
  }

  /** Send one request and await its reply payload. Exposed for tests and rarely used types. */
  request(type: number, tx: number, payload: Buffer, op: string, path: string | undefined): Promise<Buffer> {
    if (this.closedWith !== undefined) {
      return Promise.reject(new XenstoreError('ECONNRESET', `${describe(op, path)}: xenstore connection closed`, op, path));
    }
    if (payload.length > XENSTORE_PAYLOAD_MAX) {
      return Promise.reject(new XenstoreError('E2BIG', `${describe(op, path)}: request of ${payload.length} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`, op, path));
    }
    const reqId = this.nextReq;
    this.nextReq = this.nextReq >= 0xffffffff ? 1 : this.nextReq + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { type, op, path, resolve, reject });
      this.stream.write(encodeMessage(type, reqId, tx, payload));
    });
  }

  private onData(chunk: Buffer): void {
    let msgs: XsMessage[];
    try {
      msgs = this.decoder.push(chunk);
    } catch (e) {
      this.shutdown(new XenstoreError('EPROTO', `xenstore: ${(e as Error).message}`));
      this.stream.destroy();
      return;
    }
    for (const m of msgs) {
      if (m.type === XsType.WATCH_EVENT) this.onEvent(m.payload);
      else this.onReply(m);
    }
  }

  private onReply(m: XsMessage): void {
    const p = this.pending.get(m.reqId);
    if (p === undefined) return; // not ours (or already given up on)
    this.pending.delete(m.reqId);
    const what = describe(p.op, p.path);
    if (m.type === XsType.ERROR) {
      const code = splitStrings(m.payload)[0] ?? 'EINVAL';
      p.reject(new XenstoreError(code, `${what}: ${code}`, p.op, p.path));
    } else if (m.type !== p.type) {
      p.reject(new XenstoreError('EPROTO', `${what}: reply of type ${m.type}, expected ${p.type}`, p.op, p.path));
    } else {
      p.resolve(m.payload);
    }
  }

  private onEvent(payload: Buffer): void {
    const [path, token] = splitUtf8(payload);
    if (path === undefined || token === undefined) return;
    const byToken = [...this.watches.values()].filter((w) => w.token === token);
    const exact = byToken.filter((w) => watchCovers(w.path, path));
    for (const w of exact.length > 0 ? exact : byToken) {
      try {
        w.cb(path, token);
      } catch (e) {
        setImmediate(() => {
          throw e;
        });
      }
    }
  }

  private shutdown(err: Error | undefined): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = err ?? new XenstoreError('ECONNRESET', 'xenstore connection closed');
    for (const [, p] of this.pending) {
      p.reject(new XenstoreError('ECONNRESET', `${describe(p.op, p.path)}: xenstore connection closed`, p.op, p.path));
    }
    this.pending.clear();
    for (const cb of this.closeHandlers) cb(err);
  }
}

function splitUtf8(b: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0) {
      out.push(b.toString('utf8', start, i));
      start = i + 1;
    }
  }
  return out;
}
