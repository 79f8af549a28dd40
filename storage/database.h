// The RocksDB database in the data dir and its column families. Opening
// does the checks that turn RocksDB's failures into one line an operator
// can act on; closing destroys the column-family handles before the DB, as
// RocksDB requires.
//
// Column families (the layout is fixed now so later features need no
// migration):
//   log        record batches, see keys.h
//   meta       topics, partitions, format version (JSON values)
//   timeindex  max timestamp -> base offset, for ListOffsets by time
//   offsets    committed consumer-group offsets (not used yet)
//   producers  idempotent / transactional producer state (not used yet)
// Column families found on disk that this version does not know (written
// by a newer kgw) are opened and left alone: RocksDB refuses to open a
// database without all of them.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
struct Options;
class Status;
}  // namespace rocksdb

namespace kgw {

class Database {
 public:
  // Creates `dir` if missing. Blocks on disk: call before serving. On
  // failure returns nullptr and sets `error` to one line naming the dir.
  // `in_memory` (tests only): a new, empty database in RocksDB's in-memory
  // Env, gone when closed; `dir` only names it.
  static std::unique_ptr<Database> open(const std::string& dir, std::string& error,
                                        bool in_memory = false);

  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* log() { return log_; }
  rocksdb::ColumnFamilyHandle* meta() { return meta_; }
  rocksdb::ColumnFamilyHandle* timeindex() { return timeindex_; }
  rocksdb::ColumnFamilyHandle* offsets() { return offsets_; }
  rocksdb::ColumnFamilyHandle* producers() { return producers_; }
  const std::string& dir() const { return dir_; }

  // One line for an operator: "data dir X: <status>: <what to do>".
  std::string describe(const rocksdb::Status& status) const;
  // One line for damage found by kgw itself: "data dir X: <what>: <what to do>".
  std::string describe_damage(const std::string& what) const;

  // Destroys the handles and closes the DB; "" or the first error. The
  // caller must have destroyed every iterator and stopped every thread
  // using the DB. Called by the destructor if not called before.
  std::string close();

 private:
  explicit Database(std::string dir) : dir_(std::move(dir)) {}
  // Opens the DB in dir_ with kgw's column families and those in
  // `existing`, then checks the format.
  bool open_db(const rocksdb::Options& options, const std::vector<std::string>& existing,
               std::string& error);
  bool check_format(std::string& error);

  std::string dir_;
  // Tests only (fault_injection.h); declared before db_ so it outlives it.
  std::unique_ptr<rocksdb::Env> fault_env_;
  // Tests only (StoreOptions::in_memory); outlives db_ too.
  std::unique_ptr<rocksdb::Env> mem_env_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // all, owned
  rocksdb::ColumnFamilyHandle* log_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* timeindex_ = nullptr;
  rocksdb::ColumnFamilyHandle* offsets_ = nullptr;
  rocksdb::ColumnFamilyHandle* producers_ = nullptr;
};

}  // namespace kgw
