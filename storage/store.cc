#include "storage/store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/loop_poster.h"
#include "common/loop_timer.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_iterator.h"
#include "storage/database.h"
#include "storage/group_writer.h"
#include "storage/keys.h"
#include "storage/maintenance_thread.h"
#include "storage/meta_codec.h"
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

namespace store_detail {

rocksdb::Slice slice(const std::string& s) {
  return rocksdb::Slice(s.data(), s.size());
}
Bytes bytes_of(const rocksdb::Slice& s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// The header fields the store relies on. `batch` must be exactly one v2
// batch: the broker validated it (on append) or we stored it (on read), so
// a failure here means a caller bug or damage, never a client's mistake.
bool parse_batch(Bytes batch, RecordBatchHeader& h, std::string& why) {
  RecordError e = parse_record_batch_header(batch, h);
  if (e != RecordError::kNone) {
    why = record_error_name(e);
    return false;
  }
  if (h.total_size() != batch.size()) {
    why = "batch_length does not match the batch size";
    return false;
  }
  if (h.last_offset_delta < 0) {
    why = "negative last_offset_delta";
    return false;
  }
  return true;
}

std::string where(const Uuid& topic, std::int32_t partition, std::int64_t offset) {
  return "topic " + keys::uuid_hex(topic) + " partition " + std::to_string(partition) +
         " batch at offset " + std::to_string(offset);
}

}  // namespace store_detail

using namespace store_detail;

namespace {

void put_be64(std::uint8_t* p, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(u);
    u >>= 8;
  }
}

// Positions `it` (bounded to one partition) on the batch containing
// `offset`, or on the first batch after it when `offset` falls before the
// first batch or in a gap; !Valid() if there is none.
void seek_batch(rocksdb::Iterator& it, const std::string& target) {
  it.SeekForPrev(target);
  if (!it.Valid() && it.status().ok()) it.Seek(target);
}

void read_batches(Database& d, const Uuid& topic, std::int32_t partition, std::int64_t offset,
                  std::int32_t max_bytes, std::int64_t upper_offset, bool min_one_batch,
                  ReadResult& r) {
  const std::string lower = keys::partition_begin(topic, partition);
  // Batches below the high watermark captured by read() are all written
  // (its write completed before the watermark moved), and none above it
  // may be returned: the bound does both. `upper_offset` is that watermark
  // or a lower limit (the last stable offset).
  const std::string upper = keys::log_key(topic, partition, upper_offset);
  rocksdb::Slice lower_slice = slice(lower);
  rocksdb::Slice upper_slice = slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  // A fetch is a forward scan of blocks that are read once (a consumer
  // reads each batch once): filling the block cache with them only
  // evicts the blocks that are read again (index, meta), and costs a copy.
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(d.db().NewIterator(ro, d.log()));

  const std::size_t limit = max_bytes > 0 ? static_cast<std::size_t>(max_bytes) : 0;
  // Grown batch by batch, a multi-megabyte read would reallocate and copy
  // itself a dozen times; a read usually fills most of its limit.
  r.data.reserve(std::min<std::size_t>(limit, 8u << 20));
  for (seek_batch(*it, keys::log_key(topic, partition, offset)); it->Valid(); it->Next()) {
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
  const std::string lower = keys::partition_begin(topic, partition);
  std::int64_t start = r.log_start_offset;
  {
    const std::string upper = keys::partition_end(topic, partition);
    rocksdb::Slice lower_slice = slice(lower);
    rocksdb::Slice upper_slice = slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(d.db().NewIterator(ro, d.timeindex()));
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

  const std::string upper = keys::log_key(topic, partition, r.high_watermark);
  rocksdb::Slice lower_slice = slice(lower);
  rocksdb::Slice upper_slice = slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(d.db().NewIterator(ro, d.log()));
  std::vector<std::uint8_t> scratch;
  Record record;
  for (seek_batch(*it, keys::log_key(topic, partition, start)); it->Valid(); it->Next()) {
    Bytes batch = bytes_of(it->value());
    RecordBatchHeader h;
    std::string why;
    std::int64_t key_offset = keys::log_key_offset(it->key().ToStringView());
    if (!parse_batch(batch, h, why)) {
      r.error = d.describe_damage(where(topic, partition, key_offset) + ": " + why);
      return;
    }
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

}  // namespace

// Writer thread, for set_log_start_offset() and retention: persists the
// partition record and deletes what lies wholly below the log start: its
// batches, time index entries, and the records of the segments below
// `first_segment` (the base of the first segment that stays).
rocksdb::Status store_detail::delete_below(Database& d, const Uuid& topic, std::int32_t partition,
                                           const PartitionRecord& record,
                                           std::int64_t first_segment, rocksdb::WriteBatch& b) {
  const std::int64_t log_start = record.log_start_offset;
  rocksdb::Status s =
      b.Put(d.meta(), keys::meta_partition_key(topic, partition), encode_partition(record));
  if (!s.ok()) return s;
  s = b.DeleteRange(d.meta(), keys::meta_segments_begin(topic, partition),
                    keys::meta_segment_key(topic, partition, first_segment));
  if (!s.ok()) return s;
  const std::string lower = keys::partition_begin(topic, partition);
  const std::string upper = keys::partition_end(topic, partition);
  rocksdb::Slice lower_slice = slice(lower);
  rocksdb::Slice upper_slice = slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;

  // The batch containing log_start stays, so delete below its base. It is
  // written: log_start <= high watermark, and the watermark moves only
  // after a write.
  std::int64_t end = log_start;
  {
    std::unique_ptr<rocksdb::Iterator> it(d.db().NewIterator(ro, d.log()));
    it->SeekForPrev(keys::log_key(topic, partition, log_start));
    if (it->Valid()) {
      RecordBatchHeader h;
      std::string why;
      if (!parse_batch(bytes_of(it->value()), h, why)) {
        return rocksdb::Status::Corruption(
            where(topic, partition, keys::log_key_offset(it->key().ToStringView())), why);
      }
      if (h.last_offset() >= log_start) end = h.base_offset;
    } else if (!it->status().ok()) {
      return it->status();
    }
  }
  s = b.DeleteRange(d.log(), lower, keys::log_key(topic, partition, end));
  if (!s.ok()) return s;

  // Time index entries of deleted batches go too, except the last one: it
  // still bounds the search for timestamps up to its own (the scan then
  // starts at the log start), where the next entry would skip surviving
  // batches that hold such timestamps.
  std::string keep;
  {
    std::unique_ptr<rocksdb::Iterator> it(d.db().NewIterator(ro, d.timeindex()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->value().size() != 8) {
        return rocksdb::Status::Corruption("time index entry is not 8 bytes");
      }
      if (keys::get_i64(it->value().data()) >= end) break;
      keep = it->key().ToString();
    }
    if (!it->status().ok()) return it->status();
  }
  if (!keep.empty()) return b.DeleteRange(d.timeindex(), lower, keep);
  return rocksdb::Status::OK();
}

namespace {

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

Store::Store(uv_loop_t* loop, const StoreOptions& options, std::unique_ptr<Database> db)
    : loop_(loop), options_(options), db_(std::move(db)) {
  std::random_device rd;
  rng_.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
}

Store::~Store() {
  (void)stop();
}

std::unique_ptr<Store> Store::open(uv_loop_t* loop, const StoreOptions& options,
                                   std::string& error) {
  std::unique_ptr<Database> db = Database::open(options.data_dir, error);
  if (db == nullptr) return nullptr;
  std::unique_ptr<Store> store(new Store(loop, options, std::move(db)));
  if (!store->load(error)) return nullptr;

  store->poster_ = std::make_unique<LoopPoster>();
  int rc = store->poster_->init(loop);
  if (rc != 0) {
    error = std::string("storage: uv_async_init: ") + uv_strerror(rc);
    return nullptr;
  }
  Store* self = store.get();
  store->writer_ = std::make_unique<GroupWriter>(
      store->db_->db(), options.fsync, options.max_group_bytes,
      [self](std::vector<CompletedOp> ops) { self->deliver(std::move(ops)); });
  store->writer_->start();

  store->maintenance_thread_ = std::make_unique<MaintenanceThread>();
  store->maintenance_thread_->start();
  store->retention_timer_ = std::make_unique<LoopTimer>();
  store->cleaner_timer_ = std::make_unique<LoopTimer>();
  store->checkpoint_timer_ = std::make_unique<LoopTimer>();
  for (LoopTimer* t : {store->retention_timer_.get(), store->cleaner_timer_.get(),
                       store->checkpoint_timer_.get()}) {
    rc = t->init(loop);
    if (rc != 0) {
      error = std::string("storage: uv_timer_init: ") + uv_strerror(rc);
      return nullptr;
    }
  }
  // Segments rebuilt by reading the log at load are written down now.
  store->checkpoint_segments(false);
  return store;
}

void Store::deliver(std::vector<CompletedOp> ops) {
  // One post per group: the loop runs the group's completions in order,
  // then wakes the listener once per partition.
  poster_->post([this, ops = std::move(ops)] {
    for (const auto& op : ops) op.complete(op.error);
    flush_listeners();
    if (failure_.empty()) {
      for (const auto& op : ops) {
        if (op.error.empty()) continue;
        failure_ = op.error;
        fail_written_waits(nullptr, WaitOutcome::kFailed, failure_);
        if (failure_listener_) failure_listener_(failure_);
        break;
      }
    }
  });
}

bool Store::load(std::string& error) {
  rocksdb::DB& db = db_->db();
  std::map<std::pair<Uuid, std::int32_t>, PartitionRecord> partition_records;
  std::map<std::pair<Uuid, std::int32_t>, std::deque<Segment>> segment_records;
  {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), db_->meta()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key = it->key().ToStringView();
      std::string_view value = it->value().ToStringView();
      std::string why;
      if (key.size() == 1 + keys::kIdSize && key[0] == keys::kMetaTopic) {
        Uuid id;
        std::memcpy(id.bytes.data(), key.data() + 1, keys::kIdSize);
        auto t = std::make_unique<TopicEntry>();
        if (!decode_topic(value, t->info, why)) {
          error = db_->describe_damage("topic " + keys::uuid_hex(id) + ": " + why);
          return false;
        }
        if (t->info.id != id || by_name_.count(t->info.name) != 0 || t->info.partitions < 1) {
          error = db_->describe_damage("topic " + keys::uuid_hex(id) + " (" + t->info.name +
                                       "): id, name or partition count inconsistent");
          return false;
        }
        t->partitions.resize(static_cast<std::size_t>(t->info.partitions));
        t->logs.resize(static_cast<std::size_t>(t->info.partitions));
        t->incarnation = next_incarnation_++;
        by_id_[t->info.id] = t.get();
        by_name_.emplace(t->info.name, std::move(t));
      } else if (key.size() == 1 + keys::kIdSize + 4 && key[0] == keys::kMetaPartition) {
        Uuid id;
        std::memcpy(id.bytes.data(), key.data() + 1, keys::kIdSize);
        auto p = static_cast<std::int32_t>(keys::get_u32(key.data() + 1 + keys::kIdSize));
        PartitionRecord record;
        if (!decode_partition(value, record, why)) {
          error = db_->describe_damage("topic " + keys::uuid_hex(id) + " partition " +
                                       std::to_string(p) + ": " + why);
          return false;
        }
        partition_records[{id, p}] = record;
      } else if (key.size() == 1 + keys::kIdSize + 4 + 8 && key[0] == keys::kMetaSegment) {
        Uuid id;
        std::memcpy(id.bytes.data(), key.data() + 1, keys::kIdSize);
        auto p = static_cast<std::int32_t>(keys::get_u32(key.data() + 1 + keys::kIdSize));
        Segment seg;
        seg.base = keys::get_i64(key.data() + 1 + keys::kIdSize + 4);
        if (!decode_segment(value, seg, why)) {
          error = db_->describe_damage("topic " + keys::uuid_hex(id) + " partition " +
                                       std::to_string(p) + " segment " + std::to_string(seg.base) +
                                       ": " + why);
          return false;
        }
        segment_records[{id, p}].push_back(seg);  // keys come in offset order
      } else if (!key.empty() && key[0] == keys::kMetaCluster) {
        cluster_records_[std::string(key.substr(1))] = std::string(value);
      }
      // 'V' is Database's; other keys (from a newer minor version) are
      // left alone so that a downgrade still starts.
    }
    if (!it->status().ok()) {
      error = db_->describe(it->status());
      return false;
    }
  }

  // Two seeks per partition, on the last log batch and the last time
  // index entry: open time follows the partition count, not the data.
  std::unique_ptr<rocksdb::Iterator> log(db.NewIterator(rocksdb::ReadOptions(), db_->log()));
  std::unique_ptr<rocksdb::Iterator> index(
      db.NewIterator(rocksdb::ReadOptions(), db_->timeindex()));
  for (auto& [name, t] : by_name_) {
    const Uuid& id = t->info.id;
    for (std::int32_t p = 0; p < t->info.partitions; ++p) {
      PartitionState& ps = t->partitions[static_cast<std::size_t>(p)];
      PartitionLog& pl = t->logs[static_cast<std::size_t>(p)];
      auto record = partition_records.find({id, p});
      if (record != partition_records.end()) {
        ps.log_start_offset = record->second.log_start_offset;
        pl.cleaned_offset = record->second.cleaned_offset;
      }
      const std::string end = keys::partition_end(id, p);

      std::int64_t log_end = 0;
      log->SeekForPrev(end);
      if (log->Valid() && keys::in_partition(log->key().ToStringView(), id, p)) {
        std::int64_t key_offset = keys::log_key_offset(log->key().ToStringView());
        RecordBatchHeader h;
        std::string why;
        if (!parse_batch(bytes_of(log->value()), h, why) || h.base_offset != key_offset) {
          if (why.empty()) why = "base offset differs from its key";
          error = db_->describe_damage("topic " + name + " partition " + std::to_string(p) +
                                       ": last batch (offset " + std::to_string(key_offset) +
                                       "): " + why);
          return false;
        }
        log_end = h.last_offset() + 1;
        pl.last_batch_base = h.base_offset;
      } else if (!log->Valid() && !log->status().ok()) {
        error = db_->describe(log->status());
        return false;
      }
      // Everything may have been deleted up to the log start.
      ps.log_end_offset = std::max(log_end, ps.log_start_offset);
      ps.high_watermark = ps.log_end_offset;
      auto segs = segment_records.find({id, p});
      if (!load_segments(
              *t, p,
              segs == segment_records.end() ? std::deque<Segment>{} : std::move(segs->second),
              error)) {
        return false;
      }

      index->SeekForPrev(end);
      if (index->Valid() && keys::in_partition(index->key().ToStringView(), id, p)) {
        ps.max_timestamp = keys::time_key_timestamp(index->key().ToStringView());
      } else if (!index->Valid() && !index->status().ok()) {
        error = db_->describe(index->status());
        return false;
      }
    }
  }
  return true;
}

// The segment records as written, plus the batches appended after the
// last record of the active segment (a restart after a crash re-reads only
// those). A partition without records (a store written before segments
// existed) is read whole once and becomes one active segment.
bool Store::load_segments(TopicEntry& t, std::int32_t p, std::deque<Segment> records,
                          std::string& error) {
  PartitionState& ps = t.partitions[static_cast<std::size_t>(p)];
  PartitionLog& pl = t.logs[static_cast<std::size_t>(p)];
  const std::int64_t now = wall_ms();
  // Records wholly below the log start are leftovers; the next write that
  // deletes below the log start removes them.
  while (!records.empty() && records.front().end <= ps.log_start_offset && records.size() > 1) {
    records.pop_front();
  }
  std::int64_t scan_from = ps.log_start_offset;
  if (records.empty()) {
    Segment s;
    s.base = ps.log_start_offset;
    s.end = ps.log_start_offset;
    s.created_ms = now;
    s.last_append_ms = now;
    records.push_back(s);
    pl.checkpoint_due = true;
  } else {
    scan_from = records.back().end;
  }
  Segment& active = records.back();
  if (scan_from < ps.log_end_offset) {
    const std::string lower = keys::partition_begin(t.info.id, p);
    const std::string upper = keys::partition_end(t.info.id, p);
    rocksdb::Slice lower_slice = slice(lower);
    rocksdb::Slice upper_slice = slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->db().NewIterator(ro, db_->log()));
    const std::string target = keys::log_key(t.info.id, p, scan_from);
    it->SeekForPrev(target);
    if (!it->Valid() && it->status().ok()) it->Seek(target);
    bool first = true;
    for (; it->Valid(); it->Next()) {
      RecordBatchHeader h;
      std::string why;
      if (!parse_batch(bytes_of(it->value()), h, why)) {
        error = db_->describe_damage(
            where(t.info.id, p, keys::log_key_offset(it->key().ToStringView())) + ": " + why);
        return false;
      }
      if (h.last_offset() < scan_from) continue;  // the batch before
      if (first && records.size() == 1 && active.bytes == 0) {
        active.base = std::min(active.base, h.base_offset);
      }
      first = false;
      active.end = std::max(active.end, h.last_offset() + 1);
      active.bytes += static_cast<std::int64_t>(it->value().size());
      active.max_timestamp = std::max(active.max_timestamp, h.max_timestamp);
      active.last_append_ms = now;
      pl.checkpoint_due = true;
    }
    if (!it->status().ok()) {
      error = db_->describe(it->status());
      return false;
    }
  }
  // The log end offset survives in the active segment's record even if the
  // batches behind it went (retention up to the end).
  active.end = std::max(active.end, ps.log_end_offset);
  if (active.end > ps.log_end_offset) {
    ps.log_end_offset = active.end;
    ps.high_watermark = active.end;
  }
  pl.segments.assign(std::move(records));
  ps.size_bytes = pl.segments.bytes();
  return true;
}

Store::TopicEntry* Store::entry(const Uuid& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

PartitionState* Store::mutable_partition(TopicEntry* t, std::int32_t partition) const {
  if (t == nullptr || partition < 0 ||
      static_cast<std::size_t>(partition) >= t->partitions.size()) {
    return nullptr;
  }
  return &t->partitions[static_cast<std::size_t>(partition)];
}

Store::PartitionLog* Store::mutable_log(TopicEntry* t, std::int32_t partition) const {
  if (t == nullptr || partition < 0 || static_cast<std::size_t>(partition) >= t->logs.size()) {
    return nullptr;
  }
  return &t->logs[static_cast<std::size_t>(partition)];
}

void Store::resolve_policy(TopicEntry& t) {
  t.policy = policy_resolver_ ? policy_resolver_(t.info) : LogPolicy{};
}

void Store::set_policy_resolver(PolicyResolver fn) {
  policy_resolver_ = std::move(fn);
  refresh_policies();
}

void Store::refresh_policies() {
  for (auto& [name, t] : by_name_) resolve_policy(*t);
}

std::optional<LogInfo> Store::log_info(const Uuid& topic, std::int32_t partition) const {
  TopicEntry* t = entry(topic);
  const PartitionLog* pl = mutable_log(t, partition);
  if (pl == nullptr) return std::nullopt;
  LogInfo info;
  info.size_bytes = pl->segments.bytes();
  info.segments = pl->segments.segments().size();
  info.active_segment_base = pl->segments.active().base;
  info.cleaned_offset = pl->cleaned_offset;
  info.cleaning = pl->cleaning;
  return info;
}

const std::string* Store::cluster_record(std::string_view name) const {
  auto it = cluster_records_.find(name);
  return it == cluster_records_.end() ? nullptr : &it->second;
}

void Store::put_cluster_record(const std::string& name, std::string value, Done done) {
  if (stopped_) return done(kStopped);
  cluster_records_[name] = value;
  WriteOp op;
  op.bytes = value.size();
  op.apply = [meta = db_->meta(), key = keys::meta_cluster_key(name), value = std::move(value)](
                 rocksdb::DB&, rocksdb::WriteBatch& b) { return b.Put(meta, key, value); };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::submit_partition_record(const Uuid& topic, std::int32_t partition) {
  TopicEntry* t = entry(topic);
  PartitionState* ps = mutable_partition(t, partition);
  PartitionLog* pl = mutable_log(t, partition);
  if (ps == nullptr || pl == nullptr) return;
  PartitionRecord record{ps->log_start_offset, pl->cleaned_offset};
  WriteOp op;
  op.bytes = 64;
  op.apply = [meta = db_->meta(), key = keys::meta_partition_key(topic, partition),
              value = encode_partition(record)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    return b.Put(meta, key, value);
  };
  op.complete = [](const std::string&) {};
  writer_->submit(std::move(op));
}

const TopicInfo* Store::find_topic(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second->info;
}

const TopicInfo* Store::find_topic(const Uuid& id) const {
  TopicEntry* t = entry(id);
  return t == nullptr ? nullptr : &t->info;
}

std::vector<const TopicInfo*> Store::topics() const {
  std::vector<const TopicInfo*> out;
  out.reserve(by_name_.size());
  for (const auto& [name, t] : by_name_) out.push_back(&t->info);
  return out;
}

const PartitionState* Store::partition(const Uuid& topic, std::int32_t partition) const {
  return mutable_partition(entry(topic), partition);
}

void Store::post(std::function<void()> fn) {
  if (stopped_ || poster_ == nullptr) {
    fn();
    return;
  }
  poster_->post(std::move(fn));
}

Uuid Store::random_topic_id() {
  for (;;) {
    Uuid id;
    for (std::size_t i = 0; i < id.bytes.size(); i += 8) {
      std::uint64_t r = rng_();
      for (std::size_t j = 0; j < 8; ++j) id.bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x40);  // version 4
    id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
    // As Kafka's Uuid.randomUuid(): no id whose base64 form starts with
    // '-' (tools would read it as a flag). The zero and metadata-topic ids
    // it also avoids cannot have the version bits.
    if ((id.bytes[0] >> 2) == 62) continue;
    if (by_id_.count(id) != 0) continue;
    return id;
  }
}

void Store::submit_topic_write(const TopicEntry& t, std::string encoded, Done done) {
  WriteOp op;
  op.bytes = encoded.size();
  op.apply = [meta = db_->meta(), key = keys::meta_topic_key(t.info.id),
              value = std::move(encoded)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    return b.Put(meta, key, value);
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::create_topic(TopicInfo info, Done done) {
  if (stopped_) return done(kStopped);
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(error); });
  };
  if (info.name.empty()) return fail("topic name is empty");
  if (info.partitions < 1) {
    return fail("topic " + info.name + ": partition count must be at least 1");
  }
  if (by_name_.count(info.name) != 0) return fail("topic " + info.name + " already exists");
  if (info.id.is_zero()) {
    info.id = random_topic_id();
  } else if (by_id_.count(info.id) != 0) {
    return fail("topic id " + keys::uuid_hex(info.id) + " is already in use");
  }
  std::string encoded;
  std::string why;
  if (!encode_topic(info, encoded, why)) return fail("topic " + info.name + ": " + why);

  auto t = std::make_unique<TopicEntry>();
  t->partitions.resize(static_cast<std::size_t>(info.partitions));
  t->logs.resize(static_cast<std::size_t>(info.partitions));
  const std::int64_t now = wall_ms();
  for (auto& pl : t->logs) pl.segments.reset(0, now);
  t->info = std::move(info);
  t->incarnation = next_incarnation_++;
  resolve_policy(*t);
  TopicEntry& ref = *t;
  by_id_[ref.info.id] = t.get();
  by_name_.emplace(ref.info.name, std::move(t));
  submit_topic_write(ref, std::move(encoded), std::move(done));
}

void Store::delete_topic(Uuid id, Done done) {
  if (stopped_) return done(kStopped);
  TopicEntry* t = entry(id);
  if (t == nullptr) {
    return post([done = std::move(done), id] { done("unknown topic id " + keys::uuid_hex(id)); });
  }
  by_id_.erase(id);
  by_name_.erase(t->info.name);  // destroys *t
  fail_written_waits(&id, WaitOutcome::kGone, "topic deleted");

  WriteOp op;
  op.bytes = 4 * keys::kEntryKeySize;
  op.apply = [d = db_.get(), id](rocksdb::DB&, rocksdb::WriteBatch& b) {
    rocksdb::Status s = b.Delete(d->meta(), keys::meta_topic_key(id));
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_partitions_begin(id), keys::meta_partitions_end(id));
    }
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_topic_segments_begin(id),
                        keys::meta_topic_segments_end(id));
    }
    if (s.ok()) s = b.DeleteRange(d->log(), keys::topic_begin(id), keys::topic_end(id));
    if (s.ok()) s = b.DeleteRange(d->timeindex(), keys::topic_begin(id), keys::topic_end(id));
    // Producer state and aborted transactions of its partitions.
    for (char kind : {keys::kProducerState, keys::kAbortedTxn}) {
      if (s.ok()) {
        s = b.DeleteRange(d->producers(), keys::producers_topic_begin(kind, id),
                          keys::producers_topic_end(kind, id));
      }
    }
    return s;
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::add_partitions(const Uuid& id, std::int32_t new_total, Done done) {
  if (stopped_) return done(kStopped);
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(error); });
  };
  TopicEntry* t = entry(id);
  if (t == nullptr) return fail("unknown topic id " + keys::uuid_hex(id));
  if (new_total <= t->info.partitions) {
    return fail("topic " + t->info.name + " has " + std::to_string(t->info.partitions) +
                " partitions: the new total must be more");
  }
  TopicInfo changed = t->info;
  changed.partitions = new_total;
  std::string encoded;
  std::string why;
  if (!encode_topic(changed, encoded, why)) return fail("topic " + t->info.name + ": " + why);
  // The new partitions' state first, the count after: nothing ever sees a
  // count above the state there is (callers bound new_total; see
  // kgw.max.partitions in the broker).
  const std::size_t old_count = t->logs.size();
  t->partitions.resize(static_cast<std::size_t>(new_total));
  t->logs.resize(static_cast<std::size_t>(new_total));
  const std::int64_t now = wall_ms();
  for (std::size_t i = old_count; i < t->logs.size(); ++i) t->logs[i].segments.reset(0, now);
  t->info.partitions = new_total;
  submit_topic_write(*t, std::move(encoded), std::move(done));
}

void Store::set_topic_configs(const Uuid& id, std::map<std::string, std::string> configs,
                              Done done) {
  if (stopped_) return done(kStopped);
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(error); });
  };
  TopicEntry* t = entry(id);
  if (t == nullptr) return fail("unknown topic id " + keys::uuid_hex(id));
  TopicInfo changed = t->info;
  changed.configs = std::move(configs);
  std::string encoded;
  std::string why;
  if (!encode_topic(changed, encoded, why)) return fail("topic " + t->info.name + ": " + why);
  t->info.configs = std::move(changed.configs);
  resolve_policy(*t);
  submit_topic_write(*t, std::move(encoded), std::move(done));
}

void Store::append(const Uuid& topic, std::int32_t partition,
                   std::vector<std::vector<std::uint8_t>> batches,
                   std::function<void(AppendResult)> done,
                   std::vector<RecordWrite> producer_writes) {
  auto owned = std::make_shared<std::vector<std::vector<std::uint8_t>>>(std::move(batches));
  std::vector<std::span<std::uint8_t>> views(owned->begin(), owned->end());
  append_in_place(topic, partition, std::move(views), std::move(owned), std::move(done),
                  std::move(producer_writes));
}

void Store::append_in_place(const Uuid& topic, std::int32_t partition,
                            std::vector<std::span<std::uint8_t>> batches,
                            std::shared_ptr<const void> owner,
                            std::function<void(AppendResult)> done,
                            std::vector<RecordWrite> producer_writes) {
  if (stopped_) return done(AppendResult{kStopped, -1, -1});
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(AppendResult{error, -1, -1}); });
  };
  TopicEntry* t = entry(topic);
  PartitionState* ps = mutable_partition(t, partition);
  if (ps == nullptr) return fail("unknown topic or partition");

  // Check every batch before assigning anything, so a bad call changes
  // nothing.
  std::vector<RecordBatchHeader> headers(batches.size());
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    std::string why;
    if (!parse_batch(Bytes(batches[i]), headers[i], why)) {
      return fail("append batch " + std::to_string(i) + ": " + why);
    }
    bytes += batches[i].size();
  }
  if (batches.empty()) {
    return post([done = std::move(done), leo = ps->log_end_offset, lso = ps->log_start_offset] {
      done(AppendResult{"", leo, lso});
    });
  }

  PartitionLog* pl = mutable_log(t, partition);
  const std::int64_t now = wall_ms();
  const std::int64_t base = ps->log_end_offset;
  std::vector<std::int64_t> offsets;
  offsets.reserve(batches.size());
  std::vector<std::pair<std::int64_t, std::int64_t>> index;  // (max timestamp, base offset)
  // Segment records to write with this append: those it rolled, and the
  // new active segment.
  std::vector<std::pair<std::int64_t, std::string>> segment_records;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    std::int64_t offset = ps->log_end_offset;
    const auto size = static_cast<std::int64_t>(batches[i].size());
    if (pl->segments.should_roll(size, now, t->policy)) {
      Segment closed = pl->segments.roll(offset, now);
      segment_records.emplace_back(closed.base, encode_segment(closed));
    }
    put_be64(batches[i].data() + RecordBatchHeader::kBaseOffsetAt, offset);
    offsets.push_back(offset);
    ps->log_end_offset = offset + headers[i].last_offset_delta + 1;
    pl->segments.on_append(ps->log_end_offset, size, headers[i].max_timestamp, now);
    pl->last_batch_base = offset;
    // Kafka's time index is monotonic the same way: an entry only for a
    // new maximum, so a Seek finds the first batch that reached a time.
    if (headers[i].max_timestamp > ps->max_timestamp) {
      ps->max_timestamp = headers[i].max_timestamp;
      index.emplace_back(headers[i].max_timestamp, offset);
    }
  }
  const std::int64_t end = ps->log_end_offset;
  ps->size_bytes = pl->segments.bytes();
  if (!segment_records.empty()) {
    segment_records.emplace_back(pl->segments.active().base, encode_segment(pl->segments.active()));
    pl->checkpoint_due = false;
  } else {
    pl->checkpoint_due = true;
  }

  WriteOp op;
  op.bytes = bytes;
  op.apply = [d = db_.get(), topic, partition, batches = std::move(batches),
              offsets = std::move(offsets), index = std::move(index),
              segment_records = std::move(segment_records),
              producer_writes = std::move(producer_writes)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    for (const auto& w : producer_writes) {
      rocksdb::Status s =
          w.value ? b.Put(d->producers(), w.key, *w.value) : b.Delete(d->producers(), w.key);
      if (!s.ok()) return s;
    }
    for (std::size_t i = 0; i < batches.size(); ++i) {
      rocksdb::Status s = b.Put(
          d->log(), keys::log_key(topic, partition, offsets[i]),
          rocksdb::Slice(reinterpret_cast<const char*>(batches[i].data()), batches[i].size()));
      if (!s.ok()) return s;
    }
    for (const auto& [ts, offset] : index) {
      rocksdb::Status s =
          b.Put(d->timeindex(), keys::time_key(topic, partition, ts), keys::encode_i64(offset));
      if (!s.ok()) return s;
    }
    for (const auto& [segment_base, value] : segment_records) {
      rocksdb::Status s =
          b.Put(d->meta(), keys::meta_segment_key(topic, partition, segment_base), value);
      if (!s.ok()) return s;
    }
    return rocksdb::Status::OK();
  };
  // `owner` rides with the completion, not with apply: apply is released
  // on the writer thread, and the buffer (a request frame) should be freed
  // on the loop thread that made it. The batch bytes are needed until
  // apply has copied them into the WriteBatch, which is before complete.
  op.complete = [this, topic, partition, incarnation = t->incarnation, base, end,
                 owner = std::move(owner), done = std::move(done)](const std::string& error) {
    std::int64_t log_start = on_append_written(topic, partition, incarnation, end, error);
    done(AppendResult{error, error.empty() ? base : -1, log_start});
  };
  writer_->submit(std::move(op));
}

std::int64_t Store::on_append_written(const Uuid& topic, std::int32_t partition,
                                      std::uint64_t incarnation, std::int64_t end,
                                      const std::string& error) {
  TopicEntry* t = entry(topic);
  if (t == nullptr || t->incarnation != incarnation) return -1;  // deleted meanwhile
  PartitionState* ps = mutable_partition(t, partition);
  if (ps == nullptr) return -1;
  if (!error.empty()) {
    // Failures are sticky (group_writer.h), so every append queued after
    // this one fails too: forget the offsets they took.
    ps->log_end_offset = ps->high_watermark;
    return ps->log_start_offset;
  }
  // Completions arrive in submission order, which is offset order.
  if (end > ps->high_watermark) {
    ps->high_watermark = end;
    to_notify_.emplace_back(topic, partition);
    finish_written_waits(topic, partition, end);
  }
  return ps->log_start_offset;
}

void Store::when_written(const Uuid& topic, std::int32_t partition, std::int64_t end,
                         std::function<void(WaitOutcome, const std::string&)> done) {
  const PartitionState* ps = this->partition(topic, partition);
  if (!failure_.empty()) {
    return post([done = std::move(done), e = failure_] { done(WaitOutcome::kFailed, e); });
  }
  if (stopped_ || ps == nullptr) {
    return post(
        [done = std::move(done)] { done(WaitOutcome::kGone, "unknown topic or partition"); });
  }
  if (ps->high_watermark >= end) {
    return post([done = std::move(done)] { done(WaitOutcome::kWritten, ""); });
  }
  written_waits_[{topic, partition}].emplace(end, std::move(done));
}

void Store::finish_written_waits(const Uuid& topic, std::int32_t partition,
                                 std::int64_t high_watermark) {
  auto it = written_waits_.find({topic, partition});
  if (it == written_waits_.end()) return;
  auto& waits = it->second;
  std::vector<std::function<void(WaitOutcome, const std::string&)>> ready;
  while (!waits.empty() && waits.begin()->first <= high_watermark) {
    ready.push_back(std::move(waits.begin()->second));
    waits.erase(waits.begin());
  }
  if (waits.empty()) written_waits_.erase(it);
  for (auto& done : ready) done(WaitOutcome::kWritten, "");
}

void Store::fail_written_waits(const Uuid* topic, WaitOutcome outcome, const std::string& error) {
  std::vector<std::function<void(WaitOutcome, const std::string&)>> failed;
  for (auto it = written_waits_.begin(); it != written_waits_.end();) {
    if (topic != nullptr && it->first.first != *topic) {
      ++it;
      continue;
    }
    for (auto& [end, done] : it->second) failed.push_back(std::move(done));
    it = written_waits_.erase(it);
  }
  for (auto& done : failed) done(outcome, error);
}

void Store::set_failure_listener(std::function<void(const std::string&)> fn) {
  failure_listener_ = std::move(fn);
}

void Store::flush_listeners() {
  if (to_notify_.empty()) return;
  std::vector<std::pair<Uuid, std::int32_t>> partitions;
  partitions.swap(to_notify_);
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  if (!append_listener_) return;
  for (const auto& [topic, partition] : partitions) append_listener_(topic, partition);
}

void Store::set_append_listener(std::function<void(const Uuid&, std::int32_t)> fn) {
  append_listener_ = std::move(fn);
}

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

void Store::set_log_start_offset(const Uuid& topic, std::int32_t partition, std::int64_t offset,
                                 Done done) {
  if (stopped_) return done(kStopped);
  TopicEntry* t = entry(topic);
  PartitionState* ps = mutable_partition(t, partition);
  if (ps == nullptr) return post([done = std::move(done)] { done("unknown topic or partition"); });
  if (!ps->log_start_offset_allowed(offset)) {
    return post([done = std::move(done), offset, hw = ps->high_watermark] {
      done("log start offset " + std::to_string(offset) + " is outside [0, high watermark " +
           std::to_string(hw) + "]");
    });
  }
  if (offset <= ps->log_start_offset) return post([done = std::move(done)] { done(""); });
  ps->log_start_offset = offset;
  // Segments wholly below go; the one holding the new log start stays.
  PartitionLog* pl = mutable_log(t, partition);
  const std::size_t before = pl->segments.segments().size();
  const std::size_t n = pl->segments.count_below(offset);
  pl->segments.pop_front(n, ps->log_end_offset, wall_ms());
  ps->size_bytes = pl->segments.bytes();
  std::string fresh_active;  // when every segment went
  if (n == before) fresh_active = encode_segment(pl->segments.active());

  WriteOp op;
  op.bytes = 2 * keys::kEntryKeySize;
  op.apply = [d = db_.get(), topic, partition, record = PartitionRecord{offset, pl->cleaned_offset},
              first_segment = pl->segments.segments().front().base,
              fresh_active = std::move(fresh_active)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    rocksdb::Status s = delete_below(*d, topic, partition, record, first_segment, b);
    if (s.ok() && !fresh_active.empty()) {
      s = b.Put(d->meta(), keys::meta_segment_key(topic, partition, first_segment), fresh_active);
    }
    return s;
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

namespace {
rocksdb::ColumnFamilyHandle* family_handle(Database& d, RecordFamily f) {
  return f == RecordFamily::kOffsets ? d.offsets() : d.producers();
}
}  // namespace

void Store::write_records(RecordFamily family, std::vector<RecordWrite> writes, Done done) {
  if (stopped_) return done(kStopped);
  WriteOp op;
  for (const auto& w : writes) op.bytes += w.key.size() + (w.value ? w.value->size() : 0);
  op.apply = [cf = family_handle(*db_, family), writes = std::move(writes)](
                 rocksdb::DB&, rocksdb::WriteBatch& b) {
    for (const auto& w : writes) {
      rocksdb::Status s = w.value ? b.Put(cf, w.key, *w.value) : b.Delete(cf, w.key);
      if (!s.ok()) return s;
    }
    return rocksdb::Status::OK();
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

std::string Store::scan_records(
    RecordFamily family,
    const std::function<std::string(std::string_view key, std::string_view value)>& fn) {
  if (stopped_) return kStopped;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db().NewIterator(rocksdb::ReadOptions(), family_handle(*db_, family)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string error = fn(it->key().ToStringView(), it->value().ToStringView());
    if (!error.empty()) return db_->describe_damage(error);
  }
  if (!it->status().ok()) return db_->describe(it->status());
  return "";
}

bool Store::overloaded() const {
  return writer_ != nullptr && writer_->queued_bytes() > options_.max_queued_bytes;
}

StoreStats Store::stats() const {
  StoreStats s;
  s.retention_deletions = retention_deletions_;
  s.cleaner_passes = cleaner_passes_;
  s.cleaner_failures = cleaner_failures_;
  s.last_cleaning = last_cleaning_;
  if (writer_ != nullptr) {
    s.db_writes = writer_->db_writes();
    s.ops_written = writer_->ops_written();
    s.largest_group = writer_->largest_group();
    s.queued_bytes = writer_->queued_bytes();
  }
  return s;
}

std::string Store::stop() {
  if (stopped_) return "";
  // 0. Background work first: a running cleaner pass or RocksDB compaction
  //    is told to stop and waited for (it needs nothing from this thread:
  //    a pass waiting for its chunk's write gives up when told to stop),
  //    then the active segments' state is written down with the rest.
  if (maintenance_thread_ != nullptr) {
    db_->db().DisableManualCompaction();
    maintenance_thread_->stop();
  }
  for (auto* t : {retention_timer_.get(), cleaner_timer_.get(), checkpoint_timer_.get()}) {
    if (t != nullptr) t->close();
  }
  if (writer_ != nullptr) checkpoint_segments(true);
  stopped_ = true;
  // 1. Write what is queued; its completions wait in the poster.
  if (writer_ != nullptr) writer_->stop();
  // 2. Run them here (calls they make into the store fail at once).
  if (poster_ != nullptr) {
    poster_->run_pending();
    poster_->close();
  }
  // Waits for writes that will never come now.
  fail_written_waits(nullptr, WaitOutcome::kGone, "kgw is stopping");
  // 3. Reads on the pool use the database: wait for them. They need
  //    nothing from this thread to finish.
  {
    std::unique_lock<std::mutex> lock(jobs_mu_);
    jobs_cv_.wait(lock, [this] { return jobs_ == 0; });
  }
  // 4. Iterators are gone with the jobs; handles go before the DB.
  return db_ != nullptr ? db_->close() : "";
}

}  // namespace kgw
