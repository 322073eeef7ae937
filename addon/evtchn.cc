// SPDX-License-Identifier: MIT
// evtchn.cc — /dev/xen/evtchn: bind interdomain ports, notify, and pending ports on Node's loop.
//
// Follows linux include/uapi/xen/evtchn.h and drivers/xen/evtchn.c (reference/xen-netif.md
// §2.7.2). The fd is O_NONBLOCK; watch(cb) polls it with a uv_poll (poll.h) and, when readable,
// drains every pending local port with read() and calls cb(ports: Uint32Array, overflow). A port
// that fired stays MASKED in the kernel until unmask(port) writes it back: the JS side unmasks
// after its handler ran ("late EOI", so a guest cannot make us spin). EFBIG means the per-fd
// ring overflowed: we RESET it and report overflow=true so the caller treats every port as fired.
// restrictDomid(d) makes this fd bind only to domain d (IOCTL_EVTCHN_RESTRICT_DOMID).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "poll.h"

namespace phoenix {
namespace {

constexpr unsigned long kBindInterdomain = _IOC(_IOC_NONE, 'E', 1, 8);
constexpr unsigned long kUnbind = _IOC(_IOC_NONE, 'E', 3, 4);
constexpr unsigned long kNotify = _IOC(_IOC_NONE, 'E', 4, 4);
constexpr unsigned long kReset = _IOC(_IOC_NONE, 'E', 5, 0);
constexpr unsigned long kRestrictDomid = _IOC(_IOC_NONE, 'E', 6, 2);
static_assert(kBindInterdomain == 0x00084501 && kUnbind == 0x00044503 && kNotify == 0x00044504 &&
                  kReset == 0x00004505 && kRestrictDomid == 0x00024506,
              "evtchn ioctl numbers (xen-netif.md 2.7.2)");

const char kXenHint[] = "run in a Xen dom0/driver domain; modprobe xen-gntdev xen-evtchn";

class EvtChn : public Napi::ObjectWrap<EvtChn>, public PollClient {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EvtChn",
                       {InstanceAccessor<&EvtChn::Fd>("fd"),
                        InstanceMethod<&EvtChn::RestrictDomid>("restrictDomid"),
                        InstanceMethod<&EvtChn::BindInterdomain>("bindInterdomain"),
                        InstanceMethod<&EvtChn::Unbind>("unbind"), InstanceMethod<&EvtChn::Notify>("notify"),
                        InstanceMethod<&EvtChn::Unmask>("unmask"), InstanceMethod<&EvtChn::Watch>("watch"),
                        InstanceMethod<&EvtChn::Unwatch>("unwatch"), InstanceMethod<&EvtChn::Ref>("ref"),
                        InstanceMethod<&EvtChn::Unref>("unref"), InstanceMethod<&EvtChn::Close>("close")});
  }

  // new EvtChn(path = '/dev/xen/evtchn')
  explicit EvtChn(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EvtChn>(info) {
    Napi::Env env = info.Env();
    path_ = "/dev/xen/evtchn";
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsString()) {
        ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"path\" argument must be of type string");
        return;
      }
      path_ = info[0].As<Napi::String>().Utf8Value();
    }
    fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) {
      const int err = errno;
      ThrowErrno(env, err, "open", path_, err == EACCES || err == EPERM ? "run as root" : kXenHint);
    }
  }

  ~EvtChn() override {
    StopWatching(false);
    if (fd_ >= 0) close(fd_);
  }

  void OnPoll(int status, int /*events*/) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      StopWatching();
      napi_fatal_exception(env, ErrnoError(env, -status, "uv_poll", path_, "the event channel watch has stopped").Value());
      return;
    }
    std::vector<uint32_t> ports;
    bool overflow = false;
    uint32_t buf[128];
    for (;;) {
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n > 0) {
        ports.insert(ports.end(), buf, buf + n / sizeof(uint32_t));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EFBIG) {  // ring overflow: events were lost
        overflow = true;
        ioctl(fd_, kReset, nullptr);
        continue;
      }
      break;  // EAGAIN (drained) or 0
    }
    if (ports.empty() && !overflow) return;
    Napi::Uint32Array arr = Napi::Uint32Array::New(env, ports.size());
    for (size_t i = 0; i < ports.size(); i++) arr[i] = ports[i];
    napi_value argv[] = {arr, Napi::Boolean::New(env, overflow)};
    napi_value result;
    napi_make_callback(env, context_ ? static_cast<napi_async_context>(*context_) : nullptr, Value(),
                       callback_.Value(), 2, argv, &result);
    RaiseUncaught(env);
  }

 private:
  bool Open(Napi::Env env, const char* syscall) {
    if (fd_ >= 0) return true;
    ThrowErrno(env, EBADF, syscall, path_, "this EvtChn is closed");
    return false;
  }

  // Runs one ioctl with a u32/u16 argument; returns its result or throws.
  Napi::Value Ioctl(const Napi::CallbackInfo& info, unsigned long req, void* arg, const char* what) {
    if (!Open(info.Env(), "ioctl")) return Napi::Value();
    const int rc = ioctl(fd_, req, arg);
    if (rc < 0) {
      ThrowErrno(info.Env(), errno, "ioctl", path_, what);
      return Napi::Value();
    }
    return Napi::Number::New(info.Env(), rc);
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

  Napi::Value RestrictDomid(const Napi::CallbackInfo& info) {
    double d = 0;
    if (!IntArg(info, 0, "domid", 0, 0x7fef, &d)) return Napi::Value();
    uint16_t arg = static_cast<uint16_t>(d);
    return Ioctl(info, kRestrictDomid, &arg, "IOCTL_EVTCHN_RESTRICT_DOMID failed (Linux >= 4.8 needed)");
  }

  // bindInterdomain(remoteDomid, remotePort) -> local port
  Napi::Value BindInterdomain(const Napi::CallbackInfo& info) {
    double d = 0, p = 0;
    if (!IntArg(info, 0, "domid", 0, 0x7fef, &d) || !IntArg(info, 1, "port", 1, 0xfffffffe, &p)) return Napi::Value();
    uint32_t arg[2] = {static_cast<uint32_t>(d), static_cast<uint32_t>(p)};
    return Ioctl(info, kBindInterdomain, arg, "IOCTL_EVTCHN_BIND_INTERDOMAIN failed (is the port unbound and meant for us?)");
  }

  Napi::Value PortIoctl(const Napi::CallbackInfo& info, unsigned long req, const char* what) {
    double p = 0;
    if (!IntArg(info, 0, "port", 1, 0xfffffffe, &p)) return Napi::Value();
    uint32_t arg = static_cast<uint32_t>(p);
    return Ioctl(info, req, &arg, what);
  }
  Napi::Value Unbind(const Napi::CallbackInfo& info) { return PortIoctl(info, kUnbind, "IOCTL_EVTCHN_UNBIND failed"); }
  Napi::Value Notify(const Napi::CallbackInfo& info) { return PortIoctl(info, kNotify, "IOCTL_EVTCHN_NOTIFY failed"); }

  // unmask(port): write the port back (re-enables delivery after it fired).
  Napi::Value Unmask(const Napi::CallbackInfo& info) {
    double p = 0;
    if (!IntArg(info, 0, "port", 1, 0xfffffffe, &p)) return Napi::Value();
    if (!Open(info.Env(), "write")) return Napi::Value();
    const uint32_t port = static_cast<uint32_t>(p);
    if (write(fd_, &port, sizeof port) < 0) {
      ThrowErrno(info.Env(), errno, "write", path_, "unmask failed (port not bound on this fd?)");
      return Napi::Value();
    }
    return info.Env().Undefined();
  }

  Napi::Value Watch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"cb\" argument must be of type function");
      return Napi::Value();
    }
    if (!Open(env, "uv_poll_start")) return Napi::Value();
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (poll_ != nullptr) return env.Undefined();
    const int rc = Poll::Start(env, fd_, UV_READABLE, this, &poll_);
    if (rc != 0) {
      callback_.Reset();
      ThrowErrno(env, -rc, "uv_poll_start", path_);
      return Napi::Value();
    }
    poll_->SetRef(ref_);
    context_ = std::make_unique<Napi::AsyncContext>(env, "phoenix.EvtChn", Value());
    Napi::ObjectWrap<EvtChn>::Ref();  // an active watch keeps this object alive
    return env.Undefined();
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    StopWatching();
    return info.Env().Undefined();
  }
  Napi::Value Ref(const Napi::CallbackInfo& info) { return SetRef(info, true); }
  Napi::Value Unref(const Napi::CallbackInfo& info) { return SetRef(info, false); }
  Napi::Value SetRef(const Napi::CallbackInfo& info, bool ref) {
    ref_ = ref;
    if (poll_ != nullptr) poll_->SetRef(ref);
    return info.Env().Undefined();
  }

  // Stops watching and closes the fd; the kernel unbinds every port still bound on it.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopWatching();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  void StopWatching(bool unref_self = true) {
    if (poll_ == nullptr) return;
    poll_->Release();
    poll_ = nullptr;
    callback_.Reset();
    context_.reset();
    if (unref_self) Napi::ObjectWrap<EvtChn>::Unref();
  }

  std::string path_;
  int fd_ = -1;
  bool ref_ = true;
  Poll* poll_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace

void InitEvtChn(Napi::Env env, Napi::Object exports) { exports.Set("EvtChn", EvtChn::Define(env)); }

}  // namespace phoenix
