#include "storage/fault_injection.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace kgw {
namespace {

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

class FaultyWal : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWal(std::unique_ptr<rocksdb::FSWritableFile> file, std::string dir)
      : FSWritableFileOwnerWrapper(std::move(file)), dir_(std::move(dir)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = check(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = check(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (auto s = check(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (auto s = check(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  rocksdb::IOStatus check() const {
    while (exists(dir_ + "/stall")) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (exists(dir_ + "/fail"))
      return rocksdb::IOStatus::IOError("injected fault (KGW_FAULT_INJECTION)");
    return rocksdb::IOStatus::OK();
  }

  std::string dir_;
};

class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base, std::string dir)
      : FileSystemWrapper(base), dir_(std::move(dir)) {}

  const char* Name() const override { return "KgwFaultInjection"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FileSystemWrapper::NewWritableFile(f, options, r, dbg);
    if (s.ok() && ends_with(f, ".log")) *r = std::make_unique<FaultyWal>(std::move(*r), dir_);
    return s;
  }

 private:
  std::string dir_;
};

}  // namespace

std::unique_ptr<rocksdb::Env> fault_injection_env_from_environment(std::string& control_dir) {
  const char* dir = std::getenv("KGW_FAULT_INJECTION");
  if (dir == nullptr || *dir == '\0') return nullptr;
  control_dir = dir;
  auto fs = std::make_shared<FaultyFileSystem>(rocksdb::FileSystem::Default(), control_dir);
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace kgw
