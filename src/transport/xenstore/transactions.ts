// SPDX-License-Identifier: MIT
// transactions.ts — a xenstore transaction: a private overlay of the tree, checked and applied at commit.
//
// Follows C xenstored (tools/xenstore/xenstored_transaction.c): the first time a transaction
// touches a node (read or write, present or absent) it copies the node into its overlay and
// records the node's generation (-1 = absent). Later accesses see only the copy, so the
// transaction sees its own writes and never half of someone else's. Commit compares every
// recorded generation with the store: any difference (a write, a create, a delete, a child
// added or removed) means a conflict and the commit fails with EAGAIN, changing nothing.
// Otherwise modified nodes are written back with fresh generations and the watch events queued
// during the transaction are returned for firing; nothing fires before commit. An abort (or a
// dropped connection) discards the overlay. A transaction that failed half-way through an
// operation (quota hit) can no longer commit.
import { Store, cloneNode, type TreeView, type XsNode } from './store.js';
import { XenstoreError } from './wire.js';
import type { ChangeEvent } from './watches.js';

interface Access {
  generation: number;
  modified: boolean;
}

export class Transaction implements TreeView {
  private readonly overlay = new Map<string, XsNode | null>();
  private readonly accessed = new Map<string, Access>();
  private readonly ownedDelta = new Map<number, number>();
  readonly events: ChangeEvent[] = [];
  /** Set when an operation failed after changing the overlay; commit is then refused. */
  failed = false;

  constructor(
    readonly id: number,
    private readonly store: Store,
    /** Most distinct nodes one transaction may touch (xenstored's quota_trans_nodes). */
    private readonly maxNodes: number,
  ) {}

  private touch(path: string): XsNode | null {
    const seen = this.overlay.get(path);
    if (seen !== undefined) return seen;
    if (this.accessed.size >= this.maxNodes) {
      this.failed = true;
      throw new XenstoreError('ENOSPC', `transaction touches more than ${this.maxNodes} nodes`);
    }
    const g = this.store.get(path);
    this.accessed.set(path, { generation: g?.generation ?? -1, modified: false });
    const copy = g === undefined ? null : cloneNode(g);
    this.overlay.set(path, copy);
    return copy;
  }

  private mark(path: string): void {
    this.accessed.get(path)!.modified = true;
  }

  private delta(domid: number, d: number): void {
    this.ownedDelta.set(domid, (this.ownedDelta.get(domid) ?? 0) + d);
  }

  get(path: string): XsNode | undefined {
    return this.touch(path) ?? undefined;
  }

  create(path: string, node: XsNode): void {
    if (this.touch(path) !== null) throw new Error(`xenstore: create of existing node ${path}`);
    node.generation = this.store.nextGeneration();
    this.overlay.set(path, node);
    this.mark(path);
    this.delta(node.perms[0]!.id, 1);
  }

  update(path: string, fn: (node: XsNode) => void): void {
    const n = this.touch(path);
    if (n === null) throw new Error(`xenstore: update of missing node ${path}`);
    const owner = n.perms[0]!.id;
    fn(n);
    n.generation = this.store.nextGeneration();
    this.mark(path);
    if (n.perms[0]!.id !== owner) {
      this.delta(owner, -1);
      this.delta(n.perms[0]!.id, 1);
    }
  }

  remove(path: string): void {
    const n = this.touch(path);
    if (n === null) return;
    this.overlay.set(path, null);
    this.mark(path);
    this.delta(n.perms[0]!.id, -1);
  }

  ownedCount(domid: number): number {
    return this.store.ownedCount(domid) + (this.ownedDelta.get(domid) ?? 0);
  }

  /** True when the transaction created nodes owned by `domid` (a commit could raise its count). */
  grows(domid: number): boolean {
    return (this.ownedDelta.get(domid) ?? 0) > 0;
  }

  /** Check for conflicts, then apply. Throws EAGAIN (nothing applied) on a conflict. */
  commit(): ChangeEvent[] {
    if (this.failed) throw new XenstoreError('ENOMEM', 'transaction failed earlier and cannot commit'); // as xenstored
    for (const [path, a] of this.accessed) {
      if (this.store.generationOf(path) !== a.generation) {
        throw new XenstoreError('EAGAIN', `transaction conflict on ${path}`);
      }
    }
    for (const [path, a] of this.accessed) {
      if (!a.modified) continue;
      const n = this.overlay.get(path);
      if (n === null || n === undefined) {
        this.store.delete(path);
      } else {
        n.generation = this.store.nextGeneration();
        this.store.put(path, n);
      }
    }
    return this.events;
  }

  get nodesTouched(): number {
    return this.accessed.size;
  }
}
