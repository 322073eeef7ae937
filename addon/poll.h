// SPDX-License-Identifier: MIT
// poll.h — a uv_poll_t on Node's own event loop, owned by one JS-facing object.
//
// Waiting on an fd (eventfd, pidfd) must never block the loop, so readiness comes from a
// uv_poll_t on the loop napi_get_uv_event_loop() returns. libuv's ABI sits outside Node-API's
// stability promise; this file is the only place that touches it.
//
// Lifetime: a Poll is freed only when both (a) its owner has released it and (b) libuv has
// reported the handle closed (uv_close's callback). The owner may release it at any time, also
// from inside its own callback. At env teardown (a worker's exit) an *async* cleanup hook
// (napi_add_async_cleanup_hook, Node-API 8) closes the handle and Node waits until the close
// callback has run and removed the hook: with a plain env cleanup hook, Node could unload this
// library (a worker that was its only user) before libuv calls the close callback inside it.
#pragma once

#include <node_api.h>
#include <uv.h>

namespace phoenix {

class PollClient {
 public:
  // status < 0 is a libuv error (negative errno); otherwise `events` holds UV_READABLE etc.
  virtual void OnPoll(int status, int events) = 0;

 protected:
  ~PollClient() = default;
};

class Poll {
 public:
  // Starts watching `fd` for `events`. Returns 0, or a negative libuv error (then *out is null).
  static int Start(napi_env env, int fd, int events, PollClient* client, Poll** out);

  // Whether this handle keeps the loop alive.
  void SetRef(bool ref);

  // The owner is done: no more OnPoll calls from now on; memory is freed once libuv is done.
  void Release();

 private:
  explicit Poll(PollClient* client);
  ~Poll() = default;
  void CloseHandle();
  void MaybeFree();
  static void OnEvent(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);

  uv_poll_t handle_;
  PollClient* client_;
  bool released_ = false;       // the owner let go; client_ must not be called
  bool closing_ = false;        // uv_close has been called
  bool closed_ = false;         // uv_close's callback ran
  napi_async_cleanup_hook_handle hook_ = nullptr;  // removed in OnClosed, not before
};

}  // namespace phoenix
