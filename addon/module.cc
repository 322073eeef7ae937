// SPDX-License-Identifier: MIT
// module.cc — registers the addon's exports; each part lives in its own file.
//
// shm.cc (shared-memory mappings), eventfd.cc (eventfd counters), process.cc (pidfds), with
// poll.cc (uv_poll on Node's loop) and errors.h (Node-shaped errors) beneath them. The typed
// door that JavaScript uses is src/native/index.ts; bump abiVersion when an export changes shape.
#include <napi.h>

namespace phoenix {
void InitShm(Napi::Env env, Napi::Object exports);
void InitEventFd(Napi::Env env, Napi::Object exports);
void InitProcess(Napi::Env env, Napi::Object exports);
void InitGntDev(Napi::Env env, Napi::Object exports);  // xen
void InitEvtChn(Napi::Env env, Napi::Object exports);  // xen
void InitTun(Napi::Env env, Napi::Object exports);  // xen test harness: TAP port (tun.cc)
void InitXsk(Napi::Env env, Napi::Object exports);  // af_xdp (xsk.cc, xdp_prog.cc)
}  // namespace phoenix

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  phoenix::InitShm(env, exports);
  phoenix::InitEventFd(env, exports);
  phoenix::InitProcess(env, exports);
  phoenix::InitGntDev(env, exports);
  phoenix::InitEvtChn(env, exports);
  phoenix::InitTun(env, exports);
  phoenix::InitXsk(env, exports);
  return exports;
}

NODE_API_MODULE(phoenix, Init)
