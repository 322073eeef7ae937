// SPDX-License-Identifier: MIT
// module.cc — registers the addon's exports; each part lives in its own file.
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

NODE_API_MODULE(phoenix, Init)
