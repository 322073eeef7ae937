// SPDX-License-Identifier: MIT
// shm.cc — maps a file (under /dev/shm or hugetlbfs) MAP_SHARED and hands it to JS as an ArrayBuffer.
//
// `new Mapping(path, size, flags)` opens, sizes and maps the file, then closes the fd (the
// mapping keeps the file alive). The mapping itself is a Region shared (std::shared_ptr) by the
// Mapping object and the ArrayBuffer's finaliser; it is unmapped exactly once: by close(), which
// first detaches the ArrayBuffer so every view becomes zero-length, or else by whichever of the
// two owners is finalised last. A file this call created is unlinked again if a later step fails.
// The TypeScript door (src/native/index.ts) validates arguments and adds `path`.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "errors.h"

namespace phoenix {
namespace {

enum MapFlags { kCreate = 1, kExclusive = 2, kHugepages = 4, kReadonly = 8 };

const char kHugeHint[] =
    "mount hugetlbfs on /dev/hugepages and reserve pages: mount -t hugetlbfs nodev /dev/hugepages "
    "&& echo 64 > /proc/sys/vm/nr_hugepages";

struct Region {
  void* addr = nullptr;
  size_t len = 0;
  bool mapped = false;
  void Unmap() {
    if (!mapped) return;
    munmap(addr, len);
    mapped = false;
  }
  ~Region() { Unmap(); }
};

size_t RoundUp(size_t v, size_t unit) { return (v + unit - 1) / unit * unit; }

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Opens `path`, telling whether this call created it (so a failure can remove it again).
int OpenFile(const std::string& path, int flags, bool* created) {
  const int access = (flags & kReadonly) ? O_RDONLY : O_RDWR;
  *created = false;
  if (!(flags & kCreate)) return open(path.c_str(), access | O_CLOEXEC);
  for (;;) {
    if (!(flags & kExclusive)) {
      const int fd = open(path.c_str(), access | O_CLOEXEC);
      if (fd >= 0 || errno != ENOENT) return fd;
    }
    const int fd = open(path.c_str(), access | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) *created = true;
    if (fd >= 0 || errno != EEXIST || (flags & kExclusive)) return fd;
    // Lost a race with another creator: open the file it made.
  }
}

std::string HintFor(int err, const char* syscall, int flags, const std::string& path) {
  const bool huge = flags & kHugepages;
  if (err == ENOENT && huge) return kHugeHint;
  if (err == ENOENT && (flags & kCreate)) return "the directory " + DirOf(path) + " does not exist";
  if (err == ENOENT) return "create it with mapShared(path, { create: true, size })";
  if (err == EEXIST) return "another region already uses this path; remove it or drop `exclusive`";
  if (err == EACCES || err == EPERM) return "check the permissions of the file and its directory";
  if ((err == ENOMEM || err == ENOSPC) && huge) return "not enough free huge pages: " + std::string(kHugeHint);
  if (err == ENOSPC || err == EFBIG) return "the filesystem is full: enlarge it (mount -o remount,size=... /dev/shm)";
  if (err == ENOMEM && std::string(syscall) == "mmap") return "not enough memory or address space for this size";
  return std::string();
}

class Mapping : public Napi::ObjectWrap<Mapping> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Mapping",
                       {InstanceAccessor<&Mapping::Buffer>("buffer"),
                        InstanceAccessor<&Mapping::Size>("size"),
                        InstanceAccessor<&Mapping::Hugepages>("hugepages"),
                        InstanceAccessor<&Mapping::Closed>("closed"),
                        InstanceMethod<&Mapping::Close>("close")});
  }

  explicit Mapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Mapping>(info) {
    Napi::Env env = info.Env();
    double size = 0, flags = 0;
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowArgError(env, "ERR_INVALID_ARG_TYPE", "The \"path\" argument must be of type string");
      return;
    }
    if (!IntArg(info, 1, "size", 0, 9007199254740991.0, &size) || !IntArg(info, 2, "flags", 0, 15, &flags)) return;
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    Open(env, path, static_cast<size_t>(size), static_cast<int>(flags));
  }

 private:
  void Open(Napi::Env env, const std::string& path, size_t want, int flags) {
    size_t unit = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (flags & kHugepages) {
      // Check the directory first so a wrong path does not leave a stray file behind.
      struct statfs fs;
      const std::string dir = DirOf(path);
      if (statfs(dir.c_str(), &fs) != 0) {
        const int e = errno;
        return ThrowErrno(env, e, "statfs", dir, HintFor(e, "statfs", flags, dir));
      }
      if (fs.f_type != HUGETLBFS_MAGIC) {
        return ThrowErrno(env, EINVAL, "statfs", dir, dir + " is not a hugetlbfs mount; " + kHugeHint);
      }
      unit = static_cast<size_t>(fs.f_bsize);  // the huge page size, 2 MiB unless mounted otherwise
    }
    if ((flags & kCreate) && want == 0) {
      return ThrowArgError(env, "ERR_INVALID_ARG_VALUE", "mapShared: `size` is required with `create`");
    }
    bool created = false;
    const int fd = OpenFile(path, flags, &created);
    if (fd < 0) {
      const int e = errno;
      return ThrowErrno(env, e, "open", path, HintFor(e, "open", flags, path));
    }
    const char* failed = nullptr;
    std::string hint;
    int err = 0;
    struct stat st;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
      err = errno, failed = "fstat";
    } else if (flags & kCreate) {
      len = RoundUp(want, unit);
      if (static_cast<size_t>(st.st_size) < len && ftruncate(fd, static_cast<off_t>(len)) != 0) {
        err = errno, failed = "ftruncate";
      }
    } else if (st.st_size == 0 || static_cast<size_t>(st.st_size) < want) {
      err = EINVAL, failed = "mmap";
      hint = "the file is " + std::to_string(st.st_size) + " bytes, " +
             (st.st_size == 0 ? std::string("nothing to map") : "less than the requested " + std::to_string(want)) +
             "; create it with mapShared(path, { create: true, size })";
    } else {
      len = RoundUp(want != 0 ? want : static_cast<size_t>(st.st_size), unit);
    }
    void* addr = MAP_FAILED;
    if (failed == nullptr) {
      const int prot = (flags & kReadonly) ? PROT_READ : PROT_READ | PROT_WRITE;
      addr = mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
      if (addr == MAP_FAILED) err = errno, failed = "mmap";
    }
    close(fd);
    if (failed != nullptr) {
      if (created) unlink(path.c_str());
      return ThrowErrno(env, err, failed, path, hint.empty() ? HintFor(err, failed, flags, path) : hint);
    }
    region_ = std::make_shared<Region>();
    region_->addr = addr;
    region_->len = len;
    region_->mapped = true;
    hugepages_ = (flags & kHugepages) != 0;
    auto* hint_owner = new std::shared_ptr<Region>(region_);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, addr, len, [](Napi::Env, void*, std::shared_ptr<Region>* owner) { delete owner; }, hint_owner);
    if (env.IsExceptionPending() || ab.IsEmpty()) {
      delete hint_owner;  // not attached; region_ unmaps when this object is finalised
      region_->Unmap();
      return;
    }
    buffer_ = Napi::Persistent(ab);  // strong: the buffer lives at least as long as this object
  }

  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    return buffer_.IsEmpty() ? info.Env().Undefined() : buffer_.Value();
  }
  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), region_ ? static_cast<double>(region_->len) : 0);
  }
  Napi::Value Hugepages(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), hugepages_); }
  Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !region_ || !region_->mapped);
  }

  // Detach first (views become zero-length, new DataViews throw), then unmap. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!buffer_.IsEmpty()) {
      Napi::ArrayBuffer ab = buffer_.Value();
      if (!ab.IsDetached()) ab.Detach();
    }
    if (region_) region_->Unmap();
    return info.Env().Undefined();
  }

  std::shared_ptr<Region> region_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  bool hugepages_ = false;
};

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("Mapping", Mapping::Define(env));
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("create", Napi::Number::New(env, kCreate));
  flags.Set("exclusive", Napi::Number::New(env, kExclusive));
  flags.Set("hugepages", Napi::Number::New(env, kHugepages));
  flags.Set("readonly", Napi::Number::New(env, kReadonly));
  exports.Set("mapFlags", flags);
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
}

}  // namespace phoenix
