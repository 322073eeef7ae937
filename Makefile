# phoenix-netback — every target does its own set-up (Debian packages, npm ci, the addon build).
.PHONY: all setup build test demo bench asan clean test-xen

all: build

setup:
	@sh scripts/setup.sh

build: setup

test: setup
	TAP_TYPECHECK=$${CI:+1} npx --no-install tap

demo: setup
	node dist/src/cli/main.js demo

bench: setup
	node dist/src/cli/main.js bench all

asan: setup
	sh scripts/asan.sh

# Real Xen under QEMU (Debian's Xen 4.17 + kernel, cached in /var/cache/phoenix-xen): test/xen/run.ts
test-xen: setup
	node dist/test/xen/run.js

clean:
	rm -rf build build-cmake dist .tap coverage
