// SPDX-License-Identifier: MIT
// poll.cc — a uv_poll_t on Node's event loop with an owner-or-libuv lifetime (see poll.h).
//
// Invariants: uv_poll_stop precedes every close of the watched fd by the owner (Release is
// synchronous about stopping); uv_close is called exactly once; the async cleanup hook is
// removed exactly once, in OnClosed (which tells a tearing-down env that we are done);
// `delete this` happens exactly once, in whichever of Release/OnClosed comes last.
#include "poll.h"

namespace phoenix {

Poll::Poll(PollClient* client) : handle_(), client_(client) {}

int Poll::Start(napi_env env, int fd, int events, PollClient* client, Poll** out) {
  *out = nullptr;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return UV_EINVAL;
  Poll* poll = new Poll(client);
  int rc = uv_poll_init(loop, &poll->handle_, fd);
  if (rc != 0) {
    delete poll;  // uv_poll_init failed before registering the handle: nothing to close
    return rc;
  }
  poll->handle_.data = poll;
  rc = uv_poll_start(&poll->handle_, events, OnEvent);
  if (rc != 0) {
    poll->released_ = true;
    poll->CloseHandle();
    return rc;
  }
  if (napi_add_async_cleanup_hook(env, OnEnvTeardown, poll, &poll->hook_) != napi_ok) poll->hook_ = nullptr;
  *out = poll;
  return 0;
}

void Poll::SetRef(bool ref) {
  if (closing_) return;
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&handle_);
  if (ref) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void Poll::Release() {
  released_ = true;
  client_ = nullptr;
  CloseHandle();
  MaybeFree();
}

void Poll::CloseHandle() {
  if (closing_) return;
  closing_ = true;
  uv_poll_stop(&handle_);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), OnClosed);
}

void Poll::MaybeFree() {
  if (released_ && closed_) delete this;
}

void Poll::OnEvent(uv_poll_t* handle, int status, int events) {
  Poll* self = static_cast<Poll*>(handle->data);
  if (self->released_ || self->closing_ || self->client_ == nullptr) return;
  // The client may Release() us from inside; we are not freed before OnClosed, which libuv
  // calls on a later loop iteration, so `self` stays valid until this returns.
  self->client_->OnPoll(status, events);
}

void Poll::OnClosed(uv_handle_t* handle) {
  Poll* self = static_cast<Poll*>(handle->data);
  self->closed_ = true;
  if (self->hook_ != nullptr) {
    napi_remove_async_cleanup_hook(self->hook_);
    self->hook_ = nullptr;
  }
  self->MaybeFree();
}

void Poll::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  // Node waits for OnClosed to remove the hook before it finishes tearing the env down.
  Poll* self = static_cast<Poll*>(arg);
  self->client_ = nullptr;
  self->CloseHandle();
}

}  // namespace phoenix
