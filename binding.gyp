{
  "targets": [
    {
      "target_name": "phoenix",
      "sources": [
        "addon/module.cc",
        "addon/shm.cc",
        "addon/eventfd.cc",
        "addon/process.cc",
        "addon/poll.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    }
  ]
}
