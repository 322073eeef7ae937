// SPDX-License-Identifier: MIT
// xdp_prog.h — the XDP program that steers one queue's frames to an AF_XDP socket.
//
// Built with libbpf (Debian's libbpf-dev) when pkg-config finds it at build time
// (PHOENIX_HAVE_LIBBPF); without it the socket still works with xdp 'none' and any other mode
// fails with an error that says how to rebuild. Used by xsk.cc only.
#pragma once

#include <cstdint>
#include <string>

namespace phoenix {

enum XdpMode { kXdpAuto = 0, kXdpNative = 1, kXdpGeneric = 2, kXdpNone = 3 };

struct XdpAttach {
  int map_fd = -1;
  int prog_fd = -1;
  int link_fd = -1;  // the BPF link: closing it (or this process dying) detaches the program
  int mode = kXdpNone;  // kXdpNative or kXdpGeneric once attached
  uint32_t prog_id = 0;
  std::string fallback;  // why native mode was not used ('' when it was, or was not asked for)
};

// Loads the program and an XSKMAP holding `xsk_fd` at key `queue`, and attaches it to `ifindex`
// (in the caller's network namespace) in `want` mode (auto: native, else generic). Returns 0 or
// an errno with *failed naming the step and *hint saying what to do; on failure nothing is left.
int XdpAttachQueue(int ifindex, uint32_t queue, int xsk_fd, int want, XdpAttach* out, const char** failed,
                   std::string* hint);

// Closes the link (detaching the program), the program and the map. Idempotent.
void XdpRelease(XdpAttach* a);

const char* XdpModeName(int mode);
bool XdpBuiltWithLibbpf();
// '' when built with libbpf; otherwise how to get a build that has it.
const char* XdpBuildHint();

}  // namespace phoenix
