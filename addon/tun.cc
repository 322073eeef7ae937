// SPDX-License-Identifier: MIT
// tun.cc — a TAP interface (/dev/net/tun, IFF_TAP|IFF_NO_PI): raw Ethernet frames in and out.
//
// new Tap(name) opens /dev/net/tun non-blocking and attaches to (or creates) interface `name`
// with TUNSETIFF (linux/if_tun.h); the kernel may pick the name ("tap%d"). read()/write() move
// ONE frame between the kernel and a caller's buffer (e.g. a pool frame): read returns the
// length, or -errno (-EAGAIN when nothing is queued); write returns 0 or errno (EAGAIN: the
// queue is full; EIO: the interface is down) — a per-frame condition the caller counts, never an
// exception. watch(cb) calls cb() on Node's loop while frames are waiting (uv_poll, level
// triggered), so the JS side drains with read() until -EAGAIN. Bringing the link up and giving
// it an address is left to `ip` (the test harness does it).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "errors.h"
#include "poll.h"

namespace phoenix {
namespace {

class Tap : public Napi::ObjectWrap<Tap>, public PollClient {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tap",
                       {InstanceAccessor<&Tap::Fd>("fd"), InstanceAccessor<&Tap::Name>("name"),
                        InstanceMethod<&Tap::Read>("read"), InstanceMethod<&Tap::Write>("write"),
                        InstanceMethod<&Tap::Watch>("watch"), InstanceMethod<&Tap::Unwatch>("unwatch"),
                        InstanceMethod<&Tap::Close>("close")});
  }

  // new Tap(name = '', path = '/dev/net/tun')
  explicit Tap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tap>(info) {
    Napi::Env env = info.Env();
    std::string name, path = "/dev/net/tun";
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsString()) {
        ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"name\" argument must be of type string");
        return;
      }
      name = info[0].As<Napi::String>().Utf8Value();
    }
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsString()) {
        ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"path\" argument must be of type string");
        return;
      }
      path = info[1].As<Napi::String>().Utf8Value();
    }
    if (name.size() >= IFNAMSIZ) {
      ThrowArgError(env, "ERR_OUT_OF_RANGE", "tap name \"" + name + "\" is longer than 15 bytes");
      return;
    }
    const int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      ThrowErrno(env, err, "open", path, err == ENOENT || err == ENODEV ? "load the tun module: modprobe tun" : "needs CAP_NET_ADMIN: run as root");
      return;
    }
    struct ifreq ifr;
    std::memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      const int err = errno;
      close(fd);
      ThrowErrno(env, err, "ioctl", path, "TUNSETIFF " + name + " failed (CAP_NET_ADMIN? a non-TAP device of that name?)");
      return;
    }
    fd_ = fd;
    name_ = ifr.ifr_name;
  }

  ~Tap() override {
    StopWatching(false);
    if (fd_ >= 0) close(fd_);
  }

  void OnPoll(int status, int /*events*/) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      StopWatching();
      napi_fatal_exception(env, ErrnoError(env, -status, "uv_poll", name_, "the TAP watch has stopped").Value());
      return;
    }
    napi_value result;
    napi_make_callback(env, context_ ? static_cast<napi_async_context>(*context_) : nullptr, Value(),
                       callback_.Value(), 0, nullptr, &result);
    RaiseUncaught(env);
  }

 private:
  // Resolves (u8, off, len) to a byte range inside u8; throws and returns null otherwise.
  uint8_t* Range(const Napi::CallbackInfo& info, size_t* len) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "(buf: Uint8Array, offset, length)");
      return nullptr;
    }
    Napi::Uint8Array u8 = info[0].As<Napi::Uint8Array>();
    double off = 0, n = 0;
    if (!IntArg(info, 1, "offset", 0, static_cast<double>(u8.ByteLength()), &off) ||
        !IntArg(info, 2, "length", 0, static_cast<double>(u8.ByteLength()) - off, &n)) {
      return nullptr;
    }
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, "read", name_, "this Tap is closed");
      return nullptr;
    }
    *len = static_cast<size_t>(n);
    return u8.Data() + static_cast<size_t>(off);
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

  // read(buf, off, max) -> frame length, or -errno (-EAGAIN: nothing queued).
  Napi::Value Read(const Napi::CallbackInfo& info) {
    size_t len = 0;
    uint8_t* p = Range(info, &len);
    if (p == nullptr) return Napi::Value();
    ssize_t n;
    do n = read(fd_, p, len); while (n < 0 && errno == EINTR);
    return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
  }

  // write(buf, off, len) -> 0 or errno.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    size_t len = 0;
    uint8_t* p = Range(info, &len);
    if (p == nullptr) return Napi::Value();
    ssize_t n;
    do n = write(fd_, p, len); while (n < 0 && errno == EINTR);
    return Napi::Number::New(info.Env(), n < 0 ? errno : 0);
  }

  Napi::Value Watch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"cb\" argument must be of type function");
      return Napi::Value();
    }
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, "uv_poll_start", name_, "this Tap is closed");
      return Napi::Value();
    }
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (poll_ != nullptr) return env.Undefined();
    const int rc = Poll::Start(env, fd_, UV_READABLE, this, &poll_);
    if (rc != 0) {
      callback_.Reset();
      ThrowErrno(env, -rc, "uv_poll_start", name_);
      return Napi::Value();
    }
    context_ = std::make_unique<Napi::AsyncContext>(env, "phoenix.Tap", Value());
    Napi::ObjectWrap<Tap>::Ref();
    return env.Undefined();
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    StopWatching();
    return info.Env().Undefined();
  }

  // Closing the fd of a non-persistent TAP removes the interface.
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
    if (unref_self) Napi::ObjectWrap<Tap>::Unref();
  }

  int fd_ = -1;
  std::string name_;
  Poll* poll_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) { exports.Set("Tap", Tap::Define(env)); }

}  // namespace phoenix
