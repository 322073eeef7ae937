#!/bin/bash
# SPDX-License-Identifier: MIT
# extract-vmlinux.sh — decompress a bzImage's payload (xz, gzip or zstd) into a plain ELF vmlinux.
#
# Xen loads dom0 and PV domU kernels from an ELF; handing it the ELF directly spares the
# decompression, which costs 7-15 s per boot under QEMU's software emulation.
# Usage: extract-vmlinux.sh BZIMAGE OUT
set -u
img=$1; out=$2
for pair in "FD377A585A00:xz -dc" "1F8B0800:gzip -dc" "28B52FFD:zstd -dc"; do
  magic=${pair%%:*}; cmd=${pair#*:}
  pat=$(echo "$magic" | sed 's/../\\x&/g')
  for pos in $(LC_ALL=C grep -obUaP "$pat" "$img" | cut -d: -f1); do
    tail -c+$((pos + 1)) "$img" | $cmd > "$out.tmp" 2>/dev/null
    if file "$out.tmp" | grep -q ELF; then mv "$out.tmp" "$out"; exit 0; fi
  done
done
rm -f "$out.tmp"
echo "extract-vmlinux: no xz/gzip/zstd payload with an ELF inside $img" >&2
exit 1
