// SPDX-License-Identifier: MIT
// permissions.ts — xenstore node permissions: the wire strings and the access check xenstored makes.
//
// A node's permission list is never empty. Entry 0 names the owner and, in its letter, the
// access everybody else gets by default; entries 1.. grant a specific domain 'n'one, 'r'ead,
// 'w'rite or 'b'oth (docs/misc/xenstore.txt, SET_PERMS). The check is perm_for_conn() of
// tools/xenstore/xenstored_core.c: a privileged caller (dom0) and the owner (or a domain whose
// SET_TARGET is the owner) get everything including OWNER; otherwise the first matching
// entry 1.. decides, else entry 0's letter. Only OWNER may change permissions, and only a
// privileged caller may change the owner.
import { XenstoreError } from './wire.js';

export type PermChar = 'n' | 'r' | 'w' | 'b';
export interface XsPerm {
  id: number;
  perm: PermChar;
}

export const PERM_NONE = 0;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
/** Internal only, never on the wire (XS_PERM_OWNER). */
export const PERM_OWNER = 8;
const ALL = PERM_READ | PERM_WRITE | PERM_OWNER;

const BITS: Record<PermChar, number> = { n: PERM_NONE, r: PERM_READ, w: PERM_WRITE, b: PERM_READ | PERM_WRITE };

/** Who is asking: a connection's domain, whether it is privileged, and its SET_TARGET if any. */
export interface Identity {
  readonly domid: number;
  readonly privileged: boolean;
  target?: number;
}

export function formatPerm(p: XsPerm): string {
  return `${p.perm}${p.id}`;
}

/** "r5" → {id: 5, perm: 'r'}; throws EINVAL like xs_strings_to_perms (decimal domids only). */
export function parsePerm(s: string): XsPerm {
  const m = /^([nrwb])(\d{1,5})$/.exec(s);
  const id = m === null ? NaN : Number(m[2]);
  if (m === null || !(id <= 0xffff)) throw new XenstoreError('EINVAL', `bad permission "${s}"`);
  return { id, perm: m[1] as PermChar };
}

export function permBits(p: PermChar): number {
  return BITS[p];
}

export function permFor(who: Identity, perms: readonly XsPerm[]): number {
  const owner = perms[0];
  if (owner === undefined) return who.privileged ? ALL : PERM_NONE;
  if (who.privileged || owner.id === who.domid || (who.target !== undefined && owner.id === who.target)) return ALL;
  for (let i = 1; i < perms.length; i++) {
    const p = perms[i]!;
    if (p.id === who.domid || (who.target !== undefined && p.id === who.target)) return BITS[p.perm];
  }
  return BITS[owner.perm];
}

export function clonePerms(perms: readonly XsPerm[]): XsPerm[] {
  return perms.map((p) => ({ id: p.id, perm: p.perm }));
}
