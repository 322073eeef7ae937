// SPDX-License-Identifier: MIT
// paths.ts — xenstore path rules: which names are valid, relative resolution, parent/child tests.
//
// Rules follow C xenstored (tools/xenstore/xenstored_core.c is_valid_nodename, canonicalize):
// absolute paths start with '/', use only [A-Za-z0-9-/_@], have no '//' and no trailing '/'
// (except the root), and may be at most XENSTORE_REL_PATH_MAX bytes past a leading
// "/local/domain/<id>/". A path not starting with '/' or '@' is relative to the caller's home,
// /local/domain/<domid> (dom0 socket connections included). '@'-paths name special watches.
import { XENSTORE_REL_PATH_MAX } from './wire.js';

const VALID = /^[A-Za-z0-9\-/_@]*$/;
const LOCAL_PREFIX = /^\/local\/domain\/\d{1,5}\//;

/** Where phoenix xenstored puts the socket of introduced domain `domid` (a phoenix convention, not Xen's). */
export function domainSocketPath(dom0Socket: string, domid: number): string {
  return `${dom0Socket}.d${domid}`;
}

export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** Resolve a relative path against the caller's home; absolute and '@' paths are unchanged. */
export function canonicalize(path: string, domid: number): string {
  if (path.startsWith('/') || path.startsWith('@')) return path;
  return `${domainPath(domid)}/${path}`;
}

export function isValidNodename(path: string, maxRel: number = XENSTORE_REL_PATH_MAX): boolean {
  if (!path.startsWith('/')) return false;
  if (path.endsWith('/') && path !== '/') return false;
  if (path.includes('//')) return false;
  const local = LOCAL_PREFIX.exec(path);
  const localOff = local === null ? 0 : local[0].length;
  if (path.length > localOff + maxRel) return false;
  return VALID.test(path);
}

/** Parent of an absolute path; the root's parent is the root. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** True when `child` is `parent` or lies below it ("/" is everyone's parent). */
export function isChild(child: string, parent: string): boolean {
  if (parent === '/') return child.startsWith('/');
  if (!child.startsWith(parent)) return false;
  return child.length === parent.length || child[parent.length] === '/';
}

/** Strict decimal domid 0..65535 (xenstored uses atoi; we refuse what atoi would silently mangle). */
export function parseDomid(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffff ? n : undefined;
}
