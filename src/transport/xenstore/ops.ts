// SPDX-License-Identifier: MIT
// ops.ts — the node operations (READ, WRITE, MKDIR, RM, DIRECTORY[_PART], GET/SET_PERMS) on a TreeView.
//
// Each op takes the request payload and returns the reply payload, or throws a XenstoreError
// whose code is the xenstore error name. Checks mirror tools/xenstore/xenstored_core.c:
// get_node() answers EACCES for a node the caller may not access, and for a missing node
// answers ENOENT only if the nearest existing ancestor would have allowed the access (so a
// guest cannot probe dom0's tree); WRITE and MKDIR create missing ancestors, which inherit
// their parent's permissions, with an unprivileged creator becoming the owner. Quotas apply to
// unprivileged callers only: nodes owned, node size, permission entries. An op validates
// everything before it changes the tree, so a refused op leaves no trace. Every change is
// reported through ctx.emit (fired at once, or queued by a transaction until commit).
import { baseName, canonicalize, childPath, isValidNodename, parentOf } from './paths.js';
import { clonePerms, formatPerm, parsePerm, PERM_OWNER, PERM_READ, PERM_WRITE, permFor, type Identity, type XsPerm } from './permissions.js';
import { addChild, newNode, nodeSize, removeChild, type TreeView, type XsNode } from './store.js';
import type { ChangeEvent } from './watches.js';
import { joinStrings, oneArg, splitStrings, XenstoreError, XENSTORE_PAYLOAD_MAX } from './wire.js';

/** Limits for unprivileged domains; defaults are C xenstored's (xenstored_core.c). */
export interface Quotas {
  /** Nodes a domain may own. */
  nodes: number;
  /** Bytes per node: value + child names + 8 per permission + 24. */
  nodeSize: number;
  /** Watches per domain. */
  watches: number;
  /** Open transactions per connection. */
  transactions: number;
  /** Permission entries per node. */
  permsPerNode: number;
  /** Distinct nodes one transaction may touch. */
  transactionNodes: number;
  /** Connections on one domain's socket (a Xen domain has one ring; we allow a few). */
  connectionsPerDomain: number;
  /** Unsent reply/event bytes after which we stop reading from a domain and drop its events. */
  outputBytes: number;
}

export const DEFAULT_QUOTAS: Quotas = {
  nodes: 1000,
  nodeSize: 2048,
  watches: 128,
  transactions: 10,
  permsPerNode: 5,
  transactionNodes: 1024,
  connectionsPerDomain: 8,
  outputBytes: 1 << 20,
};

export interface OpContext {
  readonly who: Identity;
  readonly view: TreeView;
  readonly quota: Quotas;
  /** Permissions of '@introduceDomain' / '@releaseDomain' (SET_PERMS on them). */
  readonly special: Map<string, XsPerm[]>;
  emit(ev: ChangeEvent): void;
}

const OK = joinStrings('OK');
const fail = (code: string, msg?: string): XenstoreError => new XenstoreError(code, msg);

function pathArg(ctx: OpContext, payload: Buffer): string {
  const p = oneArg(payload);
  if (p === undefined) throw fail('EINVAL', 'expected exactly one nul-terminated argument');
  return canonicalize(p, ctx.who.domid);
}

/** get_node(): the node if accessible; undefined if absent and the caller may know it; else throws. */
function lookup(ctx: OpContext, path: string, want: number): XsNode | undefined {
  if (!isValidNodename(path)) throw fail('EINVAL', `invalid path "${path.slice(0, 64)}"`);
  const n = ctx.view.get(path);
  if (n !== undefined) {
    if ((permFor(ctx.who, n.perms) & want) !== want) throw fail('EACCES');
    return n;
  }
  for (let p = parentOf(path); ; p = parentOf(p)) {
    const a = ctx.view.get(p);
    if (a !== undefined) {
      if ((permFor(ctx.who, a.perms) & want) === 0) throw fail('EACCES');
      return undefined;
    }
    if (p === '/') throw fail('EIO', 'root node missing');
  }
}

function mustExist(n: XsNode | undefined): XsNode {
  if (n === undefined) throw fail('ENOENT');
  return n;
}

function checkSize(ctx: OpContext, n: { value: Buffer; perms: readonly XsPerm[]; childBytes: number }): void {
  if (!ctx.who.privileged && nodeSize(n) >= ctx.quota.nodeSize) throw fail('ENOSPC', 'node too large');
}

/** Create `path` and any missing ancestors; only `path` gets `value`. */
function createNode(ctx: OpContext, path: string, value: Buffer): XsNode {
  const missing: string[] = [];
  let top = path;
  let parent: XsNode | undefined;
  do {
    missing.push(top);
    top = parentOf(top);
    parent = ctx.view.get(top);
  } while (parent === undefined && top !== '/');
  if (parent === undefined) throw fail('EIO', 'root node missing');
  const who = ctx.who;
  if (!who.privileged && ctx.view.ownedCount(who.domid) + missing.length > ctx.quota.nodes) {
    throw fail('ENOSPC', `domain ${who.domid} node quota (${ctx.quota.nodes}) reached`);
  }
  const perms = clonePerms(parent.perms);
  if (!who.privileged) perms[0]!.id = who.domid;
  // Size checks for every node this write touches: the existing parent gains a child, each new
  // intermediate node holds one child name, the new leaf holds the value.
  checkSize(ctx, { ...parent, childBytes: parent.childBytes + baseName(missing[missing.length - 1]!).length + 1 });
  for (let i = missing.length - 1; i >= 0; i--) {
    const child = i > 0 ? baseName(missing[i - 1]!).length + 1 : 0;
    checkSize(ctx, { value: i === 0 ? value : Buffer.alloc(0), perms, childBytes: child });
  }

  let parentPath = top;
  let created: XsNode | undefined;
  for (let i = missing.length - 1; i >= 0; i--) {
    const p = missing[i]!;
    ctx.view.update(parentPath, (n) => addChild(n, baseName(p)));
    created = newNode(i === 0 ? value : Buffer.alloc(0), clonePerms(perms));
    ctx.view.create(p, created);
    parentPath = p;
  }
  return created!;
}

function changed(ctx: OpContext, path: string, oldPerms?: readonly XsPerm[]): void {
  const n = ctx.view.get(path);
  const parent = path === '/' ? undefined : ctx.view.get(parentOf(path));
  ctx.emit({ path, exact: false, perms: n?.perms, parentPerms: parent?.perms, oldPerms });
}

export function opRead(ctx: OpContext, payload: Buffer): Buffer {
  return mustExist(lookup(ctx, pathArg(ctx, payload), PERM_READ)).value;
}

export function opWrite(ctx: OpContext, payload: Buffer): Buffer {
  const nul = payload.indexOf(0);
  if (nul < 0) throw fail('EINVAL', 'WRITE needs <path>|<value>');
  const path = canonicalize(payload.toString('latin1', 0, nul), ctx.who.domid);
  const value = payload.subarray(nul + 1);
  const node = lookup(ctx, path, PERM_WRITE);
  if (node === undefined) {
    createNode(ctx, path, value);
  } else {
    checkSize(ctx, { value, perms: node.perms, childBytes: node.childBytes });
    ctx.view.update(path, (n) => {
      n.value = value;
    });
  }
  changed(ctx, path);
  return OK;
}

export function opMkdir(ctx: OpContext, payload: Buffer): Buffer {
  const path = pathArg(ctx, payload);
  if (lookup(ctx, path, PERM_WRITE) === undefined) {
    createNode(ctx, path, Buffer.alloc(0));
    changed(ctx, path);
  }
  return OK;
}

export function opRm(ctx: OpContext, payload: Buffer): Buffer {
  const path = pathArg(ctx, payload);
  const node = lookup(ctx, path, PERM_WRITE);
  if (node === undefined) {
    // Removing what is not there is fine, as long as its parent exists.
    if (ctx.view.get(parentOf(path)) !== undefined) return OK;
    throw fail('ENOENT');
  }
  if (path === '/') throw fail('EINVAL', 'cannot remove /');
  removeSubtree(ctx, path);
  return OK;
}

/** Remove `root` and everything below it, children first, firing as xenstored does. */
export function removeSubtree(ctx: OpContext, root: string): void {
  const order: string[] = [];
  const stack: string[] = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    order.push(p);
    const n = ctx.view.get(p);
    if (n !== undefined) for (const c of n.children) stack.push(childPath(p, c));
  }
  // `order` is pre-order; walking it backwards removes every child before its parent.
  for (let i = order.length - 1; i >= 0; i--) {
    const p = order[i]!;
    const n = ctx.view.get(p);
    if (n === undefined) continue;
    const parent = ctx.view.get(parentOf(p));
    ctx.emit({ path: p, exact: p !== root, perms: n.perms, parentPerms: parent?.perms });
    ctx.view.remove(p);
  }
  ctx.view.update(parentOf(root), (n) => removeChild(n, baseName(root)));
}

export function opDirectory(ctx: OpContext, payload: Buffer): Buffer {
  const n = mustExist(lookup(ctx, pathArg(ctx, payload), PERM_READ));
  return n.children.size === 0 ? Buffer.alloc(0) : joinStrings(...n.children);
}

/** <path>|<offset>| → <generation>|<children from byte offset>, ending in an extra nul when complete. */
export function opDirectoryPart(ctx: OpContext, payload: Buffer): Buffer {
  const args = splitStrings(payload);
  if (args.length !== 2) throw fail('EINVAL', 'DIRECTORY_PART needs <path>|<offset>|');
  const n = mustExist(lookup(ctx, canonicalize(args[0]!, ctx.who.domid), PERM_READ));
  const off = Number(/^\d*/.exec(args[1]!)![0] || '0'); // atoi
  const gen = joinStrings(String(n.generation));
  const all = n.children.size === 0 ? Buffer.alloc(0) : joinStrings(...n.children);
  if (off >= all.length) return Buffer.concat([gen, Buffer.alloc(1)]);
  const maxLen = XENSTORE_PAYLOAD_MAX - gen.length - 1;
  let len = 0;
  while (off + len < all.length) {
    const end = all.indexOf(0, off + len);
    const nameLen = end - (off + len);
    if (len + nameLen >= maxLen) break;
    len += nameLen + 1;
  }
  const parts = [gen, all.subarray(off, off + len)];
  if (off + len === all.length) parts.push(Buffer.alloc(1));
  return Buffer.concat(parts);
}

export function opGetPerms(ctx: OpContext, payload: Buffer): Buffer {
  const n = mustExist(lookup(ctx, pathArg(ctx, payload), PERM_READ));
  return joinStrings(...n.perms.map(formatPerm));
}

export function opSetPerms(ctx: OpContext, payload: Buffer): Buffer {
  const args = splitStrings(payload);
  if (args.length < 2) throw fail('EINVAL', 'SET_PERMS needs <path>|<perm>|+');
  const who = ctx.who;
  if (!who.privileged && args.length - 1 > ctx.quota.permsPerNode) throw fail('ENOSPC', 'too many permission entries');
  const perms = args.slice(1).map(parsePerm);
  const raw = args[0]!;
  if (raw.startsWith('@')) {
    const cur = ctx.special.get(raw);
    if (cur === undefined) throw fail('EINVAL', `no special node ${raw}`);
    if ((permFor(who, cur) & (PERM_WRITE | PERM_OWNER)) !== (PERM_WRITE | PERM_OWNER)) throw fail('EACCES');
    ctx.special.set(raw, perms);
    return OK;
  }
  const path = canonicalize(raw, who.domid);
  const node = mustExist(lookup(ctx, path, PERM_WRITE | PERM_OWNER));
  if (!who.privileged && perms[0]!.id !== node.perms[0]!.id) throw fail('EPERM', 'only a privileged domain may change the owner');
  checkSize(ctx, { value: node.value, perms, childBytes: node.childBytes });
  const oldPerms = clonePerms(node.perms);
  ctx.view.update(path, (n) => {
    n.perms = perms;
  });
  changed(ctx, path, oldPerms);
  return OK;
}
