#!/bin/bash
# SPDX-License-Identifier: MIT
# images.sh — builds the boot images for `make test-xen`: Xen, the dom0 kernel, and two initramfs parts.
#
#   $CACHE/out/xen          Xen 4.17 as an uncompressed ELF (QEMU's multiboot loader wants one)
#   $CACHE/out/vmlinux      the Debian kernel, decompressed (saves 7-15 s per boot under TCG)
#   $CACHE/out/base.cpio    what never changes between runs: busybox, the Xen toolstack and its
#                           libraries, node and its libraries, kernel modules, the domU kernel
#   $RUN/project.cpio       this checkout: dist/, the addon, package.json, the test scripts, the
#                           domU initramfs, /init — appended to base.cpio (Linux unpacks
#                           concatenated newc archives in order, later files win)
# base.cpio is rebuilt only when its key (kernel, node, this script) changes. Inputs come from
# setup.sh (debs unpacked under $CACHE/x and $CACHE/xt). Usage: images.sh RUN_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${PHOENIX_XEN_CACHE:-/var/cache/phoenix-xen}
RUN=${1:?usage: images.sh RUN_DIR}
KVER=$(ls "$CACHE/x/lib/modules" | grep -v -e cloud -e rt | sort -V | tail -n 1)
MODS=$CACHE/x/lib/modules/$KVER/kernel
OUT=$CACHE/out
mkdir -p "$OUT" "$RUN"
NODE=$(readlink -f "$(command -v node)")

# Copy each binary's shared libraries (resolved against the unpacked Xen libraries first).
copy_libs() { # $1 = rootfs, rest = binaries
  local R=$1; shift
  for b in "$@"; do
    LD_LIBRARY_PATH=$CACHE/xt/usr/lib/x86_64-linux-gnu ldd "$b" 2>/dev/null |
      awk '/=>/ {print $3} /^[ \t]*\/lib64/ {print $1}' | while read -r l; do
        [ -n "$l" ] || continue
        case $l in $CACHE/xt/*) d=${l#"$CACHE"/xt} ;; *) d=$l ;; esac
        mkdir -p "$R$(dirname "$d")"
        [ -e "$R$d" ] || cp -L "$l" "$R$d"
      done
  done
}

mkbase() { # $1 = rootfs: busybox and the directories an init needs
  local R=$1
  rm -rf "$R"
  mkdir -p "$R"/{bin,sbin,etc,dev,proc,sys,tmp,root,run,lib/modules,usr/bin,usr/sbin,var/log,var/lib,var/lock,mnt}
  ln -s ../run "$R/var/run"
  cp /bin/busybox "$R/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
}

[ -f "$OUT/xen" ] || zcat "$CACHE/x/boot/xen-4.17-amd64.gz" > "$OUT/xen"
[ -f "$OUT/vmlinux" ] || "$HERE/extract-vmlinux.sh" "$CACHE/x/boot/vmlinuz-$KVER" "$OUT/vmlinux"

KEY="kernel=$KVER node=$("$NODE" --version) script=$(sha256sum "$0" | cut -c1-16)"
if [ ! -f "$OUT/base.cpio" ] || [ "$(cat "$OUT/base.key" 2>/dev/null)" != "$KEY" ]; then
  echo "images: building base.cpio ($KEY)"
  B=$CACHE/rootfs-base.$$
  mkbase "$B"
  for m in drivers/xen/xen-privcmd drivers/xen/xenfs/xenfs drivers/xen/xen-evtchn drivers/xen/xen-gntdev \
           drivers/xen/xen-gntalloc drivers/net/tun drivers/net/xen-netback/xen-netback; do
    cp "$MODS/$m.ko" "$B/lib/modules/"
  done
  mkdir -p "$B/usr/lib/xen-4.17/bin" "$B/etc/xen/scripts" "$B/boot"
  for b in xl xenstored xen-init-dom0 xenconsoled xenconsole libxl-save-helper xenstore-control; do
    cp "$CACHE/xt/usr/lib/xen-4.17/bin/$b" "$B/usr/lib/xen-4.17/bin/"
    ln -sf "/usr/lib/xen-4.17/bin/$b" "$B/usr/sbin/$b"
  done
  cp -a "$CACHE"/xt/usr/bin/xenstore* "$B/usr/bin/"
  rm -f "$B/usr/bin/xenstore-control" # a link to a wrapper we do not ship; /usr/sbin has the real one
  cp -a "$CACHE/xt/usr/lib/x86_64-linux-gnu" "$B/usr/lib/"
  echo 'autoballoon="off"' > "$B/etc/xen/xl.conf"
  copy_libs "$B" "$B"/usr/lib/xen-4.17/bin/* "$B/usr/bin/xenstore"
  # glibc dlopen()s libgcc_s for pthread_cancel: xl aborts without it.
  cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$B/lib/x86_64-linux-gnu/"
  strip --strip-debug -o "$B/usr/bin/node" "$NODE"
  copy_libs "$B" "$NODE"
  # iputils ping as "iping": unlike busybox ping, `-c N -w DEADLINE` waits for all N replies
  # until the deadline, so a late reply under emulation is not counted as lost.
  cp -L /usr/bin/ping "$B/usr/bin/iping"
  copy_libs "$B" /usr/bin/ping
  cp "$OUT/vmlinux" "$B/boot/domU-vmlinux"
  cp "$MODS/drivers/net/xen-netfront.ko" "$B/boot/"
  (cd "$B" && find . | cpio -o -H newc --quiet > "$OUT/base.cpio.tmp.$$")
  mv "$OUT/base.cpio.tmp.$$" "$OUT/base.cpio"
  echo "$KEY" > "$OUT/base.key"
  rm -rf "$B"
fi

# ---- domU initramfs: busybox, xen-netfront, test/xen/domU-init
U=$RUN/rootfs-domU
mkbase "$U"
cp "$MODS/drivers/net/xen-netfront.ko" "$U/lib/modules/"
cp "$HERE/domU-init" "$U/init"
cp -L /usr/bin/ping "$U/usr/bin/iping"
copy_libs "$U" /usr/bin/ping
chmod +x "$U/init"
(cd "$U" && find . | cpio -o -H newc --quiet > "$RUN/domU.cpio")
rm -rf "$U"

# ---- the project: what `phoenix serve` needs at run time, plus the dom0 side of the test
P=$RUN/rootfs-project
rm -rf "$P"
mkdir -p "$P/phoenix/build/Release" "$P/phoenix/test/xen" "$P/boot"
cp "$ROOT/package.json" "$ROOT/binding.gyp" "$P/phoenix/"
cp -a "$ROOT/dist" "$P/phoenix/dist"
find "$P/phoenix/dist" -name '*.map' -delete
cp "${PHOENIX_ADDON:-$ROOT/build/Release/phoenix.node}" "$P/phoenix/build/Release/phoenix.node"
copy_libs "$P" "$P/phoenix/build/Release/phoenix.node" # e.g. libbpf when the addon was built with it
find "$P" -name 'libc.so.6' -o -name 'libstdc++.so.6' -o -name 'ld-linux-x86-64.so.2' -o -name 'libm.so.6' -o -name 'libgcc_s.so.1' | xargs -r rm -f # already in base
cp "$HERE/dom0-test.sh" "$HERE/receiver.mjs" "$HERE/states.mjs" "$HERE/domU.cfg" "$P/phoenix/test/xen/"
cp "$RUN/domU.cpio" "$P/boot/domU.cpio"
cp "$HERE/dom0-init" "$P/init"
chmod +x "$P/init" "$P/phoenix/test/xen/dom0-test.sh"
(cd "$P" && find . | cpio -o -H newc --quiet > "$RUN/project.cpio")
rm -rf "$P"
cat "$OUT/base.cpio" "$RUN/project.cpio" > "$RUN/dom0.cpio"
echo "images: base $(du -m "$OUT/base.cpio" | cut -f1) MiB + project $(du -k "$RUN/project.cpio" | cut -f1) KiB -> $RUN/dom0.cpio"
