// The store's single writer thread, doing group commit.
//
// The happy path is: the loop thread submits operations (appends, metadata
// changes, deletes) in the order it wants them applied; the writer wakes,
// takes everything queued (up to max_group_bytes), adds each operation to
// one rocksdb::WriteBatch, makes one DB::Write, and hands the whole group's
// completions to `deliver` in submission order. While that write runs, new
// submissions queue up and form the next group, so under load the number
// of writes (and fsyncs) grows much slower than the number of requests.
//
// Possible failure modes are:
//  - an operation's apply() fails (a read it needs fails, a batch is
//    refused): nothing of the group is written;
//  - DB::Write fails.
// Either way every operation of the group fails with the error, and so
// does every later one ("sticky"): the loop thread assigned offsets before
// the write, so a failed append followed by successful ones would leave a
// hole below the high watermark, and RocksDB itself stops accepting writes
// after most I/O errors. The operator restarts kgw once the cause (disk
// full, failing disk, ...) is fixed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rocksdb {
class DB;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace kgw {

struct WriteOp {
  // Writer thread: adds this operation's changes to the group's batch. May
  // read the DB, which then shows every earlier group but not the earlier
  // operations of this one. Released right after it runs: the batch holds
  // its own copy, so the payload (record batches) is freed before the write.
  std::function<rocksdb::Status(rocksdb::DB&, rocksdb::WriteBatch&)> apply;
  // Loop thread (through `deliver`): "" once the group is written, or why not.
  std::function<void(const std::string& error)> complete;
  // Counted against the queue bound until the write completes.
  std::size_t bytes = 0;
  // Written in a group of its own, after every earlier group: its apply()
  // then reads everything submitted before it (a truncation looks up the
  // batch it cuts at, which may have been appended just before).
  bool alone = false;
};

struct CompletedOp {
  std::function<void(const std::string& error)> complete;
  std::string error;
};

class GroupWriter {
 public:
  // Writer thread: receives each written group's completions, in order.
  using Deliver = std::function<void(std::vector<CompletedOp>)>;

  // sync: rocksdb::WriteOptions::sync for every group (see StoreOptions::fsync).
  GroupWriter(rocksdb::DB& db, bool sync, std::size_t max_group_bytes, Deliver deliver);
  ~GroupWriter() { stop(); }
  GroupWriter(const GroupWriter&) = delete;
  GroupWriter& operator=(const GroupWriter&) = delete;

  void start();
  // Never waits for disk: takes the queue mutex only. Not after stop().
  void submit(WriteOp op);
  // Writes everything still queued, delivers it, and joins the thread.
  void stop();

  std::size_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  std::uint64_t db_writes() const { return db_writes_.load(std::memory_order_relaxed); }
  std::uint64_t ops_written() const { return ops_written_.load(std::memory_order_relaxed); }
  std::uint64_t largest_group() const { return largest_group_.load(std::memory_order_relaxed); }

 private:
  void run();
  void write_group(std::vector<WriteOp>& group);

  rocksdb::DB& db_;
  const bool sync_;
  const std::size_t max_group_bytes_;
  Deliver deliver_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WriteOp> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::thread thread_;

  std::string failure_;  // writer thread only: the sticky error
  std::atomic<std::size_t> queued_bytes_{0};
  std::atomic<std::uint64_t> db_writes_{0};
  std::atomic<std::uint64_t> ops_written_{0};
  std::atomic<std::uint64_t> largest_group_{0};
};

}  // namespace kgw
