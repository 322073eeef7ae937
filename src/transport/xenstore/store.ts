// SPDX-License-Identifier: MIT
// store.ts — the in-memory xenstore tree: path → node, generation counter, nodes owned per domain.
//
// Invariants: every node's parent exists and lists it among its children (insertion order, as
// xenstored keeps them); "/" always exists; a node's permission list is never empty. Every
// modification stamps the node with a fresh, globally increasing generation: transactions
// compare generations at commit (transactions.ts) and DIRECTORY_PART returns it. `owned`
// counts nodes per owner domid for the node quota. Operations reach the tree only through a
// TreeView, so the same code runs directly on the store (GlobalView) or inside a transaction.
import type { XsPerm } from './permissions.js';

export interface XsNode {
  value: Buffer;
  perms: XsPerm[];
  children: Set<string>;
  /** Sum of (name length + 1) over children: the size of the DIRECTORY reply. */
  childBytes: number;
  generation: number;
}

/** What an operation may do to a tree. Nodes returned by get() must not be mutated directly. */
export interface TreeView {
  get(path: string): XsNode | undefined;
  /** Insert a node that does not exist yet (the caller links it into its parent). */
  create(path: string, node: XsNode): void;
  /** Change an existing node; the view stamps a new generation. */
  update(path: string, fn: (node: XsNode) => void): void;
  /** Remove one node (the caller unlinks it from its parent and removes children first). */
  remove(path: string): void;
  /** Nodes owned by `domid` as this view sees them. */
  ownedCount(domid: number): number;
}

export function newNode(value: Buffer, perms: XsPerm[]): XsNode {
  return { value, perms, children: new Set(), childBytes: 0, generation: 0 };
}

export function cloneNode(n: XsNode): XsNode {
  return {
    value: n.value, // values are replaced, never written into, so sharing is safe
    perms: n.perms.map((p) => ({ id: p.id, perm: p.perm })),
    children: new Set(n.children),
    childBytes: n.childBytes,
    generation: n.generation,
  };
}

export function addChild(n: XsNode, name: string): void {
  if (n.children.has(name)) return;
  n.children.add(name);
  n.childBytes += Buffer.byteLength(name, 'latin1') + 1;
}

export function removeChild(n: XsNode, name: string): void {
  if (n.children.delete(name)) n.childBytes -= Buffer.byteLength(name, 'latin1') + 1;
}

/** The size xenstored charges a node against the node-size quota (xs_tdb_record_hdr + data). */
export function nodeSize(n: { value: Buffer; perms: readonly XsPerm[]; childBytes: number }): number {
  return 24 + 8 * n.perms.length + n.value.length + n.childBytes;
}

export class Store {
  private readonly nodes = new Map<string, XsNode>();
  private readonly owned = new Map<number, number>();
  private gen = 0;

  constructor() {
    // What C xenstored starts with (setup_structure): /, /tool, /tool/xenstored, all "n0".
    const mk = (path: string, child?: string): void => {
      const n = newNode(Buffer.alloc(0), [{ id: 0, perm: 'n' }]);
      if (child !== undefined) addChild(n, child);
      n.generation = this.nextGeneration();
      this.put(path, n);
    };
    mk('/', 'tool');
    mk('/tool', 'xenstored');
    mk('/tool/xenstored');
  }

  nextGeneration(): number {
    return ++this.gen;
  }

  get(path: string): XsNode | undefined {
    return this.nodes.get(path);
  }

  /** Generation of the node, or -1 when it does not exist. */
  generationOf(path: string): number {
    return this.nodes.get(path)?.generation ?? -1;
  }

  /** Insert or replace, keeping the per-owner counts right. */
  put(path: string, node: XsNode): void {
    const old = this.nodes.get(path);
    if (old !== undefined) this.count(old.perms[0]!.id, -1);
    this.nodes.set(path, node);
    this.count(node.perms[0]!.id, 1);
  }

  delete(path: string): void {
    const old = this.nodes.get(path);
    if (old === undefined) return;
    this.nodes.delete(path);
    this.count(old.perms[0]!.id, -1);
  }

  ownedCount(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  /** A node already in the store changed owner in place. */
  transferOwner(from: number, to: number): void {
    this.count(from, -1);
    this.count(to, 1);
  }

  get size(): number {
    return this.nodes.size;
  }

  private count(domid: number, d: number): void {
    const v = (this.owned.get(domid) ?? 0) + d;
    if (v === 0) this.owned.delete(domid);
    else this.owned.set(domid, v);
  }
}

/** Operations applied straight to the store: outside any transaction. */
export class GlobalView implements TreeView {
  constructor(private readonly store: Store) {}

  get(path: string): XsNode | undefined {
    return this.store.get(path);
  }

  create(path: string, node: XsNode): void {
    node.generation = this.store.nextGeneration();
    this.store.put(path, node);
  }

  update(path: string, fn: (node: XsNode) => void): void {
    const n = this.store.get(path);
    if (n === undefined) throw new Error(`xenstore: update of missing node ${path}`);
    const owner = n.perms[0]!.id;
    fn(n);
    n.generation = this.store.nextGeneration();
    if (n.perms[0]!.id !== owner) this.store.transferOwner(owner, n.perms[0]!.id);
  }

  remove(path: string): void {
    this.store.delete(path);
  }

  ownedCount(domid: number): number {
    return this.store.ownedCount(domid);
  }
}
