// SPDX-License-Identifier: MIT
// xen-abi.test.ts — our gntdev/evtchn layouts and ioctl numbers against the real headers
// (Linux's uapi <xen/gntdev.h> and <xen/evtchn.h> from Debian's linux-libc-dev — libxen-dev's
// xen/sys/ copies are too old to have IOCTL_GNTDEV_GRANT_COPY — over libxen-dev's public
// <xen/xen.h> and <xen/grant_table.h> for domid_t, grant_ref_t and GNTCOPY_*).
// addon/gntdev.cc and addon/evtchn.cc static_assert the same numbers; this ties them to the headers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { GNTCOPY_dest_gref, GNTCOPY_source_gref, SEG_BYTES } from '../../src/transport/xen/copy.js';

const HDR = '/usr/include/xen/gntdev.h';
let cc = '';
for (const c of ['cc', 'gcc']) {
  try {
    execFileSync(c, ['--version'], { stdio: 'ignore' });
    cc = c;
    break;
  } catch {
    // try the next
  }
}
const skip = !existsSync(HDR) ? `${HDR} missing: apt-get install linux-libc-dev`
  : !existsSync('/usr/include/xen/grant_table.h') ? '/usr/include/xen/grant_table.h missing: apt-get install libxen-dev' : cc === '' ? 'no C compiler (apt-get install gcc)' : false;

const PROGRAM = `
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/gntdev.h>
#include <xen/evtchn.h>
int main(void) {
  printf("{\\"seg\\":%zu,\\"len\\":%zu,\\"flags\\":%zu,\\"status\\":%zu,\\"dest\\":%zu,", sizeof(struct gntdev_grant_copy_segment),
    offsetof(struct gntdev_grant_copy_segment, len), offsetof(struct gntdev_grant_copy_segment, flags),
    offsetof(struct gntdev_grant_copy_segment, status), offsetof(struct gntdev_grant_copy_segment, dest));
  printf("\\"fref\\":%zu,\\"foff\\":%zu,\\"fdom\\":%zu,", offsetof(struct gntdev_grant_copy_segment, source.foreign.ref),
    offsetof(struct gntdev_grant_copy_segment, source.foreign.offset), offsetof(struct gntdev_grant_copy_segment, source.foreign.domid));
  printf("\\"srcgref\\":%d,\\"dstgref\\":%d,", GNTCOPY_source_gref, GNTCOPY_dest_gref);
  printf("\\"map\\":%lu,\\"unmap\\":%lu,\\"copy\\":%lu,", (unsigned long)IOCTL_GNTDEV_MAP_GRANT_REF,
    (unsigned long)IOCTL_GNTDEV_UNMAP_GRANT_REF, (unsigned long)IOCTL_GNTDEV_GRANT_COPY);
  printf("\\"bind\\":%lu,\\"unbind\\":%lu,\\"notify\\":%lu,\\"reset\\":%lu,\\"restrict\\":%lu}\\n",
    (unsigned long)IOCTL_EVTCHN_BIND_INTERDOMAIN, (unsigned long)IOCTL_EVTCHN_UNBIND, (unsigned long)IOCTL_EVTCHN_NOTIFY,
    (unsigned long)IOCTL_EVTCHN_RESET, (unsigned long)IOCTL_EVTCHN_RESTRICT_DOMID);
  return 0;
}
`;

t.test('gntdev/evtchn ABI matches the Xen headers', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-abi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'abi.c'), PROGRAM);
  execFileSync(cc, ['-o', join(dir, 'abi'), join(dir, 'abi.c')]);
  const abi = JSON.parse(execFileSync(join(dir, 'abi'), { encoding: 'utf8' })) as Record<string, number>;
  t.same(
    { seg: abi.seg, len: abi.len, flags: abi.flags, status: abi.status, dest: abi.dest, fref: abi.fref, foff: abi.foff, fdom: abi.fdom },
    { seg: SEG_BYTES, len: 16, flags: 18, status: 20, dest: 8, fref: 0, foff: 4, fdom: 6 },
    'gntdev_grant_copy_segment as copy.ts writes it',
  );
  t.same([abi.srcgref, abi.dstgref], [GNTCOPY_source_gref, GNTCOPY_dest_gref]);
  t.same(
    [abi.map, abi.unmap, abi.copy, abi.bind, abi.unbind, abi.notify, abi.reset, abi.restrict],
    [0x00184700, 0x00104701, 0x00104708, 0x00084501, 0x00044503, 0x00044504, 0x00004505, 0x00024506],
    'the ioctl numbers addon/gntdev.cc and addon/evtchn.cc static_assert',
  );
});
