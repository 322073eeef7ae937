{
  "targets": [
    {
      "target_name": "phoenix",
      "sources": [
        "addon/module.cc",
        "addon/shm.cc",
        "addon/eventfd.cc",
        "addon/process.cc",
        "addon/poll.cc",
        "addon/gntdev.cc",
        "addon/evtchn.cc",
        "addon/tun.cc",
        "addon/xsk.cc",
        "addon/xdp_prog.cc"
      ],
      "variables": {"phoenix_libbpf": "<!(pkg-config --exists libbpf && echo 1 || echo 0)"},
      "conditions": [
        ["phoenix_libbpf==1", {
          "defines": ["PHOENIX_HAVE_LIBBPF=1"],
          "libraries": ["<!@(pkg-config --libs libbpf)"]
        }]
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
    }
  ]
}
