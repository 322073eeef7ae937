// SPDX-License-Identifier: MIT
// process.cc — process handles through pidfds: exit notification, fd borrowing, raw close.
//
// `new ExitWatcher(pid, cb)` opens a pidfd (pidfd_open, Linux 5.3) and polls it on Node's loop:
// a pidfd becomes readable when the process exits, whether or not it is our child, and no
// SIGCHLD or timer is involved. cb fires at most once; the pidfd is closed right before it.
// While armed the watcher holds a strong reference to itself, so dropping the handle does not
// cancel it; close() does. pidfdGetFd wraps pidfd_getfd (Linux 5.6), which needs ptrace rights.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "errors.h"
#include "poll.h"

namespace phoenix {
namespace {

int PidfdOpen(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::string PidfdHint(int err, int pid) {
  if (err == ESRCH) return "no process " + std::to_string(pid) + " (it exited and was reaped, or never existed)";
  if (err == ENOSYS) return "pidfds need Linux 5.3 (pidfd_open) and 5.6 (pidfd_getfd)";
  if (err == EPERM) {
    return "borrowing an fd needs ptrace rights over the process: the same user and "
           "kernel.yama.ptrace_scope <= 1 with the target a descendant, or CAP_SYS_PTRACE";
  }
  return std::string();
}

class ExitWatcher : public Napi::ObjectWrap<ExitWatcher>, public PollClient {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ExitWatcher",
                       {InstanceAccessor<&ExitWatcher::Active>("active"),
                        InstanceMethod<&ExitWatcher::Close>("close"),
                        InstanceMethod<&ExitWatcher::Ref>("ref"),
                        InstanceMethod<&ExitWatcher::Unref>("unref")});
  }

  explicit ExitWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExitWatcher>(info) {
    Napi::Env env = info.Env();
    double pid = 0;
    if (!IntArg(info, 0, "pid", 1, 4194304.0, &pid)) return;
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"cb\" argument must be of type function");
      return;
    }
    const int p = static_cast<int>(pid);
    pidfd_ = PidfdOpen(p);
    if (pidfd_ < 0) {
      const int e = errno;
      ThrowErrno(env, e, "pidfd_open", "", PidfdHint(e, p));
      return;
    }
    const int rc = Poll::Start(env, pidfd_, UV_READABLE, this, &poll_);
    if (rc != 0) {
      close(pidfd_);
      pidfd_ = -1;
      ThrowErrno(env, -rc, "uv_poll_start");
      return;
    }
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "phoenix.ExitWatcher", Value());
    Napi::ObjectWrap<ExitWatcher>::Ref();
  }

  ~ExitWatcher() override { Disarm(false); }

  void OnPoll(int /*status*/, int /*events*/) override {
    // Readable (or an error on the pidfd, which only happens once the process is gone): fire.
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Function cb = callback_.Value();
    std::unique_ptr<Napi::AsyncContext> context = std::move(context_);
    Disarm(false);  // before the call, so cb may call close() (a no-op now) without harm
    napi_value result;
    napi_make_callback(env, context ? static_cast<napi_async_context>(*context) : nullptr, Value(), cb, 0,
                       nullptr, &result);
    RaiseUncaught(env);
    Napi::ObjectWrap<ExitWatcher>::Unref();  // last: this object may be collected after this
  }

 private:
  Napi::Value Active(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), poll_ != nullptr); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Disarm(true);
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) poll_->SetRef(true);
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) poll_->SetRef(false);
    return info.Env().Undefined();
  }

  // Stops polling, closes the pidfd, forgets the callback. Idempotent.
  void Disarm(bool unref_self) {
    if (poll_ == nullptr) return;
    poll_->Release();
    poll_ = nullptr;
    close(pidfd_);
    pidfd_ = -1;
    callback_.Reset();
    context_.reset();
    if (unref_self) Napi::ObjectWrap<ExitWatcher>::Unref();
  }

  int pidfd_ = -1;
  Poll* poll_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

Napi::Value PidfdGetFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double pid = 0, target = 0;
  if (!IntArg(info, 0, "pid", 1, 4194304.0, &pid) || !IntArg(info, 1, "targetFd", 0, 2147483647.0, &target)) {
    return Napi::Value();
  }
  const int p = static_cast<int>(pid), t = static_cast<int>(target);
  const int pidfd = PidfdOpen(p);
  if (pidfd < 0) {
    const int e = errno;
    ThrowErrno(env, e, "pidfd_open", "", PidfdHint(e, p));
    return Napi::Value();
  }
  const int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, t, 0));  // the new fd is O_CLOEXEC
  const int e = errno;
  close(pidfd);
  if (fd < 0) {
    const std::string hint = e == EBADF ? "process " + std::to_string(p) + " has no fd " + std::to_string(t)
                                        : PidfdHint(e, p);
    ThrowErrno(env, e, "pidfd_getfd", "", hint);
    return Napi::Value();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  double fd = 0;
  if (!IntArg(info, 0, "fd", 0, 2147483647.0, &fd)) return Napi::Value();
  if (close(static_cast<int>(fd)) != 0 && errno != EINTR) {  // EINTR: Linux has closed it anyway
    ThrowErrno(info.Env(), errno, "close");
    return Napi::Value();
  }
  return info.Env().Undefined();
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("ExitWatcher", ExitWatcher::Define(env));
  exports.Set("pidfdGetFd", Napi::Function::New<PidfdGetFd>(env, "pidfdGetFd"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
}

}  // namespace phoenix
