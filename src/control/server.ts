// SPDX-License-Identifier: MIT
// server.ts — the service's local control socket: one JSON request per line, one JSON answer per line.
//
// Fault injection (`phoenix inject`) and status queries reach a running `phoenix serve` here.
// Only root may use it, by file permissions: the socket lives in a directory we create mode 0700
// and is itself mode 0600, both owned by the serving user (root in production). A socket path
// left by a dead server is replaced; one a live server answers on is refused (two services on
// one socket would be a configuration error worth saying). Requests are untrusted bytes too:
// a line over MAX_LINE bytes closes the connection, a bad request gets {"ok":false,"error":…}.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export const DEFAULT_CONTROL_SOCKET = '/run/phoenix/control.sock';
export const MAX_LINE = 4096;

export type ControlRequest = { op: string } & Record<string, unknown>;
export type ControlHandler = (req: ControlRequest) => Promise<Record<string, unknown>> | Record<string, unknown>;

/** A handler's way to refuse with a message for the user (other exceptions are reported too). */
export class ControlError extends Error {}

export class ControlServer {
  private readonly conns = new Set<Socket>();
  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  static async listen(path: string, handlers: Record<string, ControlHandler>): Promise<ControlServer> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    await removeStale(path);
    const server = createServer();
    const self = new ControlServer(path, server);
    server.on('connection', (s) => self.serve(s, handlers));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    return self;
  }

  private serve(s: Socket, handlers: Record<string, ControlHandler>): void {
    this.conns.add(s);
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => s.destroy());
    let buf = '';
    let chain = Promise.resolve();
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.slice(0, MAX_LINE + 1).includes('\n')) {
        s.end(JSON.stringify({ ok: false, error: `request over ${MAX_LINE} bytes` }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        chain = chain.then(async () => {
          const answer = await answerLine(line, handlers);
          if (!s.destroyed) s.write(JSON.stringify(answer) + '\n');
        });
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.conns) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

async function answerLine(line: string, handlers: Record<string, ControlHandler>): Promise<Record<string, unknown>> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON: send one JSON object per line, e.g. {"op":"status"}' };
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req) || typeof (req as { op?: unknown }).op !== 'string') {
    return { ok: false, error: 'a request is a JSON object with a string "op"' };
  }
  const r = req as ControlRequest;
  const h = Object.hasOwn(handlers, r.op) ? handlers[r.op] : undefined;
  if (h === undefined) return { ok: false, error: `unknown op "${r.op}"; known: ${Object.keys(handlers).sort().join(', ')}` };
  try {
    return { ok: true, ...(await h(r)) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Remove a socket file nobody answers on; refuse one a live server holds. */
async function removeStale(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`control socket path ${path} exists and is not a socket: remove it or choose another with --control`);
  const live = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another phoenix service is listening on ${path}: stop it, or give this one another --control path`);
  unlinkSync(path);
}

/** Send one request and wait for its answer. */
export async function controlRequest(path: string, req: ControlRequest, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms (is the service hung?)`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.once('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch {
        reject(new Error(`bad answer from ${path}`));
      }
    });
    c.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint =
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? `no service listening on ${path}: start \`phoenix serve\` (its --control option names the socket)`
          : e.code === 'EACCES'
            ? `permission denied on ${path}: the control socket is root's only; run as root`
            : e.message;
      reject(Object.assign(new Error(hint), { code: e.code }));
    });
  });
}
