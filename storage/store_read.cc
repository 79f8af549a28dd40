// Store, reads: fetching batches and finding offsets by timestamp, on the
// libuv threadpool (see store.h, "Threads").
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <algorithm>
#include <memory>

#include "protocol/records/record_batch.h"
#include "protocol/records/record_iterator.h"
#include "storage/database.h"
#include "storage/keys.h"
#include "storage/partition_iterator.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace kgw {

// A unit of threadpool work: run() on a pool thread (may touch the
// database, never the Store's loop-side state), finish() on the loop
// thread (never touches the Store: it may be stopped or gone by then).
class PoolJob {
 public:
  virtual ~PoolJob() = default;
  virtual void run() = 0;
  // status: 0, or the libuv error that kept run() from running.
  virtual void finish(int status) = 0;

  uv_work_t req{};
  Store* store = nullptr;
};

using namespace store_detail;

namespace {

void read_batches(Database& d, const Uuid& topic, std::int32_t partition, std::int64_t offset,
                  std::int32_t max_bytes, std::int64_t upper_offset, bool min_one_batch,
                  ReadResult& r) {
  rocksdb::ReadOptions ro;
  // A fetch is a forward scan of blocks that are read once (a consumer
  // reads each batch once): filling the block cache with them only
  // evicts the blocks that are read again (index, meta), and costs a copy.
  ro.fill_cache = false;
  // Batches below the high watermark captured by read() are all written
  // (its write completed before the watermark moved), and none above it
  // may be returned: the bound does both. `upper_offset` is that watermark
  // or a lower limit (the last stable offset).
  PartitionIterator it(d, d.log(), topic, partition, upper_offset, ro);

  const std::size_t limit = max_bytes > 0 ? static_cast<std::size_t>(max_bytes) : 0;
  // Grown batch by batch, a multi-megabyte read would reallocate and copy
  // itself a dozen times; a read usually fills most of its limit.
  r.data.reserve(std::min<std::size_t>(limit, 8u << 20));
  for (it.seek_batch(offset); it->Valid(); it->Next()) {
    rocksdb::Slice value = it->value();
    RecordBatchHeader h;
    std::string why;
    std::int64_t key_offset = keys::log_key_offset(it->key().ToStringView());
    if (!parse_batch(bytes_of(value), h, why) || h.base_offset != key_offset) {
      if (why.empty()) why = "base offset differs from its key";
      r.error = d.describe_damage(where(topic, partition, key_offset) + ": " + why);
      r.data.clear();
      return;
    }
    if (h.last_offset() < offset) continue;  // the batch before a gap
    // Written ends and stable offsets fall between batches, except while a
    // truncation cuts one (store.h, truncate_to): that batch is going.
    if (h.last_offset() >= upper_offset) break;
    // At least one whole batch, whatever max_bytes says (Kafka's rule for
    // the first partition of a fetch); otherwise only batches that fit.
    if ((!r.data.empty() || !min_one_batch) && r.data.size() + value.size() > limit) break;
    // Through uint8_t pointers: inserting a char range into a uint8_t
    // vector converts element by element instead of one memcpy, which
    // showed as a sixth of the read path's CPU in a profile.
    const auto* v = reinterpret_cast<const std::uint8_t*>(value.data());
    r.data.insert(r.data.end(), v, v + value.size());
    if (r.data.size() >= limit) break;
  }
  if (!it->status().ok()) {
    r.error = d.describe(it->status());
    r.data.clear();
  }
}

struct TimestampResult {
  std::string error;
  std::int64_t offset = -1;
  std::int64_t timestamp = -1;
  std::int64_t high_watermark = 0;
  std::int64_t log_start_offset = 0;
};

// Kafka's LogSegment.findOffsetByTimestamp over our index: the index gives
// the first batch whose running max timestamp reached `target` (no earlier
// batch can hold a record >= target), then a forward scan finds the first
// record with timestamp >= target and offset >= log start.
void find_by_timestamp(Database& d, const Uuid& topic, std::int32_t partition, std::int64_t target,
                       std::size_t max_decompressed, TimestampResult& r) {
  std::int64_t start = r.log_start_offset;
  {
    PartitionIterator it(d, d.timeindex(), topic, partition);
    it->Seek(keys::time_key(topic, partition, target));
    if (!it->Valid()) {
      if (!it->status().ok()) r.error = d.describe(it->status());
      return;  // no batch ever reached the target
    }
    if (it->value().size() != 8) {
      r.error = d.describe_damage("topic " + keys::uuid_hex(topic) + " partition " +
                                  std::to_string(partition) + ": time index entry is not 8 bytes");
      return;
    }
    start = std::max(start, keys::get_i64(it->value().data()));
  }
  if (start >= r.high_watermark) return;

  PartitionIterator it(d, d.log(), topic, partition, r.high_watermark);
  std::vector<std::uint8_t> scratch;
  Record record;
  for (it.seek_batch(start); it->Valid(); it->Next()) {
    Bytes batch = bytes_of(it->value());
    RecordBatchHeader h;
    std::string why;
    std::int64_t key_offset = keys::log_key_offset(it->key().ToStringView());
    if (!parse_batch(batch, h, why)) {
      r.error = d.describe_damage(where(topic, partition, key_offset) + ": " + why);
      return;
    }
    if (h.last_offset() >= r.high_watermark) break;  // being truncated (see read_batches)
    if (h.last_offset() < start || h.max_timestamp < target) continue;
    Bytes records;
    RecordError e = batch_records(batch, h, scratch, records, max_decompressed);
    if (e == RecordError::kNone) {
      const bool log_append = h.timestamp_type() == TimestampType::kLogAppendTime;
      RecordIterator records_it(records, h.record_count);
      while (records_it.next(record)) {
        std::int64_t offset = h.base_offset + record.offset_delta;
        // Unsigned addition: the delta is the producer's and may be absurd.
        std::int64_t ts =
            log_append
                ? h.max_timestamp
                : static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                            static_cast<std::uint64_t>(record.timestamp_delta));
        if (offset >= start && ts >= target) {
          r.offset = offset;
          r.timestamp = ts;
          return;
        }
      }
      e = records_it.error();
    }
    if (e == RecordError::kDecompressTooLarge) {
      r.error = where(topic, partition, key_offset) +
                ": decompressed records exceed max_decompressed_batch_bytes";
      return;
    }
    if (e != RecordError::kNone) {
      r.error =
          d.describe_damage(where(topic, partition, key_offset) + ": " + record_error_name(e));
      return;
    }
  }
  if (!it->status().ok()) r.error = d.describe(it->status());
}

// PoolJob with a result of type R (which has a string `error`), computed
// by `work` on the pool and handed to `done` on the loop.
template <typename R>
class FnJob : public PoolJob {
 public:
  FnJob(R initial, std::function<void(R&)> work, std::function<void(R)> done)
      : result_(std::move(initial)), work_(std::move(work)), done_(std::move(done)) {}
  void run() override { work_(result_); }
  void finish(int status) override {
    if (status != 0) result_.error = std::string("storage read not run: ") + uv_strerror(status);
    done_(std::move(result_));
  }

 private:
  R result_;
  std::function<void(R&)> work_;
  std::function<void(R)> done_;
};

}  // namespace

void Store::queue_work(std::unique_ptr<PoolJob> job) {
  job->store = this;
  job->req.data = job.get();
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    ++jobs_;
  }
  int rc = uv_queue_work(loop_, &job->req, &Store::on_work, &Store::on_after_work);
  if (rc != 0) {
    job_finished();
    PoolJob* raw = job.release();
    post([raw, rc] {
      raw->finish(rc);
      delete raw;
    });
    return;
  }
  (void)job.release();  // owned by the request until on_after_work
}

void Store::on_work(uv_work_t* req) {
  auto* job = static_cast<PoolJob*>(req->data);
  job->run();
  Store* store = job->store;
  job->store = nullptr;
  store->job_finished();  // last touch: stop() may return and free the store
}

void Store::on_after_work(uv_work_t* req, int status) {
  auto* job = static_cast<PoolJob*>(req->data);
  if (status != 0) job->store->job_finished();  // run() never ran (cancelled)
  job->finish(status);
  delete job;
}

void Store::job_finished() {
  std::lock_guard<std::mutex> lock(jobs_mu_);
  if (--jobs_ == 0) jobs_cv_.notify_all();
}

void Store::read(const Uuid& topic, std::int32_t partition, std::int64_t offset,
                 std::int32_t max_bytes, std::function<void(ReadResult)> done, std::int64_t limit,
                 bool min_one_batch) {
  // A negative offset would encode above every key; the caller should have
  // refused it (fetch_offset_in_range), so just read from the start.
  offset = std::max<std::int64_t>(offset, 0);
  if (stopped_) {
    ReadResult r;
    r.error = kStopped;
    return done(std::move(r));
  }
  const PartitionState* ps = mutable_partition(entry(topic), partition);
  ReadResult r;
  if (ps == nullptr) {
    r.error = "unknown topic or partition";
    return post([done = std::move(done), r = std::move(r)] { done(r); });
  }
  r.high_watermark = ps->high_watermark;
  r.log_start_offset = ps->log_start_offset;
  const std::int64_t upper = limit >= 0 ? std::min(limit, ps->high_watermark) : ps->high_watermark;
  if (offset >= upper) {
    // Nothing to read yet (the long-poll case): no trip to the pool.
    return post([done = std::move(done), r = std::move(r)] { done(r); });
  }
  queue_work(std::make_unique<FnJob<ReadResult>>(
      std::move(r),
      [d = db_.get(), topic, partition, offset, max_bytes, upper, min_one_batch](ReadResult& out) {
        read_batches(*d, topic, partition, offset, max_bytes, upper, min_one_batch, out);
      },
      std::move(done)));
}

void Store::offset_for_timestamp(
    const Uuid& topic, std::int32_t partition, std::int64_t timestamp,
    std::function<void(std::int64_t offset, std::int64_t timestamp, std::string error)> done) {
  if (stopped_) return done(-1, -1, kStopped);
  const PartitionState* ps = mutable_partition(entry(topic), partition);
  if (ps == nullptr) {
    return post([done = std::move(done)] { done(-1, -1, "unknown topic or partition"); });
  }
  TimestampResult r;
  r.high_watermark = ps->high_watermark;
  r.log_start_offset = ps->log_start_offset;
  queue_work(std::make_unique<FnJob<TimestampResult>>(
      std::move(r),
      [d = db_.get(), topic, partition, timestamp, cap = options_.max_decompressed_batch_bytes](
          TimestampResult& out) { find_by_timestamp(*d, topic, partition, timestamp, cap, out); },
      [done = std::move(done)](TimestampResult out) {
        done(out.error.empty() ? out.offset : -1, out.timestamp, std::move(out.error));
      }));
}

}  // namespace kgw
