// SPDX-License-Identifier: MIT
// xsk.cc — an AF_XDP socket over a caller's mapping (the UMEM) and the XDP program that feeds it.
//
// `new XskSocket(opts)` registers opts.umem (an ArrayBuffer over a mapShared region: frame i at
// byte i*frameSize) as the socket's UMEM, sizes and maps the rings, binds to (ifname, queue) —
// zero-copy first unless told otherwise, copy mode if the driver refuses (veth: EOPNOTSUPP) —
// and, unless xdp is 'none', has xdp_prog.cc steer the queue to the socket (native XDP first,
// generic otherwise). With opts.netns the calling thread enters that namespace for the set-up
// and returns; the socket and the program stay bound to the interface there.
// The rings reach JS as external ArrayBuffers over their mmaps plus the offsets the kernel
// reported (src/xsk/ring.ts drives them with plain loads/stores). Per batch, one native call:
// kick(TX|RX) — sendto wakes TX, recvfrom lets the kernel refill from the fill ring.
// Lifetime as in shm.cc: each ring mapping is shared by this object and its ArrayBuffer's
// finaliser; close() (or the finaliser) stops the watch, detaches the buffers, unmaps, closes
// the bpf_link (detaching the program), the map, the program and the socket. A crashed process
// detaches too: the link dies with its last fd. The UMEM buffer is referenced until close();
// the kernel pins its pages for the socket's life anyway.
#include <fcntl.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "errors.h"
#include "poll.h"
#include "xdp_prog.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9  // Linux 6.17 (include/uapi/linux/if_xdp.h)
#endif

namespace phoenix {
namespace {

const char kPrivHint[] =
    "AF_XDP and XDP need root, or CAP_NET_RAW + CAP_NET_ADMIN + CAP_BPF (and CAP_IPC_LOCK or a large RLIMIT_MEMLOCK)";
enum ZeroCopy { kZcAuto = 0, kZcForce = 1, kZcNever = 2 };
enum Kick { kKickTx = 1, kKickRx = 2 };
constexpr int kStats = 7;
constexpr uint32_t kKernelTxBatch = 32;  // copy mode's per-sendto budget unless XDP_MAX_TX_SKB_BUDGET

struct RingMap {
  void* addr = MAP_FAILED;
  size_t len = 0;
  void Unmap() {
    if (addr != MAP_FAILED) munmap(addr, len);
    addr = MAP_FAILED;
  }
  ~RingMap() { Unmap(); }
};

std::string CommonHint(int err) {
  if (err == EPERM || err == EACCES) return kPrivHint;
  if (err == ENOMEM || err == ENOBUFS) return "cannot pin the UMEM: raise RLIMIT_MEMLOCK (ulimit -l unlimited) or grant CAP_IPC_LOCK";
  return std::string();
}

// Enters a network namespace for the lifetime of this object (this thread only), then returns.
class NetnsGuard {
 public:
  int Enter(const std::string& path) {
    if (path.empty()) return 0;
    home_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_ < 0) return errno;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    const int rc = setns(fd, CLONE_NEWNET);
    const int e = errno;
    close(fd);
    return rc == 0 ? 0 : e;
  }
  ~NetnsGuard() {
    if (home_ < 0) return;
    setns(home_, CLONE_NEWNET);  // back to where we were; cannot fail for our own namespace
    close(home_);
  }

 private:
  int home_ = -1;
};

class XskSocket : public Napi::ObjectWrap<XskSocket>, public PollClient {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "XskSocket",
                       {InstanceAccessor<&XskSocket::Fd>("fd"),
                        InstanceAccessor<&XskSocket::Ifindex>("ifindex"),
                        InstanceAccessor<&XskSocket::Queue>("queue"),
                        InstanceAccessor<&XskSocket::ZeroCopyGet>("zeroCopy"),
                        InstanceAccessor<&XskSocket::XdpModeGet>("xdpMode"),
                        InstanceAccessor<&XskSocket::XdpFallback>("xdpFallback"),
                        InstanceAccessor<&XskSocket::ProgId>("progId"),
                        InstanceAccessor<&XskSocket::TxBudget>("txBudget"),
                        InstanceAccessor<&XskSocket::Closed>("closed"),
                        InstanceAccessor<&XskSocket::Watching>("watching"),
                        InstanceAccessor<&XskSocket::Rings>("rings"),
                        InstanceMethod<&XskSocket::KickM>("kick"),
                        InstanceMethod<&XskSocket::Stats>("stats"),
                        InstanceMethod<&XskSocket::Watch>("watch"),
                        InstanceMethod<&XskSocket::Unwatch>("unwatch"),
                        InstanceMethod<&XskSocket::RefM>("ref"),
                        InstanceMethod<&XskSocket::UnrefM>("unref"),
                        InstanceMethod<&XskSocket::Close>("close")});
  }

  explicit XskSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<XskSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "XskSocket(opts: object)");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value ifv = o.Get("ifname"), umv = o.Get("umem"), nsv = o.Get("netns");
    if (!ifv.IsString() || !umv.IsArrayBuffer()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "XskSocket: ifname must be a string and umem an ArrayBuffer");
      return;
    }
    ifname_ = ifv.As<Napi::String>().Utf8Value();
    if (ifname_.empty() || ifname_.size() >= IFNAMSIZ) {
      ThrowArgError(env, "ERR_INVALID_ARG_VALUE", "XskSocket: ifname must have 1.." + std::to_string(IFNAMSIZ - 1) + " characters");
      return;
    }
    const std::string netns = nsv.IsString() ? nsv.As<Napi::String>().Utf8Value() : std::string();
    static const char* names[] = {"queue",  "frames", "frameSize", "headroom", "fillSize", "completionSize",
                                  "rxSize", "txSize", "zeroCopy",  "xdp",      "txBudget"};
    double v[11];
    for (int i = 0; i < 11; i++) {
      Napi::Value x = o.Get(names[i]);
      v[i] = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
      if (!(v[i] >= 0 && v[i] <= 4294967295.0) || v[i] != static_cast<double>(static_cast<uint64_t>(v[i]))) {
        ThrowArgError(env, "ERR_OUT_OF_RANGE", std::string("XskSocket: \"") + names[i] + "\" must be a non-negative integer");
        return;
      }
    }
    queue_ = static_cast<uint32_t>(v[0]);
    const uint64_t frames = static_cast<uint64_t>(v[1]);
    frame_size_ = static_cast<uint32_t>(v[2]);
    const uint32_t headroom = static_cast<uint32_t>(v[3]);
    for (int i = 0; i < 4; i++) sizes_[i] = static_cast<uint32_t>(v[4 + i]);
    const int zc = static_cast<int>(v[8]);
    const int xdp = static_cast<int>(v[9]);
    const uint32_t budget = static_cast<uint32_t>(v[10]);
    auto pow2 = [](uint32_t x) { return x != 0 && (x & (x - 1)) == 0; };
    if ((frame_size_ != 2048 && frame_size_ != 4096) || !pow2(sizes_[0]) || !pow2(sizes_[1]) ||
        (sizes_[2] != 0 && !pow2(sizes_[2])) || (sizes_[3] != 0 && !pow2(sizes_[3])) || zc > kZcNever || xdp > kXdpNone) {
      ThrowArgError(env, "ERR_OUT_OF_RANGE", "XskSocket: frameSize 2048|4096, ring sizes powers of two, zeroCopy 0..2, xdp 0..3");
      return;
    }
    if (sizes_[2] == 0 && sizes_[3] == 0) {
      ThrowArgError(env, "ERR_INVALID_ARG_VALUE", "XskSocket: needs an RX ring, a TX ring or both");
      return;
    }
    if (sizes_[2] == 0 && xdp != kXdpNone) {
      ThrowArgError(env, "ERR_INVALID_ARG_VALUE", "XskSocket: a socket without an RX ring takes xdp none (nothing to steer frames to)");
      return;
    }
    Napi::ArrayBuffer umem = umv.As<Napi::ArrayBuffer>();
    const uint64_t have = umem.ByteLength() / frame_size_;
    if (umem.Data() == nullptr || have == 0 || (reinterpret_cast<uintptr_t>(umem.Data()) & 4095) != 0) {
      ThrowArgError(env, "ERR_INVALID_ARG_VALUE", "XskSocket: umem must be a page-aligned mapping (mapShared) of at least one frame");
      return;
    }
    if (frames > have) {
      ThrowArgError(env, "ERR_OUT_OF_RANGE", "XskSocket: frames is " + std::to_string(frames) + " but the umem holds " +
                                                 std::to_string(have) + " whole frames of " + std::to_string(frame_size_) + " bytes");
      return;
    }
    umem_ = Napi::Persistent(umem);
    NetnsGuard ns;
    const int e = ns.Enter(netns);
    if (e != 0) {
      ThrowErrno(env, e, "setns", netns, e == ENOENT ? "no such network namespace: create it with ip netns add NAME (see ip netns list)" : CommonHint(e));
      Release();
      return;
    }
    if (!Open(env, umem.Data(), (frames ? frames : have) * frame_size_, headroom, zc, budget) ||
        (xdp != kXdpNone && !Attach(env, xdp))) {
      Release();
    }
  }

  ~XskSocket() override { Release(false); }

  void OnPoll(int status, int events) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      StopWatching();
      napi_fatal_exception(env, ErrnoError(env, -status, "uv_poll", ifname_, "the XSK watch has stopped").Value());
      return;
    }
    // Level-triggered: cb must consume the RX ring (or unwatch), or it fires again at once.
    napi_value argv[] = {Napi::Number::New(env, events)};
    napi_value result;
    napi_make_callback(env, context_ ? static_cast<napi_async_context>(*context_) : nullptr, Value(),
                       callback_.Value(), 1, argv, &result);
    RaiseUncaught(env);
  }

 private:
  bool Fail(Napi::Env env, int err, const char* syscall, const std::string& hint) {
    ThrowErrno(env, err, syscall, ifname_, hint);
    return false;
  }

  bool Open(Napi::Env env, void* umem, uint64_t umem_len, uint32_t headroom, int zc, uint32_t budget) {
    ifindex_ = if_nametoindex(ifname_.c_str());
    if (ifindex_ == 0) return Fail(env, ENODEV, "if_nametoindex", "no interface named '" + ifname_ + "' in this network namespace (ip link show)");
    fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      const int e = errno;
      return Fail(env, e, "socket", e == EAFNOSUPPORT ? "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)" : CommonHint(e));
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ifname_.c_str(), ifname_.size());
    // AF_XDP sockets take no interface ioctls: ask through a throw-away datagram socket.
    const int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const bool down = probe >= 0 && ioctl(probe, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP);
    if (probe >= 0) close(probe);
    if (down) return Fail(env, ENETDOWN, "bind", "the interface is down: ip link set " + ifname_ + " up");
    struct xdp_umem_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.addr = reinterpret_cast<uint64_t>(umem);
    reg.len = umem_len;
    reg.chunk_size = frame_size_;
    reg.headroom = headroom;
    if (setsockopt(fd_, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) != 0) {
      const int e = errno;
      return Fail(env, e, "setsockopt(XDP_UMEM_REG)", e == EINVAL ? "headroom too large for the frame size" : CommonHint(e));
    }
    const int opts[4] = {XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING, XDP_RX_RING, XDP_TX_RING};
    for (int i = 0; i < 4; i++) {
      if (sizes_[i] != 0 && setsockopt(fd_, SOL_XDP, opts[i], &sizes_[i], sizeof sizes_[i]) != 0) {
        const int e = errno;
        return Fail(env, e, "setsockopt(XDP ring size)", CommonHint(e));
      }
    }
    struct xdp_mmap_offsets off;
    socklen_t optlen = sizeof off;
    if (getsockopt(fd_, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) != 0) {
      return Fail(env, errno, "getsockopt(XDP_MMAP_OFFSETS)", "");
    }
    offs_[0] = off.fr, offs_[1] = off.cr, offs_[2] = off.rx, offs_[3] = off.tx;
    const off_t pgoff[4] = {static_cast<off_t>(XDP_UMEM_PGOFF_FILL_RING), static_cast<off_t>(XDP_UMEM_PGOFF_COMPLETION_RING),
                            XDP_PGOFF_RX_RING, XDP_PGOFF_TX_RING};
    const size_t entry[4] = {sizeof(uint64_t), sizeof(uint64_t), sizeof(struct xdp_desc), sizeof(struct xdp_desc)};
    for (int i = 0; i < 4; i++) {
      if (sizes_[i] == 0) continue;
      rings_[i] = std::make_shared<RingMap>();
      rings_[i]->len = offs_[i].desc + sizes_[i] * entry[i];
      rings_[i]->addr = mmap(nullptr, rings_[i]->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, pgoff[i]);
      if (rings_[i]->addr == MAP_FAILED) {
        const int e = errno;
        return Fail(env, e, "mmap", CommonHint(e));
      }
    }
    tx_budget_ = kKernelTxBatch;
    if (sizes_[3] != 0) {
      const uint32_t want = budget != 0 ? budget : sizes_[3];
      if (setsockopt(fd_, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &want, sizeof want) == 0) tx_budget_ = want;
      else if (budget != 0 && errno != ENOPROTOOPT) return Fail(env, errno, "setsockopt(XDP_MAX_TX_SKB_BUDGET)", "txBudget must be 32..txSize");
    }
    struct sockaddr_xdp sxdp;
    memset(&sxdp, 0, sizeof sxdp);
    sxdp.sxdp_family = AF_XDP;
    sxdp.sxdp_ifindex = ifindex_;
    sxdp.sxdp_queue_id = queue_;
    int rc = -1, e = 0;
    if (zc != kZcNever) {
      sxdp.sxdp_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY;
      rc = bind(fd_, reinterpret_cast<struct sockaddr*>(&sxdp), sizeof sxdp);
      e = errno;
      zerocopy_ = rc == 0;
    }
    if (rc != 0 && zc != kZcForce) {
      sxdp.sxdp_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
      rc = bind(fd_, reinterpret_cast<struct sockaddr*>(&sxdp), sizeof sxdp);
      e = errno;
    }
    if (rc != 0) {
      std::string hint = CommonHint(e);
      if (e == EINVAL) hint = "queue " + std::to_string(queue_) + " does not exist on " + ifname_ + " (ethtool -l " + ifname_ + ")";
      if (e == EBUSY) hint = "another AF_XDP socket (or UMEM) is bound to this interface and queue";
      if (e == EOPNOTSUPP && zc == kZcForce) hint = "the driver has no zero-copy AF_XDP (veth has none): use zeroCopy 'auto'";
      return Fail(env, e, "bind", hint);
    }
    return true;
  }

  bool Attach(Napi::Env env, int xdp) {
    const char* failed = "bpf";
    std::string hint;
    const int e = XdpAttachQueue(static_cast<int>(ifindex_), queue_, fd_, xdp, &xdp_, &failed, &hint);
    return e == 0 || Fail(env, e, failed, hint);
  }

  // Closes everything; safe to call twice. From JS (close(), a failed constructor) the ring
  // buffers are detached first so stale views throw, then unmapped. From the finaliser nothing
  // JS-side is touched: our share of each mapping is dropped and the ArrayBuffer's own finaliser
  // unmaps it once no view is left (the kernel keeps the ring pages alive for the mapping).
  void Release(bool from_js = true) {
    StopWatching(false);
    for (int i = 0; i < 4; i++) {
      if (from_js && !buffers_[i].IsEmpty()) {
        Napi::ArrayBuffer ab = buffers_[i].Value();
        if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
      }
      buffers_[i].Reset();
      if (from_js && rings_[i]) rings_[i]->Unmap();
      rings_[i].reset();
    }
    XdpRelease(&xdp_);  // closing the link detaches the program
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    umem_.Reset();
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Ifindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }
  Napi::Value Queue(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), queue_); }
  Napi::Value ZeroCopyGet(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), zerocopy_); }
  Napi::Value XdpModeGet(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), XdpModeName(xdp_.mode)); }
  Napi::Value XdpFallback(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), xdp_.fallback); }
  Napi::Value ProgId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), xdp_.prog_id); }
  Napi::Value TxBudget(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tx_budget_); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }
  Napi::Value Watching(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), poll_ != nullptr); }

  // { fill, completion, rx?, tx? }: each { buffer, size, producer, consumer, flags, desc } (byte
  // offsets). The ArrayBuffers are made once and shared by every call.
  Napi::Value Rings(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, "mmap", ifname_, "this XskSocket is closed");
      return Napi::Value();
    }
    static const char* names[4] = {"fill", "completion", "rx", "tx"};
    Napi::Object out = Napi::Object::New(env);
    for (int i = 0; i < 4; i++) {
      if (!rings_[i]) continue;
      if (buffers_[i].IsEmpty()) {
        auto* owner = new std::shared_ptr<RingMap>(rings_[i]);
        Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
            env, rings_[i]->addr, rings_[i]->len, [](Napi::Env, void*, std::shared_ptr<RingMap>* o) { delete o; }, owner);
        if (env.IsExceptionPending()) {
          delete owner;
          return Napi::Value();
        }
        buffers_[i] = Napi::Persistent(ab);
      }
      Napi::Object r = Napi::Object::New(env);
      r.Set("buffer", buffers_[i].Value());
      r.Set("size", Napi::Number::New(env, sizes_[i]));
      r.Set("producer", Napi::Number::New(env, static_cast<double>(offs_[i].producer)));
      r.Set("consumer", Napi::Number::New(env, static_cast<double>(offs_[i].consumer)));
      r.Set("flags", Napi::Number::New(env, static_cast<double>(offs_[i].flags)));
      r.Set("desc", Napi::Number::New(env, static_cast<double>(offs_[i].desc)));
      out.Set(names[i], r);
    }
    return out;
  }

  // kick(TX|RX): sendto (the kernel transmits what the TX ring holds) and/or recvfrom (it refills
  // from the fill ring when need_wakeup is set). Returns 0 or a transient negative errno
  // (EAGAIN/EBUSY/ENOBUFS/ENETDOWN: retry after reaping completions); throws on anything else.
  Napi::Value KickM(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double what = 0;
    if (!IntArg(info, 0, "what", 0, 3, &what)) return Napi::Value();
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, "sendto", ifname_, "this XskSocket is closed");
      return Napi::Value();
    }
    int res = 0;
    if (static_cast<int>(what) & kKickTx) {
      // Copy mode sends at most txBudget descriptors per sendto and then says EAGAIN; go on
      // while the kernel keeps consuming (bounded), so one kick drains the batch.
      const volatile uint32_t* cons =
          rings_[3] ? reinterpret_cast<const volatile uint32_t*>(static_cast<char*>(rings_[3]->addr) + offs_[3].consumer) : nullptr;
      for (int round = 0; round < 64; round++) {
        const uint32_t before = cons != nullptr ? *cons : 0;
        if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) {
          res = 0;
          break;
        }
        const int e = errno;
        if (e == EBUSY) tx_busy_++;
        if (e != EAGAIN && e != EBUSY && e != ENOBUFS && e != ENETDOWN) {
          ThrowErrno(env, e, "sendto", ifname_);
          return Napi::Value();
        }
        res = -e;
        if (e != EAGAIN || cons == nullptr || *cons == before) break;
      }
    }
    if ((static_cast<int>(what) & kKickRx) && recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0) {
      const int e = errno;
      if (e != EAGAIN && e != EBUSY && e != ENOBUFS && e != ENETDOWN) {
        ThrowErrno(env, e, "recvfrom", ifname_);
        return Napi::Value();
      }
      if (res == 0) res = -e;
    }
    return Napi::Number::New(env, res);
  }

  // stats(out: Float64Array(>=7)): XDP_STATISTICS in kernel order, then kicks that met EBUSY.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::TypedArray>().ElementLength() < kStats) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "stats(out: Float64Array(7))");
      return Napi::Value();
    }
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, "getsockopt", ifname_, "this XskSocket is closed");
      return Napi::Value();
    }
    struct xdp_statistics st;
    memset(&st, 0, sizeof st);
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) {
      ThrowErrno(env, errno, "getsockopt(XDP_STATISTICS)", ifname_);
      return Napi::Value();
    }
    Napi::Float64Array out = info[0].As<Napi::Float64Array>();
    out[0] = static_cast<double>(st.rx_dropped);
    out[1] = static_cast<double>(st.rx_invalid_descs);
    out[2] = static_cast<double>(st.tx_invalid_descs);
    out[3] = static_cast<double>(st.rx_ring_full);
    out[4] = static_cast<double>(st.rx_fill_ring_empty_descs);
    out[5] = static_cast<double>(st.tx_ring_empty_descs);
    out[6] = static_cast<double>(tx_busy_);
    return out;
  }

  // watch(events, cb): cb(events) on Node's loop while the socket is readable (RX descriptors)
  // and/or writable (TX room). A second watch replaces events and cb.
  Napi::Value Watch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double events = 0;
    if (!IntArg(info, 0, "events", 1, 3, &events)) return Napi::Value();
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"cb\" argument must be of type function");
      return Napi::Value();
    }
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, "uv_poll_start", ifname_, "this XskSocket is closed");
      return Napi::Value();
    }
    StopWatching();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    const int rc = Poll::Start(env, fd_, static_cast<int>(events), this, &poll_);
    if (rc != 0) {
      callback_.Reset();
      ThrowErrno(env, -rc, "uv_poll_start", ifname_);
      return Napi::Value();
    }
    poll_->SetRef(ref_);
    context_ = std::make_unique<Napi::AsyncContext>(env, "phoenix.XskSocket", Value());
    Napi::ObjectWrap<XskSocket>::Ref();  // an active watch keeps this object alive
    return env.Undefined();
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    StopWatching();
    return info.Env().Undefined();
  }
  Napi::Value RefM(const Napi::CallbackInfo& info) { return SetRef(info, true); }
  Napi::Value UnrefM(const Napi::CallbackInfo& info) { return SetRef(info, false); }
  Napi::Value SetRef(const Napi::CallbackInfo& info, bool ref) {
    ref_ = ref;
    if (poll_ != nullptr) poll_->SetRef(ref);
    return info.Env().Undefined();
  }

  void StopWatching(bool unref_self = true) {
    if (poll_ == nullptr) return;
    poll_->Release();
    poll_ = nullptr;
    callback_.Reset();
    context_.reset();
    if (unref_self) Napi::ObjectWrap<XskSocket>::Unref();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopWatching();
    Release();
    return info.Env().Undefined();
  }

  std::string ifname_;
  unsigned ifindex_ = 0;
  uint32_t queue_ = 0, frame_size_ = 2048, tx_budget_ = 0;
  uint32_t sizes_[4] = {0, 0, 0, 0};  // fill, completion, rx, tx
  struct xdp_ring_offset offs_[4];
  int fd_ = -1;
  XdpAttach xdp_;
  bool zerocopy_ = false;
  bool ref_ = true;
  double tx_busy_ = 0;
  std::shared_ptr<RingMap> rings_[4];
  Napi::Reference<Napi::ArrayBuffer> buffers_[4];
  Napi::Reference<Napi::ArrayBuffer> umem_;
  Poll* poll_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace

void InitXsk(Napi::Env env, Napi::Object exports) {
  exports.Set("XskSocket", XskSocket::Define(env));
  Napi::Object x = Napi::Object::New(env);
  x.Set("libbpf", Napi::Boolean::New(env, XdpBuiltWithLibbpf()));
  x.Set("buildHint", Napi::String::New(env, XdpBuildHint()));
  Napi::Object xm = Napi::Object::New(env);
  xm.Set("auto", Napi::Number::New(env, kXdpAuto));
  xm.Set("native", Napi::Number::New(env, kXdpNative));
  xm.Set("generic", Napi::Number::New(env, kXdpGeneric));
  xm.Set("none", Napi::Number::New(env, kXdpNone));
  x.Set("xdpModes", xm);
  Napi::Object zm = Napi::Object::New(env);
  zm.Set("auto", Napi::Number::New(env, kZcAuto));
  zm.Set("force", Napi::Number::New(env, kZcForce));
  zm.Set("never", Napi::Number::New(env, kZcNever));
  x.Set("zeroCopyModes", zm);
  x.Set("needWakeup", Napi::Number::New(env, XDP_RING_NEED_WAKEUP));
  exports.Set("xsk", x);
}

}  // namespace phoenix
