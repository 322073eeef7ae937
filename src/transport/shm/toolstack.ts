// SPDX-License-Identifier: MIT
// toolstack.ts — what `xl create` does for a vif, for shm domains: domain nodes and vif nodes.
//
// Runs with dom0's xenstore connection (trusted). Writes the keys and permissions libxl writes
// (reference/xen-netif.md §2.6): the frontend area owned by the guest and readable by the
// backend, the backend area owned by the backend and readable by the guest. For shm it also
// records where the domain's memory file is and which process runs the domain, under
// /local/domain/<id>/shm, owned by dom0 and read-only to the guest.
import type { XenstoreClient } from '../xenstore/client.js';
import { createDomainFile, type DomainImage } from './domain.js';

export interface ShmDomainSpec {
  domid: number;
  memPath: string;
  nrPages: number;
  nrGrants?: number;
  nrPorts?: number;
  name?: string;
}

/** Create a domain: its memory file, /local/domain/<id> and the shm facts. Returns the image (caller closes). */
export async function createShmDomain(xs: XenstoreClient, spec: ShmDomainSpec): Promise<DomainImage> {
  const img = createDomainFile(spec.memPath, spec.domid, { nrPages: spec.nrPages, nrGrants: spec.nrGrants, nrPorts: spec.nrPorts });
  const d = spec.domid;
  const dom = `/local/domain/${d}`;
  await xs.transaction(async (tx) => {
    await xs.write(`${dom}/name`, spec.name ?? `guest${d}`, tx);
    await xs.write(`${dom}/domid`, String(d), tx);
    await xs.setPerms(dom, [{ id: d, perm: 'n' }], tx);
    await xs.mkdir(`${dom}/device`, tx);
    await xs.setPerms(`${dom}/device`, [{ id: d, perm: 'n' }], tx);
    await xs.write(`${dom}/shm/mem`, spec.memPath, tx);
    await xs.setPerms(`${dom}/shm`, [{ id: 0, perm: 'n' }, { id: d, perm: 'r' }], tx);
    await xs.setPerms(`${dom}/shm/mem`, [{ id: 0, perm: 'n' }, { id: d, perm: 'r' }], tx);
  });
  return img;
}

/** Record the process that runs the domain (what the backend duplicates event fds from). */
export async function setShmDomainPid(xs: XenstoreClient, domid: number, pid: number): Promise<void> {
  const p = `/local/domain/${domid}/shm/pid`;
  await xs.write(p, String(pid));
  await xs.setPerms(p, [{ id: 0, perm: 'n' }, { id: domid, perm: 'r' }]);
}

export interface VifSpec {
  frontDomid: number;
  backDomid?: number;
  devid: number;
  mac: string;
  bridge?: string;
  script?: string;
}

export function vifPaths(v: VifSpec): { fe: string; be: string } {
  const b = v.backDomid ?? 0;
  return {
    fe: `/local/domain/${v.frontDomid}/device/vif/${v.devid}`,
    be: `/local/domain/${b}/backend/vif/${v.frontDomid}/${v.devid}`,
  };
}

/** Create the frontend and backend nodes of a vif, as libxl does, in one transaction. */
export async function createVif(xs: XenstoreClient, v: VifSpec): Promise<{ fe: string; be: string }> {
  const { fe, be } = vifPaths(v);
  const f = v.frontDomid;
  const b = v.backDomid ?? 0;
  await xs.transaction(async (tx) => {
    const bePerms = [{ id: b, perm: 'n' as const }, { id: f, perm: 'r' as const }];
    const fePerms = [{ id: f, perm: 'n' as const }, { id: b, perm: 'r' as const }];
    const beKeys: Record<string, string> = {
      frontend: fe,
      'frontend-id': String(f),
      online: '1',
      state: '1',
      script: v.script ?? '/etc/xen/scripts/vif-bridge',
      mac: v.mac,
      bridge: v.bridge ?? 'phoenix0',
      handle: String(v.devid),
      type: 'vif',
      'hotplug-status': '',
    };
    const feKeys: Record<string, string> = {
      backend: be,
      'backend-id': String(b),
      state: '1',
      handle: String(v.devid),
      mac: v.mac,
      trusted: '1',
    };
    await xs.mkdir(be, tx);
    await xs.setPerms(be, bePerms, tx);
    for (const [k, val] of Object.entries(beKeys)) {
      await xs.write(`${be}/${k}`, val, tx);
      await xs.setPerms(`${be}/${k}`, bePerms, tx);
    }
    await xs.mkdir(fe, tx);
    await xs.setPerms(fe, fePerms, tx);
    for (const [k, val] of Object.entries(feKeys)) {
      await xs.write(`${fe}/${k}`, val, tx);
      await xs.setPerms(`${fe}/${k}`, fePerms, tx);
    }
  });
  return { fe, be };
}

/** Ask the backend to let the vif go (as `xl network-detach` does): online=0, state Closing. */
export async function detachVif(xs: XenstoreClient, v: VifSpec): Promise<void> {
  const { be } = vifPaths(v);
  await xs.write(`${be}/online`, '0');
  await xs.write(`${be}/state`, '5');
}

/** Remove what createVif made. */
export async function destroyVif(xs: XenstoreClient, v: VifSpec): Promise<void> {
  const { fe, be } = vifPaths(v);
  await xs.rm(fe).catch(() => undefined);
  await xs.rm(be).catch(() => undefined);
}
