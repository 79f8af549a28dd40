#include "storage/group_writer.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace kgw {

GroupWriter::GroupWriter(rocksdb::DB& db, bool sync, std::size_t max_group_bytes, Deliver deliver)
    : db_(db), sync_(sync), max_group_bytes_(max_group_bytes), deliver_(std::move(deliver)) {}

void GroupWriter::start() {
  thread_ = std::thread([this] { run(); });
}

void GroupWriter::submit(WriteOp op) {
  queued_bytes_.fetch_add(op.bytes, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void GroupWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void GroupWriter::run() {
  std::vector<WriteOp> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything is written
      // The byte cap keeps one WriteBatch (a copy of its payload) and one
      // WAL record bounded when a burst has queued far more.
      std::size_t bytes = 0;
      while (!queue_.empty() &&
             (group.empty() || (bytes + queue_.front().bytes <= max_group_bytes_ &&
                                !queue_.front().alone && !group.back().alone))) {
        bytes += queue_.front().bytes;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    write_group(group);
    group.clear();
  }
}

void GroupWriter::write_group(std::vector<WriteOp>& group) {
  std::vector<CompletedOp> done;
  done.reserve(group.size());
  std::size_t bytes = 0;
  for (auto& op : group) {
    bytes += op.bytes;
    done.push_back(CompletedOp{std::move(op.complete), failure_});
  }

  if (failure_.empty()) {
    rocksdb::WriteBatch batch;
    for (auto& op : group) {
      rocksdb::Status s = op.apply(db_, batch);
      op.apply = nullptr;
      if (!s.ok()) {
        failure_ = "storage: preparing a write failed: " + s.ToString();
        break;
      }
    }
    if (failure_.empty() && batch.Count() > 0) {
      rocksdb::WriteOptions wo;
      wo.sync = sync_;
      rocksdb::Status s = db_.Write(wo, &batch);
      db_writes_.fetch_add(1, std::memory_order_relaxed);
      if (!s.ok()) failure_ = "storage write failed: " + s.ToString();
    }
    if (!failure_.empty()) {
      for (auto& d : done) d.error = failure_;
    }
  }

  ops_written_.fetch_add(group.size(), std::memory_order_relaxed);
  if (group.size() > largest_group_.load(std::memory_order_relaxed)) {
    largest_group_.store(group.size(), std::memory_order_relaxed);
  }
  queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  deliver_(std::move(done));
}

}  // namespace kgw
