// SPDX-License-Identifier: MIT
// gntdev.cc — /dev/xen/gntdev: map pages a guest granted us, and batched grant copies.
//
// `new GntDev(path)` opens the device. map(domid, refs, writable) reserves the grants
// (IOCTL_GNTDEV_MAP_GRANT_REF) and mmaps them as one external ArrayBuffer; unmap(buffer) detaches
// it, munmaps and releases the reservation. copy(segs, count, buffers) runs `count` 24-byte
// gntdev_grant_copy_segment records (built by src/transport/xen/copy.ts) in ONE
// IOCTL_GNTDEV_GRANT_COPY; the local side of each record names (buffer index << 40 | byte offset)
// and is replaced here by the real address after a bounds check (reference/xen-netif.md §2.7.1).
// Invariants: the device fd stays open while any mapping made through it lives (shared
// ownership: unmapping needs it); a buffer is detached before its pages are unmapped, so a
// stale view throws instead of faulting; no record reaches the kernel unless its local side lies
// inside its ArrayBuffer and its foreign side inside one 4 KiB page. Nothing here needs Xen to
// build; the ioctl numbers are checked against <xen/gntdev.h> where that header is installed.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"

namespace phoenix {
namespace {

struct GrantRef { uint32_t domid; uint32_t ref; };
struct UnmapGrantRef { uint64_t index; uint32_t count; uint32_t pad; };
struct GrantCopy { unsigned int count; void* segments; };

constexpr unsigned long kMapGrantRef = _IOC(_IOC_NONE, 'G', 0, 24);
constexpr unsigned long kUnmapGrantRef = _IOC(_IOC_NONE, 'G', 1, 16);
constexpr unsigned long kGrantCopy = _IOC(_IOC_NONE, 'G', 8, 16);
static_assert(kMapGrantRef == 0x00184700 && kUnmapGrantRef == 0x00104701 && kGrantCopy == 0x00104708,
              "gntdev ioctl numbers (xen-netif.md 2.7.1)");
static_assert(sizeof(UnmapGrantRef) == 16 && sizeof(GrantCopy) == 16, "gntdev ABI");
constexpr size_t kPage = 4096, kSeg = 24, kMaxRefs = 1024;
constexpr uint16_t kSourceGref = 1, kDestGref = 2;
constexpr int kLocalShift = 40;
const char kXenHint[] = "run in a Xen dom0/driver domain; modprobe xen-gntdev xen-evtchn";

// The device fd, shared by the GntDev handle and every live mapping made through it.
struct Device {
  int fd = -1;
  ~Device() { if (fd >= 0) close(fd); }
};

// A run of mapped grant pages; unmapped once, by unmap() or by the ArrayBuffer's finaliser.
struct Pages {
  std::shared_ptr<Device> dev;
  void* addr = nullptr;
  size_t len = 0;
  uint64_t index = 0;
  uint32_t count = 0;
  bool mapped = false;
  void Unmap() {
    if (!mapped) return;
    mapped = false;
    munmap(addr, len);
    UnmapGrantRef u{index, count, 0};
    ioctl(dev->fd, kUnmapGrantRef, &u);
  }
  ~Pages() { Unmap(); }
};

class GntDev : public Napi::ObjectWrap<GntDev> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GntDev",
                       {InstanceAccessor<&GntDev::Fd>("fd"), InstanceMethod<&GntDev::Map>("map"),
                        InstanceMethod<&GntDev::Unmap>("unmap"), InstanceMethod<&GntDev::Copy>("copy"),
                        InstanceMethod<&GntDev::Close>("close")});
  }

  // new GntDev(path = '/dev/xen/gntdev')
  explicit GntDev(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GntDev>(info) {
    Napi::Env env = info.Env();
    path_ = "/dev/xen/gntdev";
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsString()) {
        ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"path\" argument must be of type string");
        return;
      }
      path_ = info[0].As<Napi::String>().Utf8Value();
    }
    const int fd = open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      ThrowErrno(env, err, "open", path_, err == EACCES || err == EPERM ? "run as root" : kXenHint);
      return;
    }
    dev_ = std::make_shared<Device>();
    dev_->fd = fd;
  }

 private:
  bool Open(Napi::Env env, const char* syscall) {
    if (dev_) return true;
    ThrowErrno(env, EBADF, syscall, path_, "this GntDev is closed");
    return false;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dev_ ? dev_->fd : -1); }

  // map(domid, refs: Uint32Array, writable) -> ArrayBuffer of refs.length pages
  Napi::Value Map(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double domid = 0;
    if (!IntArg(info, 0, "domid", 0, 0x7fef, &domid)) return Napi::Value();
    if (info.Length() < 3 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"refs\" argument must be a Uint32Array");
      return Napi::Value();
    }
    Napi::Uint32Array refs = info[1].As<Napi::Uint32Array>();
    if (refs.ElementLength() == 0 || refs.ElementLength() > kMaxRefs) {
      ThrowArgError(env, "ERR_OUT_OF_RANGE", "map: between 1 and 1024 grant refs");
      return Napi::Value();
    }
    if (!Open(env, "ioctl")) return Napi::Value();
    const bool writable = info[2].ToBoolean().Value();
    const uint32_t n = static_cast<uint32_t>(refs.ElementLength());
    // struct ioctl_gntdev_map_grant_ref: {u32 count, u32 pad, u64 index, refs[count]}
    std::vector<uint8_t> arg(16 + n * sizeof(GrantRef));
    std::memcpy(arg.data(), &n, 4);
    for (uint32_t i = 0; i < n; i++) {
      const GrantRef r{static_cast<uint32_t>(domid), refs[i]};
      std::memcpy(arg.data() + 16 + i * sizeof(GrantRef), &r, sizeof r);
    }
    const std::string what = "domain " + std::to_string(static_cast<int>(domid)) + " grant " + std::to_string(refs[0]) +
                             (n > 1 ? " (+" + std::to_string(n - 1) + ")" : "");
    if (ioctl(dev_->fd, kMapGrantRef, arg.data()) != 0) {
      const int err = errno;
      ThrowErrno(env, err, "ioctl", path_, "IOCTL_GNTDEV_MAP_GRANT_REF for " + what);
      return Napi::Value();
    }
    uint64_t index = 0;
    std::memcpy(&index, arg.data() + 8, 8);
    auto pages = std::make_shared<Pages>();
    pages->dev = dev_;
    pages->len = n * kPage;
    pages->index = index;
    pages->count = n;
    void* addr = mmap(nullptr, pages->len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, dev_->fd,
                      static_cast<off_t>(index));
    if (addr == MAP_FAILED) {
      const int err = errno;
      UnmapGrantRef u{index, n, 0};
      ioctl(dev_->fd, kUnmapGrantRef, &u);
      ThrowErrno(env, err, "mmap", path_, "mapping " + what + " failed: the grant is bad, revoked, not ours, or read-only");
      return Napi::Value();
    }
    pages->addr = addr;
    pages->mapped = true;
    auto* owner = new std::shared_ptr<Pages>(pages);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, addr, pages->len, [](Napi::Env, void*, std::shared_ptr<Pages>* o) { delete o; }, owner);
    if (env.IsExceptionPending() || ab.IsEmpty()) {
      delete owner;
      pages->Unmap();
      return Napi::Value();
    }
    Prune();
    live_[addr] = pages;
    return ab;
  }

  // unmap(buffer) -> true if it was a live mapping of ours (now detached and unmapped)
  Napi::Value Unmap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"buffer\" argument must be an ArrayBuffer");
      return Napi::Value();
    }
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    void* data = ab.IsDetached() ? nullptr : ab.Data();
    auto it = data == nullptr ? live_.end() : live_.find(data);
    if (it == live_.end()) return Napi::Boolean::New(env, false);
    std::shared_ptr<Pages> pages = it->second.lock();
    live_.erase(it);
    if (!pages || !pages->mapped) return Napi::Boolean::New(env, false);
    ab.Detach();
    pages->Unmap();
    return Napi::Boolean::New(env, true);
  }

  // copy(segs: Uint8Array, count, buffers: ArrayBuffer[]) -> 0 or the ioctl's errno
  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        !info[2].IsArray()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "copy(segs: Uint8Array, count: number, buffers: ArrayBuffer[])");
      return Napi::Value();
    }
    Napi::Uint8Array segs = info[0].As<Napi::Uint8Array>();
    double countD = 0;
    if (!IntArg(info, 1, "count", 0, 1 << 20, &countD)) return Napi::Value();
    const size_t count = static_cast<size_t>(countD);
    if (count * kSeg > segs.ByteLength()) {
      ThrowArgError(env, "ERR_OUT_OF_RANGE", "copy: segs holds fewer than count 24-byte records");
      return Napi::Value();
    }
    if (!Open(env, "ioctl")) return Napi::Value();
    if (count == 0) return Napi::Number::New(env, 0);
    Napi::Array bufs = info[2].As<Napi::Array>();
    std::vector<uint8_t*> base(bufs.Length());
    std::vector<size_t> size(bufs.Length());
    for (uint32_t i = 0; i < bufs.Length(); i++) {
      Napi::Value b = bufs[i];
      if (!b.IsArrayBuffer()) {
        ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "copy: every buffer must be an ArrayBuffer");
        return Napi::Value();
      }
      void* data = nullptr;
      napi_get_arraybuffer_info(env, b, &data, &size[i]);
      base[i] = static_cast<uint8_t*>(data);
    }
    // Work on a private copy: JavaScript cannot change a record between our check and the ioctl.
    scratch_.resize(count * kSeg);
    std::memcpy(scratch_.data(), segs.Data(), count * kSeg);
    for (size_t i = 0; i < count; i++) {
      uint8_t* s = scratch_.data() + i * kSeg;
      uint16_t len, flags, foff;
      std::memcpy(&len, s + 16, 2);
      std::memcpy(&flags, s + 18, 2);
      if (flags != kSourceGref && flags != kDestGref) {
        ThrowArgError(env, "ERR_INVALID_ARG_VALUE", "copy: segment " + std::to_string(i) + " must have exactly one grant side");
        return Napi::Value();
      }
      uint8_t* foreign = s + (flags == kSourceGref ? 0 : 8);
      uint8_t* local = s + (flags == kSourceGref ? 8 : 0);
      std::memcpy(&foff, foreign + 4, 2);
      uint64_t v;
      std::memcpy(&v, local, 8);
      const uint64_t idx = v >> kLocalShift, off = v & ((uint64_t{1} << kLocalShift) - 1);
      if (foff + size_t{len} > kPage || idx >= base.size() || base[idx] == nullptr || off > size[idx] || len > size[idx] - off) {
        ThrowArgError(env, "ERR_OUT_OF_RANGE", "copy: segment " + std::to_string(i) + " leaves its grant page or its local buffer");
        return Napi::Value();
      }
      uint8_t* p = base[idx] + off;
      std::memcpy(local, &p, sizeof p);
    }
    GrantCopy gc{static_cast<unsigned int>(count), scratch_.data()};
    const int err = ioctl(dev_->fd, kGrantCopy, &gc) != 0 ? errno : 0;
    if (err == 0) {
      for (size_t i = 0; i < count; i++) std::memcpy(segs.Data() + i * kSeg + 20, scratch_.data() + i * kSeg + 20, 2);
    }
    return Napi::Number::New(env, err);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    dev_.reset();  // the fd closes when the last mapping made through it is gone
    return info.Env().Undefined();
  }

  void Prune() {
    for (auto it = live_.begin(); it != live_.end();) it = it->second.expired() ? live_.erase(it) : std::next(it);
  }

  std::shared_ptr<Device> dev_;
  std::string path_;
  std::map<void*, std::weak_ptr<Pages>> live_;  // mappings unmap() may be asked for
  std::vector<uint8_t> scratch_;
};

}  // namespace

void InitGntDev(Napi::Env env, Napi::Object exports) { exports.Set("GntDev", GntDev::Define(env)); }

}  // namespace phoenix
