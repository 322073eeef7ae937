// SPDX-License-Identifier: MIT
// errors.h — turns an errno into a JavaScript Error shaped like Node's own.
//
// Every native failure reaches JavaScript as an Error with `code` ('ENOENT'), `errno` (negative,
// as Node reports it), `syscall` and, when a file is involved, `path`; the message ends with what
// the user can do about it. C++ exceptions are off (NAPI_DISABLE_CPP_EXCEPTIONS): a function
// throws by leaving the error pending and returning at once. Nothing here exits or aborts.
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>

namespace phoenix {

// "ENOENT: no such file or directory, open '/dev/shm/x' — <hint>", with code/errno/syscall/path.
inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                              const std::string& path = std::string(),
                              const std::string& hint = std::string()) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(code) + ": " + uv_strerror(-err) + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  if (!hint.empty()) msg += " — " + hint;
  Napi::Error error = Napi::Error::New(env, msg);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, -err));
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) obj.Set("path", Napi::String::New(env, path));
  return error;
}

inline void ThrowErrno(Napi::Env env, int err, const char* syscall,
                       const std::string& path = std::string(),
                       const std::string& hint = std::string()) {
  ErrnoError(env, err, syscall, path, hint).ThrowAsJavaScriptException();
}

// Argument errors carry Node's codes (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE) as TypeError or
// RangeError. The TypeScript door validates first; these keep a direct caller from crashing us.
inline void ThrowArgError(Napi::Env env, const char* code, const std::string& msg) {
  const bool range = std::string(code) == "ERR_OUT_OF_RANGE";
  Napi::Error error = range ? Napi::Error(Napi::RangeError::New(env, msg))
                            : Napi::Error(Napi::TypeError::New(env, msg));
  error.Value().Set("code", Napi::String::New(env, code));
  error.ThrowAsJavaScriptException();
}

// Reads info[i] as an integer in [min, max]; throws and returns false otherwise.
inline bool IntArg(const Napi::CallbackInfo& info, size_t i, const char* name, double min,
                   double max, double* out) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                  std::string("The \"") + name + "\" argument must be of type number");
    return false;
  }
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= min && v <= max) || v != static_cast<double>(static_cast<int64_t>(v))) {
    ThrowArgError(info.Env(), "ERR_OUT_OF_RANGE",
                  std::string("The value of \"") + name + "\" is out of range. It must be an integer >= " +
                      std::to_string(static_cast<int64_t>(min)) + " and <= " +
                      std::to_string(static_cast<int64_t>(max)) + ". Received " +
                      info[i].ToString().Utf8Value());
    return false;
  }
  *out = v;
  return true;
}

// A JS exception raised by a callback we invoked from the event loop (no JS caller to return
// it to) goes to process 'uncaughtException', as Node does for its own handles.
inline void RaiseUncaught(Napi::Env env) {
  if (env.IsExceptionPending()) {
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace phoenix
