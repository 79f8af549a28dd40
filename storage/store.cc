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
#include "storage/partition_iterator.h"
#include "storage/store_internal.h"

namespace kgw {

namespace store_detail {

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

  // The batch containing log_start stays, so delete below its base. It is
  // written: log_start <= high watermark, and the watermark moves only
  // after a write.
  std::int64_t end = log_start;
  {
    PartitionIterator it(d, d.log(), topic, partition);
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
    PartitionIterator it(d, d.timeindex(), topic, partition);
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
  std::unique_ptr<Database> db = Database::open(options.data_dir, error, options.in_memory);
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
  std::map<std::pair<Uuid, std::int32_t>, std::map<std::int32_t, std::int64_t>> epoch_records;
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
      } else if (key.size() == 1 + keys::kIdSize + 4 + 4 && key[0] == keys::kMetaEpoch) {
        Uuid id;
        std::memcpy(id.bytes.data(), key.data() + 1, keys::kIdSize);
        auto p = static_cast<std::int32_t>(keys::get_u32(key.data() + 1 + keys::kIdSize));
        auto epoch = static_cast<std::int32_t>(keys::get_u32(key.data() + 1 + keys::kIdSize + 4));
        if (value.size() != 8 || epoch < 0) {
          error = db_->describe_damage("topic " + keys::uuid_hex(id) + " partition " +
                                       std::to_string(p) + ": leader epoch entry " +
                                       std::to_string(epoch) + " is malformed");
          return false;
        }
        epoch_records[{id, p}][epoch] = keys::get_i64(value.data());
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
      if (auto e = epoch_records.find({id, p}); e != epoch_records.end()) {
        pl.epochs = std::move(e->second);
      }
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
    PartitionIterator it(*db_, db_->log(), t.info.id, p);
    it.seek_batch(scan_from);
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

void Store::post(std::function<void()> fn) {
  if (stopped_ || poster_ == nullptr) {
    fn();
    return;
  }
  poster_->post(std::move(fn));
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

std::string Store::identity() const {
  std::string id;
  if (db_ == nullptr || !db_->db().GetDbIdentity(id).ok()) return "";
  return id;
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
