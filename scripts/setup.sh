#!/bin/sh
# setup.sh — installs what phoenix-netback needs on a fresh Debian machine, then builds it.
# Idempotent: Debian packages are installed only when missing; npm ci only when the lock changed.
set -eu
cd "$(dirname "$0")/.."

DEB_PKGS="build-essential python3 cmake pkg-config libxen-dev xenstore-utils iproute2 libbpf-dev linux-libc-dev iperf3 sockperf iputils-ping ethtool iputils-arping"
missing=""
for p in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages:$missing — run as root, or: sudo apt-get install$missing" >&2
    exit 1
  fi
  echo "setup: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi

stamp=node_modules/.phoenix-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
else
  # Rebuild the addon if its sources are newer than the built module.
  if [ ! -f build/Release/phoenix.node ] || [ -n "$(find addon binding.gyp -newer build/Release/phoenix.node -print -quit)" ]; then
    npx --no-install node-gyp rebuild
  fi
fi
npx --no-install tsc -p tsconfig.json
