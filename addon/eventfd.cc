// SPDX-License-Identifier: MIT
// eventfd.cc — an eventfd(2) counter: signal, drain, and a loop-friendly watch.
//
// `new EventFd()` creates one (EFD_NONBLOCK|EFD_CLOEXEC); `new EventFd(fd)` adopts an fd after
// checking that it is an eventfd, and makes it non-blocking and close-on-exec. The object owns
// its fd: close() or the finaliser closes it, once. While a watch is active the object holds a
// strong reference to itself, so a watcher nobody else references still fires; unwatch()/close()
// drop it. The poll handle is always stopped before the fd is closed.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include "errors.h"
#include "poll.h"

namespace phoenix {
namespace {

const char kEventfdLink[] = "anon_inode:[eventfd]";

// Returns 0, or an errno (EBADF: not open; EINVAL: open but not an eventfd, with *what set).
int CheckEventfd(int fd, std::string* what) {
  if (fcntl(fd, F_GETFD) < 0) return errno;
  char link[256];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(proc.c_str(), link, sizeof link - 1);
  if (n < 0) return errno;
  link[n] = '\0';
  *what = link;
  return *what == kEventfdLink ? 0 : EINVAL;
}

class EventFd : public Napi::ObjectWrap<EventFd>, public PollClient {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EventFd",
                       {InstanceAccessor<&EventFd::Fd>("fd"),
                        InstanceAccessor<&EventFd::Watching>("watching"),
                        InstanceMethod<&EventFd::Signal>("signal"),
                        InstanceMethod<&EventFd::Drain>("drain"),
                        InstanceMethod<&EventFd::Watch>("watch"),
                        InstanceMethod<&EventFd::Unwatch>("unwatch"),
                        InstanceMethod<&EventFd::Ref>("ref"),
                        InstanceMethod<&EventFd::Unref>("unref"),
                        InstanceMethod<&EventFd::Close>("close")});
  }

  explicit EventFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EventFd>(info) {
    Napi::Env env = info.Env();
    if (info.Length() == 0 || info[0].IsUndefined()) {
      fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (fd_ < 0) ThrowErrno(env, errno, "eventfd", "", "raise the open-file limit (ulimit -n)");
      return;
    }
    double fd = 0;
    if (!IntArg(info, 0, "fd", 0, 2147483647.0, &fd)) return;
    std::string what;
    const int err = CheckEventfd(static_cast<int>(fd), &what);
    if (err == EINVAL) {
      ThrowErrno(env, EINVAL, "readlink", "/proc/self/fd/" + std::to_string(static_cast<int>(fd)),
                        "fd " + std::to_string(static_cast<int>(fd)) + " is '" + what +
                            "', not an eventfd; pass the fd of an EventFd");
      return;
    }
    if (err != 0) {
      ThrowErrno(env, err, "fcntl", "", "fd " + std::to_string(static_cast<int>(fd)) + " is not open");
      return;
    }
    fd_ = static_cast<int>(fd);
    // drain() must never block, also on an fd that arrived without O_NONBLOCK.
    const int fl = fcntl(fd_, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd_, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd_, F_SETFD, FD_CLOEXEC);
  }

  ~EventFd() override {
    StopWatching(false);  // only reached at env teardown while watching: our self-reference is going anyway
    if (fd_ >= 0) close(fd_);
  }

  void OnPoll(int status, int /*events*/) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      // Nothing to return an error to: report it like an unhandled 'error' event.
      StopWatching();
      napi_fatal_exception(env, ErrnoError(env, -status, "uv_poll", "", "the eventfd watch has stopped").Value());
      return;
    }
    uint64_t count = 0;
    if (read(fd_, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) return;  // EAGAIN: someone drained it
    napi_value argv[] = {Napi::Number::New(env, static_cast<double>(count))};
    napi_value result;
    napi_make_callback(env, context_ ? static_cast<napi_async_context>(*context_) : nullptr, Value(),
                       callback_.Value(), 1, argv, &result);
    RaiseUncaught(env);
  }

 private:
  bool Open(Napi::Env env, const char* syscall) {
    if (fd_ >= 0) return true;
    ThrowErrno(env, EBADF, syscall, "", "this EventFd is closed");
    return false;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Watching(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), poll_ != nullptr); }

  Napi::Value Signal(const Napi::CallbackInfo& info) {
    if (!Open(info.Env(), "write")) return Napi::Value();
    const uint64_t one = 1;
    if (write(fd_, &one, sizeof one) < 0 && errno != EAGAIN) ThrowErrno(info.Env(), errno, "write");
    return info.Env().Undefined();  // EAGAIN: the counter is saturated, the peer will wake anyway
  }

  Napi::Value Drain(const Napi::CallbackInfo& info) {
    if (!Open(info.Env(), "read")) return Napi::Value();
    uint64_t count = 0;
    if (read(fd_, &count, sizeof count) < 0) {
      if (errno == EAGAIN) return Napi::Number::New(info.Env(), 0);
      ThrowErrno(info.Env(), errno, "read");
      return Napi::Value();
    }
    return Napi::Number::New(info.Env(), static_cast<double>(count));
  }

  // watch(cb): replaces the callback if already watching.
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
      ThrowErrno(env, -rc, "uv_poll_start");
      return Napi::Value();
    }
    poll_->SetRef(ref_);
    context_ = std::make_unique<Napi::AsyncContext>(env, "phoenix.EventFd", Value());
    Napi::ObjectWrap<EventFd>::Ref();  // an active watch keeps this object alive
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
    if (unref_self) Napi::ObjectWrap<EventFd>::Unref();
  }

  int fd_ = -1;
  bool ref_ = true;
  Poll* poll_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace

void InitEventFd(Napi::Env env, Napi::Object exports) { exports.Set("EventFd", EventFd::Define(env)); }

}  // namespace phoenix
