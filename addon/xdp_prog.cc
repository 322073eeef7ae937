// SPDX-License-Identifier: MIT
// xdp_prog.cc — a five-instruction XDP program, an XSKMAP, and their attachment through a BPF link.
//
// The program is what xdp-tools' default AF_XDP program does, without needing clang or libxdp's
// dispatcher (which fails on this kernel: reference/performance.md):
//     return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
// Frames of a queue with no socket in the map take the fallback action (XDP_PASS: the kernel
// stack), so only our queue is diverted. It is attached with BPF_LINK_CREATE rather than
// netlink: a link lives as long as its fd, so close() — or the driver process crashing — detaches
// the program, and a reloaded driver never finds a stale one in its way. Native (driver) mode is
// tried first; generic (SKB) mode is the fallback, and the mode in use is reported.
#include "xdp_prog.h"

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#ifdef PHOENIX_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#endif

namespace phoenix {

const char* XdpModeName(int mode) {
  switch (mode) {
    case kXdpNative:
      return "native";
    case kXdpGeneric:
      return "generic";
    default:
      return "none";
  }
}

void XdpRelease(XdpAttach* a) {
  for (int* fd : {&a->link_fd, &a->prog_fd, &a->map_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  a->mode = kXdpNone;
  a->prog_id = 0;
}

#ifndef PHOENIX_HAVE_LIBBPF
#warning "phoenix: libbpf not found by pkg-config: AF_XDP sockets will work only with xdp 'none'. Install libbpf-dev and pkg-config (scripts/setup.sh), then rebuild."

bool XdpBuiltWithLibbpf() { return false; }
const char* XdpBuildHint() {
  return "this addon was built without libbpf, so it cannot attach an XDP program: apt-get install "
         "libbpf-dev pkg-config (scripts/setup.sh does), then rebuild: npx node-gyp rebuild";
}

int XdpAttachQueue(int, uint32_t, int, int, XdpAttach*, const char** failed, std::string* hint) {
  *failed = "bpf";
  *hint = XdpBuildHint();
  return ENOTSUP;
}

#else

bool XdpBuiltWithLibbpf() { return true; }
const char* XdpBuildHint() { return ""; }

namespace {

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

std::string PrivHint() {
  return "loading an XDP program needs root, or CAP_BPF + CAP_NET_ADMIN (CAP_SYS_ADMIN before Linux 5.8)";
}

std::string AttachHint(int err, const std::string& native_err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return PrivHint();
    case EBUSY:
    case EEXIST:
      return "another XDP program is attached to this interface (see `ip link show`): remove it with "
             "`ip link set dev IFNAME xdp off` (or `xdpgeneric off`), or pass xdp 'none' and steer the queue yourself";
    case EOPNOTSUPP:
      return "the driver has no native XDP: use xdp 'auto' or 'generic'";
    case ENODEV:
      return "the interface disappeared";
    case EINVAL:
      return "the kernel refused the attachment (BPF links for XDP need Linux >= 5.9; native XDP on veth needs an MTU "
             "that fits a page)" + (native_err.empty() ? std::string() : "; native mode failed first: " + native_err);
    default:
      return native_err.empty() ? std::string() : "native mode failed first: " + native_err;
  }
}

}  // namespace

int XdpAttachQueue(int ifindex, uint32_t queue, int xsk_fd, int want, XdpAttach* out, const char** failed,
                   std::string* hint) {
  XdpAttach a;
  auto fail = [&](int err, const char* step, const std::string& h) {
    XdpRelease(&a);
    *failed = step;
    *hint = h;
    return err;
  };
  a.map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "phoenix_xsks", sizeof(uint32_t), sizeof(uint32_t), queue + 1, nullptr);
  if (a.map_fd < 0) {
    const int e = errno;
    return fail(e, "bpf(BPF_MAP_CREATE)", e == EPERM ? PrivHint() : "cannot create the XSKMAP (CONFIG_XDP_SOCKETS?)");
  }
  const uint32_t key = queue, value = static_cast<uint32_t>(xsk_fd);
  if (bpf_map_update_elem(a.map_fd, &key, &value, BPF_ANY) != 0) {
    return fail(errno, "bpf(BPF_MAP_UPDATE_ELEM)", "the socket must be bound before it enters the XSKMAP");
  }

  const bpf_insn prog[] = {
      // r2 = ctx->rx_queue_index
      Insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(xdp_md, rx_queue_index), 0),
      // r1 = &xsks (a 64-bit immediate naming the map by fd)
      Insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, a.map_fd),
      Insn(0, 0, 0, 0, 0),
      // r3 = XDP_PASS: bpf_redirect_map's action when the queue has no socket
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  char log[4096] = {0};
  LIBBPF_OPTS(bpf_prog_load_opts, lopts);
  lopts.expected_attach_type = BPF_XDP;
  lopts.log_buf = log;  // level 0 + a buffer: libbpf retries at level 1 on failure to fill it
  lopts.log_size = sizeof log;
  a.prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "phoenix_xsk", "Dual MIT/GPL", prog, sizeof prog / sizeof prog[0], &lopts);
  if (a.prog_fd < 0) {
    const int e = errno;
    if (e == EPERM || e == EACCES) return fail(e, "bpf(BPF_PROG_LOAD)", PrivHint());
    return fail(e, "bpf(BPF_PROG_LOAD)", std::string("the verifier refused the program: ") + log);
  }
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(a.prog_fd, &info, &len) == 0) a.prog_id = info.id;

  std::string native_err;
  if (want == kXdpAuto || want == kXdpNative) {
    LIBBPF_OPTS(bpf_link_create_opts, copts);
    copts.flags = XDP_FLAGS_DRV_MODE;
    a.link_fd = bpf_link_create(a.prog_fd, ifindex, BPF_XDP, &copts);
    if (a.link_fd >= 0) {
      a.mode = kXdpNative;
    } else {
      const int e = errno;
      if (want == kXdpNative || e == EPERM || e == EACCES || e == EBUSY || e == EEXIST || e == ENODEV) {
        return fail(e, "bpf(BPF_LINK_CREATE)", AttachHint(e, ""));
      }
      native_err = std::string(strerror(e));
    }
  }
  if (a.link_fd < 0) {
    LIBBPF_OPTS(bpf_link_create_opts, copts);
    copts.flags = XDP_FLAGS_SKB_MODE;
    a.link_fd = bpf_link_create(a.prog_fd, ifindex, BPF_XDP, &copts);
    if (a.link_fd < 0) {
      const int e = errno;
      return fail(e, "bpf(BPF_LINK_CREATE)", AttachHint(e, native_err));
    }
    a.mode = kXdpGeneric;
    a.fallback = native_err;
  }
  *out = a;
  a.map_fd = a.prog_fd = a.link_fd = -1;  // now owned by *out
  return 0;
}

#endif  // PHOENIX_HAVE_LIBBPF

}  // namespace phoenix
