#!/bin/sh
# SPDX-License-Identifier: MIT
# setup.sh — host side of `make test-xen`: Debian packages, and Xen + kernel .debs unpacked into a cache.
#
# Installs QEMU, busybox and the archivers with apt-get (only what is missing), then downloads
# Debian's Xen 4.17 hypervisor, its tools and a Debian 6.1 kernel (the generic flavour: the
# -cloud one has no dom0 support) and unpacks them with dpkg -x into $PHOENIX_XEN_CACHE
# (default /var/cache/phoenix-xen) — nothing is installed on the host, so no grub or xencommons
# change. Idempotent: a stamp file names the kernel and Xen versions unpacked; delete the cache
# to start over. Facts reused from shared/xen-qemu (verified on Debian 12): see docs/xen-transport.md.
set -eu
CACHE=${PHOENIX_XEN_CACHE:-/var/cache/phoenix-xen}
PKGS="qemu-system-x86 busybox-static cpio xz-utils zstd file iputils-ping"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "test-xen setup: missing Debian packages:$missing — run as root, or: sudo apt-get install$missing" >&2; exit 1; }
  echo "test-xen setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The newest generic kernel linux-image-amd64 points at (e.g. 6.1.0-40-amd64).
KVER=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
if [ -z "$KVER" ]; then
  apt-get update -qq
  KVER=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
fi
[ -n "$KVER" ] || { echo "test-xen setup: cannot tell which kernel linux-image-amd64 depends on (apt-get update?)" >&2; exit 1; }
XENPKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils libxencall1 libxenevtchn1 libxenforeignmemory1 libxengnttab1 libxenmisc4.17 libxenstore4 libxentoollog1 libyajl2 libxenhypfs1 libxendevicemodel1 libxentoolcore1"
STAMP="$CACHE/unpacked.stamp"
WANT="kernel=$KVER"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "test-xen setup: cache $CACHE up to date ($WANT)"
  exit 0
fi
echo "test-xen setup: downloading Xen 4.17 and linux-image-$KVER into $CACHE"
rm -rf "$CACHE/debs" "$CACHE/x" "$CACHE/xt" "$CACHE/out"
mkdir -p "$CACHE/debs" "$CACHE/x" "$CACHE/xt"
cd "$CACHE/debs"
apt-get download -qq $XENPKGS "linux-image-$KVER"
for f in xen-hypervisor-*.deb linux-image-*.deb; do dpkg -x "$f" ../x; done
for f in xen-utils-*.deb xenstore-utils*.deb libx*.deb liby*.deb; do dpkg -x "$f" ../xt; done
echo "$WANT" > "$STAMP"
echo "test-xen setup: done ($WANT, $(du -sh "$CACHE" | cut -f1))"
