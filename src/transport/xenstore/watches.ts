// SPDX-License-Identifier: MIT
// watches.ts — which watch fires for a change, what path it reports, and who may see the event.
//
// Semantics of C xenstored (tools/xenstore/xenstored_watch.c, docs/misc/xenstore.txt):
// a change of P fires every watch on P or on an ancestor of P ("/" included). When a subtree
// is removed, its root fires like any change and each removed descendant fires only the
// watches set exactly on it. A watch given as a relative path reports event paths relative to
// the same home. A watcher receives an event only if it may read the node (before or after a
// permission change) or the node's parent. '@introduceDomain' and '@releaseDomain' fire only
// watches set exactly on them, for callers the special node's permissions allow to read
// (only privileged callers by default; dom0 may SET_PERMS them).
import { isChild } from './paths.js';
import { PERM_READ, permFor, type Identity, type XsPerm } from './permissions.js';

export interface Watch {
  /** Canonical absolute path, or an '@' special name. */
  readonly node: string;
  readonly token: string;
  /** Home prefix to strip from reported paths when the watch was set with a relative path. */
  readonly relativeTo: string | undefined;
}

export interface ChangeEvent {
  path: string;
  /** Fire only watches set exactly on `path` (descendants of a removed subtree). */
  exact: boolean;
  /** The node's permissions after the change (before it, for a removal). */
  perms?: readonly XsPerm[];
  /** Its permissions before a SET_PERMS, so a watcher losing access still hears of it. */
  oldPerms?: readonly XsPerm[];
  /** The parent's permissions at the time of the change. */
  parentPerms?: readonly XsPerm[];
}

export const INTRODUCE_DOMAIN = '@introduceDomain';
export const RELEASE_DOMAIN = '@releaseDomain';

export function isSpecial(path: string): boolean {
  return path.startsWith('@');
}

export function watchMatches(w: Watch, ev: ChangeEvent): boolean {
  if (ev.exact || isSpecial(ev.path)) return w.node === ev.path;
  return isChild(ev.path, w.node);
}

/** The path the watcher is told about (relative when the watch was set relative). */
export function reportedPath(w: Watch, path: string): string {
  if (w.relativeTo === undefined || !path.startsWith(w.relativeTo)) return path;
  const rest = path.slice(w.relativeTo.length);
  return rest.startsWith('/') ? rest.slice(1) : rest;
}

/** May this watcher see a change of an ordinary node (watch_permitted)? */
export function eventPermitted(who: Identity, ev: ChangeEvent): boolean {
  if (who.privileged) return true;
  const can = (p: readonly XsPerm[] | undefined): boolean => p !== undefined && (permFor(who, p) & PERM_READ) !== 0;
  return can(ev.oldPerms) || can(ev.perms) || can(ev.parentPerms);
}
