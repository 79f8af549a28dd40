#include "storage/database.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/log.h"
#include "storage/fault_injection.h"
#include "storage/keys.h"
#include "storage/meta_codec.h"

namespace kgw {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLog = "log";
constexpr const char* kMeta = "meta";
constexpr const char* kTimeIndex = "timeindex";
constexpr const char* kOffsets = "offsets";
constexpr const char* kProducers = "producers";

constexpr const char* kDamaged =
    "the store is damaged: restore it from a backup, or move the directory away to start empty";

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

rocksdb::Options make_options() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  // Checks on open and on reads; a damaged file is an error, not a guess.
  o.paranoid_checks = true;
  // The default recovery mode (point in time) replays the WAL up to the
  // first damaged record: after an OS crash with fsync off, the unsynced
  // tail is lost as whole group commits (each is one WAL record), which is
  // the documented trade-off of --fsync=false.
  o.keep_log_file_num = 10;  // RocksDB's own LOG files, not data
  // A WAL file lives until every column family with data in it has
  // flushed; meta is written rarely and would keep the WAL growing (and
  // recovery slowing) for a long time. Above this, RocksDB flushes the
  // column families that pin the oldest WAL.
  o.max_total_wal_size = 256u << 20;
  // Fetches read SST files through mmap instead of pread: no copy from the
  // page cache into a buffer, which was a third of the read path's CPU on
  // 2 cores (docs/BENCHMARKS.md: read-thread CPU per GiB consumed fell by
  // half). The cost: an I/O error under a mapped page is a SIGBUS, not a
  // Status, so a failing disk ends kgw instead of failing the fetch; the
  // operator's answer (restart on a good disk) is the same either way.
  o.allow_mmap_reads = true;
  return o;
}

// fsync of a directory, so that the entries made in it are durable.
std::string sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + dir.string() + " to sync it: " + std::strerror(errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return "cannot sync " + dir.string() + ": " + std::strerror(err);
  return "";
}

// RocksDB files that mean "a database was here": creating a new one over
// them (CURRENT deleted, say) would reuse file numbers and overwrite data.
bool has_rocksdb_files(const fs::path& dir, std::error_code& ec) {
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    // RocksDB's WALs are "<number>.log"; other .log files (kgw.log,
    // etcd.log of a cluster node) are not a database.
    const bool wal = name.size() > 4 && name.ends_with(".log") &&
                     name.find_first_not_of("0123456789") == name.size() - 4;
    if (name.rfind("MANIFEST-", 0) == 0 || name.ends_with(".sst") || wal) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string Database::describe(const rocksdb::Status& status) const {
  std::string s = "data dir " + dir_ + ": " + one_line(status.ToString());
  // RocksDB says "While lock file: <dir>/LOCK: ..." (another process) or
  // "lock hold by current process" (this one).
  if (s.find("LOCK") != std::string::npos || s.find("lock hold") != std::string::npos) {
    return s + ": is it used by another kgw? (RocksDB LOCK held)";
  }
  if (status.IsCorruption()) return s + ": " + kDamaged;
  if (status.IsIOError()) {
    return s + ": check that the directory is readable and writable and the disk has space";
  }
  return s;
}

std::string Database::describe_damage(const std::string& what) const {
  return "data dir " + dir_ + ": " + one_line(what) + ": " + kDamaged;
}

std::unique_ptr<Database> Database::open(const std::string& dir, std::string& error,
                                         bool in_memory) {
  if (in_memory) {
    // Tests only: RocksDB's in-memory Env; `dir` only names the database
    // in it (which must be an absolute path there), and nothing touches
    // the disk.
    std::unique_ptr<Database> d(new Database(dir.starts_with('/') ? dir : "/" + dir));
    rocksdb::Options options = make_options();
    // The in-memory Env has no files to map.
    options.allow_mmap_reads = false;
    d->mem_env_.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    options.env = d->mem_env_.get();
    if (!d->open_db(options, {}, error)) return nullptr;
    return d;
  }
  std::unique_ptr<Database> d(new Database(dir));
  fs::path path(dir);
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    error = "data dir " + dir + ": cannot read it: " + ec.message();
    return nullptr;
  }
  if (fs::exists(st) && !fs::is_directory(st)) {
    error = "data dir " + dir + ": exists but is not a directory: move it away or choose another";
    return nullptr;
  }
  if (!fs::exists(st)) {
    fs::create_directories(path, ec);
    if (ec) {
      error = "data dir " + dir + ": cannot create it: " + ec.message();
      return nullptr;
    }
    // RocksDB syncs the files it makes inside, but not the new directory's
    // own entry in its parent: without this a power cut soon after the
    // first start can lose the whole data dir (seen with the power-loss
    // test's file system).
    if (std::string e = sync_dir(fs::absolute(path, ec).parent_path()); !e.empty()) {
      error = "data dir " + dir + ": " + e;
      return nullptr;
    }
  }

  rocksdb::Options options = make_options();
  std::string fault_dir;
  d->fault_env_ = fault_injection_env_from_environment(fault_dir);
  if (d->fault_env_) {
    options.env = d->fault_env_.get();
    LOG_WARN("storage", "fault injection on (KGW_FAULT_INJECTION=%s): for tests only",
             fault_dir.c_str());
  }
  std::vector<std::string> existing;
  bool is_new = !fs::exists(path / "CURRENT", ec);
  if (ec) {
    error = "data dir " + dir + ": cannot read it: " + ec.message();
    return nullptr;
  }
  if (is_new) {
    bool files = has_rocksdb_files(path, ec);
    if (ec) {
      error = "data dir " + dir + ": cannot list it: " + ec.message();
      return nullptr;
    }
    if (files) {
      error = "data dir " + dir + ": holds RocksDB files but no CURRENT file: " + kDamaged;
      return nullptr;
    }
  } else {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir, &existing);
    if (!s.ok()) {
      error = d->describe(s);
      return nullptr;
    }
    if (std::find(existing.begin(), existing.end(), kMeta) == existing.end()) {
      error = "data dir " + dir +
              ": is a RocksDB database but not a kgw store (no 'meta' column family): choose "
              "another data dir";
      return nullptr;
    }
  }

  if (!d->open_db(options, existing, error)) return nullptr;
  return d;
}

bool Database::open_db(const rocksdb::Options& options, const std::vector<std::string>& existing,
                       std::string& error) {
  std::vector<std::string> names = {
      rocksdb::kDefaultColumnFamilyName, kLog, kMeta, kTimeIndex, kOffsets, kProducers};
  for (const auto& name : existing) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  }
  rocksdb::Status s = rocksdb::DB::Open(options, dir_, descriptors, &handles_, &db_);
  if (!s.ok()) {
    error = describe(s);
    return false;
  }
  // Open returns handles in descriptor order.
  log_ = handles_[1];
  meta_ = handles_[2];
  timeindex_ = handles_[3];
  offsets_ = handles_[4];
  producers_ = handles_[5];
  return check_format(error);
}

bool Database::check_format(std::string& error) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, keys::meta_format_key(), &value);
  if (s.IsNotFound()) {
    // A new store (or one whose creation stopped before this write: it
    // holds nothing then, as every other write comes later).
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db_->Put(wo, meta_, keys::meta_format_key(), encode_format(kStoreFormat));
    if (!s.ok()) {
      error = describe(s);
      return false;
    }
    return true;
  }
  if (!s.ok()) {
    error = describe(s);
    return false;
  }
  std::int64_t format = 0;
  std::string why;
  if (!decode_format(value, format, why)) {
    error = describe_damage(why);
    return false;
  }
  if (format > kStoreFormat) {
    error = "data dir " + dir_ + ": written by a newer kgw (store format " +
            std::to_string(format) + ", this one reads up to " + std::to_string(kStoreFormat) +
            "): run that version";
    return false;
  }
  return true;
}

std::string Database::close() {
  if (db_ == nullptr) return "";
  std::string error;
  for (auto* h : handles_) {
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(h);
    if (!s.ok() && error.empty()) error = describe(s);
  }
  handles_.clear();
  log_ = meta_ = timeindex_ = offsets_ = producers_ = nullptr;
  rocksdb::Status s = db_->Close();
  if (!s.ok() && error.empty()) error = describe(s);
  delete db_;
  db_ = nullptr;
  return error;
}

Database::~Database() {
  // Errors here have nowhere to go; Store::stop() calls close() first and
  // reports them.
  (void)close();
}

}  // namespace kgw
