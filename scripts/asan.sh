#!/bin/sh
# asan.sh — builds the addon with AddressSanitizer + UBSan (cmake-js, addon/CMakeLists.txt, into
# build-cmake/) and runs the addon tests and an in-process netback test (or the test files given)
# against that build. `make asan` calls it.
#
# node itself is not instrumented, so libasan is LD_PRELOADed (it must come first); children and
# workers inherit LD_PRELOAD and PHOENIX_ADDON, so they run the sanitized addon too. Leak checking
# is off because node leaks at exit by design; handle_segv=0 leaves SIGSEGV to the kernel (one test
# expects a write to a read-only mapping to die of it). Any ASan report or UB aborts the process
# that hit it, which fails its test.
set -eu
cd "$(dirname "$0")/.."

# cmake-js finds the Node headers through npm's nodedir (these machines have no download access);
# default it to the running node's prefix if npm did not pass it on.
if [ -z "${npm_config_nodedir:-}" ]; then
  prefix=$(dirname "$(dirname "$(command -v node)")")
  if [ -f "$prefix/include/node/node.h" ]; then
    npm_config_nodedir=$prefix
    export npm_config_nodedir
  fi
fi

mkdir -p build-cmake
npx --no-install cmake-js build -d addon --out build-cmake --config RelWithDebInfo >build-cmake/build.log 2>&1 || {
  cat build-cmake/build.log >&2
  echo "asan: the sanitizer build failed (log above, also in build-cmake/build.log)" >&2
  exit 1
}
addon=$(find "$PWD/build-cmake" -name phoenix.node -type f | head -n 1)
[ -n "$addon" ] || { echo "asan: no phoenix.node under build-cmake/" >&2; exit 1; }
nm -D "$addon" | grep -q __asan_init || { echo "asan: $addon is not instrumented" >&2; exit 1; }

libasan=$(${CXX:-c++} -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "asan: libasan not found (${CXX:-c++} -print-file-name=libasan.so)" >&2; exit 1; }

[ $# -gt 0 ] || set -- test/addon/ test/netback/inprocess.test.ts
echo "asan: testing $addon with LD_PRELOAD=$libasan"
PHOENIX_ADDON=$addon \
LD_PRELOAD=$libasan \
ASAN_OPTIONS=detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  npx --no-install tap --disable-coverage --timeout 300 "$@"
