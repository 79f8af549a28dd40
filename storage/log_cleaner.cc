#include "storage/log_cleaner.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <unordered_map>

#include "common/human_bytes.h"
#include "common/log.h"
#include "protocol/records/control_record.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "storage/database.h"
#include "storage/keys.h"
#include "storage/partition_iterator.h"

namespace kgw {

namespace {

using Clock = std::chrono::steady_clock;

// Reads a partition's batches in offset order within [from, to), starting
// with the batch that contains `from` (or the first after it).
class BatchScan {
 public:
  BatchScan(Database& d, const Uuid& topic, std::int32_t partition, std::int64_t from,
            std::int64_t to)
      : db_(d),
        topic_(topic),
        partition_(partition),
        it_(d, d.log(), topic, partition, std::max<std::int64_t>(to, 0), scan_options()) {
    it_.seek_batch(std::max<std::int64_t>(from, 0));
  }

  // The next batch; false at the end or on error (check error()).
  bool next(Bytes& batch, RecordBatchHeader& h) {
    if (!started_) {
      started_ = true;
    } else {
      it_->Next();
    }
    if (!it_->Valid()) {
      if (!it_->status().ok()) error_ = db_.describe(it_->status());
      return false;
    }
    rocksdb::Slice v = it_->value();
    batch = Bytes(reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
    const std::int64_t key_offset = keys::log_key_offset(it_->key().ToStringView());
    RecordError e = parse_record_batch_header(batch, h);
    if (e == RecordError::kNone &&
        (h.total_size() != batch.size() || h.base_offset != key_offset)) {
      e = RecordError::kBadLength;
    }
    if (e != RecordError::kNone) {
      error_ = db_.describe_damage("topic " + keys::uuid_hex(topic_) + " partition " +
                                   std::to_string(partition_) + " batch at offset " +
                                   std::to_string(key_offset) + ": " + record_error_name(e));
      return false;
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  static rocksdb::ReadOptions scan_options() {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a scan should not push out what fetches read
    ro.readahead_size = 2u << 20;
    return ro;
  }

  Database& db_;
  Uuid topic_;
  std::int32_t partition_;
  PartitionIterator it_;
  bool started_ = false;
  std::string error_;
};

std::int64_t record_timestamp(const RecordBatchHeader& h, const Record& r) {
  // Unsigned addition: deltas are the producer's and may be absurd.
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                   static_cast<std::uint64_t>(r.timestamp_delta));
}

}  // namespace

bool LogCleaner::Aborted::contains(std::int64_t producer_id, std::int64_t offset) const {
  auto it = by_producer.find(producer_id);
  if (it == by_producer.end()) return false;
  // Ranges of one producer are in offset order and do not overlap.
  const auto& ranges = it->second;
  auto r = std::upper_bound(ranges.begin(), ranges.end(), offset,
                            [](std::int64_t o, const Range& x) { return o < x.first; });
  if (r == ranges.begin()) return false;
  --r;
  return offset >= r->first && offset < r->marker;
}

LogCleaner::LogCleaner(Database& db, CleanerTask task, WriteChunk write,
                       const std::atomic<bool>& stop)
    : db_(db), task_(std::move(task)), write_(std::move(write)), stop_(stop) {}

bool LogCleaner::fail(std::string error) {
  if (result_.error.empty()) result_.error = std::move(error);
  return false;
}

CleanerResult LogCleaner::run() {
  const auto started = Clock::now();
  result_.cleaned_end = task_.first_dirty;
  LOG_INFO("cleaner", "%s: cleaning offsets [%lld, %lld), dirty from %lld", task_.name.c_str(),
           static_cast<long long>(task_.log_start), static_cast<long long>(task_.end),
           static_cast<long long>(task_.first_dirty));

  OffsetMap map(task_.map_bytes);
  Aborted aborted;
  std::int64_t end = task_.end;
  std::int64_t map_end = task_.first_dirty;
  if (task_.first_dirty < end) {
    bool txn_scanned = false;
    for (;;) {
      map.clear();
      ++result_.stats.map_passes;
      bool saw_txn_data = false;
      if (!build_map(end, txn_scanned ? &aborted : nullptr, map, map_end, saw_txn_data)) {
        break;
      }
      if (!saw_txn_data || txn_scanned) break;
      // Transactional data in the dirty section: learn which transactions
      // aborted (and where open ones bound the pass), then build the map
      // again without the aborted records.
      txn_scanned = true;
      if (!scan_transactions(end, aborted)) break;
      if (end <= task_.first_dirty) {
        map_end = task_.first_dirty;
        map.clear();
        break;
      }
    }
  }
  if (!result_.error.empty() || result_.aborted) return result_;
  result_.stats.map_entries = map.size();
  result_.stats.map_memory_bytes = map.memory_bytes();
  result_.stats.map_utilization = map.utilization();
  LOG_INFO("cleaner",
           "%s: offset map of %zu keys (%s, %.1f%% of log.cleaner.dedupe.buffer.size) "
           "covers [%lld, %lld) after reading %s",
           task_.name.c_str(), map.size(),
           human_bytes(static_cast<std::int64_t>(map.memory_bytes())).c_str(),
           100.0 * map.utilization(), static_cast<long long>(task_.first_dirty),
           static_cast<long long>(map_end), human_bytes(result_.stats.dirty_bytes_read).c_str());

  // With nothing dirty (a pass run for expired tombstones) the whole
  // cleanable range is cleaned against an empty map.
  const std::int64_t clean_end = task_.first_dirty < task_.end ? map_end : task_.end;
  if (!clean(clean_end, map, aborted)) return result_;
  result_.cleaned_end = std::max(clean_end, task_.first_dirty);
  auto& s = result_.stats;
  s.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const double reduction =
      s.bytes_before > 0
          ? 100.0 * (1.0 - static_cast<double>(s.bytes_after) / static_cast<double>(s.bytes_before))
          : 0.0;
  LOG_INFO("cleaner",
           "%s: cleaned [%lld, %lld) in %.3f s: %lld -> %lld bytes (%.1f%% smaller), %lld -> %lld "
           "records; "
           "%lld batches rewritten, %lld deleted; %lld tombstones, %lld aborted records, %lld "
           "markers removed; map %zu keys in %s",
           task_.name.c_str(), static_cast<long long>(task_.log_start),
           static_cast<long long>(result_.cleaned_end), s.seconds,
           static_cast<long long>(s.bytes_before), static_cast<long long>(s.bytes_after), reduction,
           static_cast<long long>(s.records_before), static_cast<long long>(s.records_after),
           static_cast<long long>(s.batches_rewritten), static_cast<long long>(s.batches_deleted),
           static_cast<long long>(s.tombstones_removed),
           static_cast<long long>(s.aborted_records_removed),
           static_cast<long long>(s.markers_removed), s.map_entries,
           human_bytes(static_cast<std::int64_t>(s.map_memory_bytes)).c_str());
  return result_;
}

bool LogCleaner::build_map(std::int64_t end, const Aborted* aborted, OffsetMap& map,
                           std::int64_t& map_end, bool& saw_txn_data) {
  BatchScan scan(db_, task_.topic, task_.partition, task_.first_dirty, end);
  std::vector<std::uint8_t> scratch;
  Bytes batch;
  RecordBatchHeader h;
  Record record;
  map_end = end;
  result_.stats.dirty_bytes_read = 0;
  while (scan.next(batch, h)) {
    if (stop_.load(std::memory_order_relaxed)) {
      result_.aborted = true;
      return false;
    }
    if (h.last_offset() < task_.first_dirty || h.is_control()) continue;
    result_.stats.dirty_bytes_read += static_cast<std::int64_t>(batch.size());
    if (h.is_transactional()) {
      saw_txn_data = true;
      if (aborted == nullptr) continue;  // the map is rebuilt once their fate is known
      if (aborted->contains(h.producer_id, h.base_offset)) continue;
    }
    Bytes records;
    RecordError e = batch_records(batch, h, scratch, records, task_.max_decompressed);
    RecordIterator it(records, e == RecordError::kNone ? h.record_count : 0);
    while (e == RecordError::kNone && it.next(record)) {
      const std::int64_t offset = h.base_offset + record.offset_delta;
      if (offset < task_.first_dirty || !record.key) continue;
      if (map.put(*record.key, offset)) continue;
      // Full: the pass ends before this batch. Keys of it that made it in
      // point at records the pass will not reach, which only removes older
      // versions of those keys a pass early; the newer records stay.
      if (h.base_offset <= task_.first_dirty) {
        return fail("cleaning " + task_.name + ": the batch at offset " +
                    std::to_string(h.base_offset) +
                    " has more keys than the cleaner's offset map holds: raise "
                    "log.cleaner.dedupe.buffer.size");
      }
      map_end = h.base_offset;
      return true;
    }
    if (e == RecordError::kNone) e = it.error();
    if (e == RecordError::kDecompressTooLarge) {
      return fail("cleaning " + task_.name + ": batch at offset " + std::to_string(h.base_offset) +
                  " decompresses to more than max_decompressed_batch_bytes");
    }
    if (e != RecordError::kNone) {
      return fail(db_.describe_damage("cleaning " + task_.name + ": batch at offset " +
                                      std::to_string(h.base_offset) + ": " + record_error_name(e)));
    }
  }
  if (!scan.error().empty()) return fail(scan.error());
  return true;
}

bool LogCleaner::scan_transactions(std::int64_t& end, Aborted& aborted) {
  // Producers with a transaction open at the current batch: first offset.
  std::map<std::int64_t, std::int64_t> open;
  BatchScan scan(db_, task_.topic, task_.partition, task_.first_dirty, task_.high_watermark);
  std::vector<std::uint8_t> scratch;
  Bytes batch;
  RecordBatchHeader h;
  Record record;
  // One entry per aborted transaction; past this many the pass is
  // shortened so that the list stays within the map's budget.
  const std::size_t max_ranges = std::max<std::size_t>(task_.map_bytes / 64, 1024);
  while (scan.next(batch, h)) {
    if (stop_.load(std::memory_order_relaxed)) {
      result_.aborted = true;
      return false;
    }
    if (h.last_offset() < task_.first_dirty) continue;
    const bool past_end = h.base_offset >= end;
    if (past_end && open.empty()) break;  // every transaction in range is resolved
    if (!h.is_transactional()) continue;
    if (!h.is_control()) {
      if (!past_end) open.emplace(h.producer_id, h.base_offset);  // keeps the first
      continue;
    }
    auto o = open.find(h.producer_id);
    if (o == open.end()) continue;  // a marker of an empty or earlier-cleaned transaction
    Bytes records;
    RecordError e = batch_records(batch, h, scratch, records, task_.max_decompressed);
    RecordIterator it(records, e == RecordError::kNone ? h.record_count : 0);
    ControlRecordKey key;
    bool abort = false;
    if (e == RecordError::kNone && it.next(record) &&
        parse_control_record_key(record.key, key) == RecordError::kNone) {
      abort = key.is_abort();
    }
    if (abort) {
      aborted.by_producer[h.producer_id].push_back({o->second, h.base_offset});
      if (++aborted.count >= max_ranges && !past_end) {
        // Enough for one pass: stop after this transaction.
        std::int64_t bound = h.base_offset;
        open.erase(o);
        for (const auto& [pid, first] : open) bound = std::min(bound, first);
        end = std::min(end, bound);
        return true;
      }
    }
    open.erase(o);
  }
  if (!scan.error().empty()) return fail(scan.error());
  // Transactions with no marker yet: nothing from their first offset on
  // may be cleaned (Kafka's last stable offset).
  for (const auto& [pid, first] : open) end = std::min(end, first);
  return true;
}

bool LogCleaner::flush(std::vector<BatchChange>& changes, std::size_t& pending_bytes) {
  if (changes.empty()) return true;
  std::string error = write_(std::move(changes));
  changes.clear();
  pending_bytes = 0;
  if (stop_.load(std::memory_order_relaxed)) {
    result_.aborted = true;
    return false;
  }
  if (!error.empty()) return fail("cleaning " + task_.name + ": " + error);
  return true;
}

bool LogCleaner::clean(std::int64_t end, const OffsetMap& map, const Aborted& aborted) {
  BatchScan scan(db_, task_.topic, task_.partition, 0, end);
  std::vector<std::uint8_t> scratch;
  std::vector<BatchChange> changes;
  std::size_t pending_bytes = 0;
  // Producers whose transactional data this pass has seen since their last
  // marker (Kafka's "ongoing" transactions of the cleaned range).
  std::unordered_map<std::int64_t, bool> txn_data_seen;
  auto& s = result_.stats;
  const std::int64_t now = task_.now_ms;
  const std::int64_t new_horizon = now + task_.delete_retention_ms;
  auto last_progress = Clock::now();
  Bytes batch;
  RecordBatchHeader h;
  Record record;

  while (scan.next(batch, h)) {
    if (stop_.load(std::memory_order_relaxed)) {
      result_.aborted = true;
      return false;
    }
    const auto size = static_cast<std::int64_t>(batch.size());
    s.bytes_before += size;
    s.records_before += h.record_count;
    auto remove = [&] {
      changes.push_back(BatchChange{h.base_offset, h.last_offset(), size, {}});
      ++s.batches_deleted;
    };
    auto keep_unchanged = [&] {
      s.bytes_after += size;
      s.records_after += h.record_count;
    };
    const bool has_horizon = h.has_delete_horizon();
    const std::int64_t horizon = h.base_timestamp;  // when has_horizon

    if (h.last_offset() < task_.log_start) {
      // Below the log start (DeleteRecords left it in its segment).
      remove();
    } else if (h.is_control()) {
      bool seen = false;
      if (auto it = txn_data_seen.find(h.producer_id); it != txn_data_seen.end()) {
        seen = it->second;
        txn_data_seen.erase(it);
      }
      // A marker may go once no data of its transaction is left (none was
      // seen in this pass: earlier passes removed it) and its horizon has
      // passed; an already emptied control batch always may.
      const bool can_discard = h.record_count == 0 || !seen;
      if (can_discard && has_horizon && horizon <= now) {
        remove();
        ++s.markers_removed;
      } else if (has_horizon || !h.is_transactional()) {
        keep_unchanged();
        if (has_horizon) result_.next_horizon_ms = std::min(result_.next_horizon_ms, horizon);
      } else {
        // First cleaning to see this marker: stamp its horizon.
        Bytes records;
        RecordError e = batch_records(batch, h, scratch, records, task_.max_decompressed);
        RecordBatchOptions o = RecordBatchOptions::from_header(h);  // a control batch
        o.delete_horizon_ms = new_horizon;
        if (h.timestamp_type() == TimestampType::kLogAppendTime) o.max_timestamp = h.max_timestamp;
        RecordBatchBuilder b(o);
        RecordIterator it(records, e == RecordError::kNone ? h.record_count : 0);
        while (e == RecordError::kNone && it.next(record)) {
          e = b.add_with_offset_delta(record.offset_delta, record_timestamp(h, record), record.key,
                                      record.value, record.headers);
        }
        if (e == RecordError::kNone) e = it.error();
        BatchChange c{h.base_offset, h.last_offset(), size, {}};
        if (e == RecordError::kNone) e = b.build(c.batch);
        if (e != RecordError::kNone) {
          return fail(db_.describe_damage("cleaning " + task_.name + ": control batch at offset " +
                                          std::to_string(h.base_offset) + ": " +
                                          record_error_name(e)));
        }
        s.bytes_after += static_cast<std::int64_t>(c.batch.size());
        s.records_after += h.record_count;
        ++s.batches_rewritten;
        pending_bytes += c.batch.size();
        changes.push_back(std::move(c));
        result_.next_horizon_ms = std::min(result_.next_horizon_ms, new_horizon);
      }
    } else if (h.is_transactional() && aborted.contains(h.producer_id, h.base_offset)) {
      // Aborted data: seen now and removed, so its marker stays one pass
      // longer (Kafka's rule).
      txn_data_seen[h.producer_id] = true;
      s.aborted_records_removed += h.record_count;
      remove();
    } else {
      if (h.is_transactional()) txn_data_seen[h.producer_id] = true;
      Bytes records;
      RecordError e = batch_records(batch, h, scratch, records, task_.max_decompressed);
      if (e == RecordError::kDecompressTooLarge) {
        return fail("cleaning " + task_.name + ": batch at offset " +
                    std::to_string(h.base_offset) +
                    " decompresses to more than max_decompressed_batch_bytes");
      }
      // First pass over the records: decide, without building anything
      // for the common case of a batch that stays as it is.
      std::vector<bool> keep;
      keep.reserve(static_cast<std::size_t>(std::max(h.record_count, 0)));
      bool tombstone_kept = false;
      std::int64_t kept = 0;
      RecordIterator it(records, e == RecordError::kNone ? h.record_count : 0);
      while (e == RecordError::kNone && it.next(record)) {
        const std::int64_t offset = h.base_offset + record.offset_delta;
        bool k = false;
        if (record.key) {
          const std::int64_t latest = map.get(*record.key);
          k = latest < 0 || offset >= latest;
          if (k && !record.value) {
            if (has_horizon && horizon <= now) {
              k = false;
              ++s.tombstones_removed;
            } else {
              tombstone_kept = true;
            }
          }
        }
        // Records without a key have no place in a compacted topic; Kafka's
        // cleaner drops them too.
        keep.push_back(k);
        kept += k ? 1 : 0;
      }
      if (e == RecordError::kNone) e = it.error();
      if (e != RecordError::kNone) {
        return fail(db_.describe_damage("cleaning " + task_.name + ": batch at offset " +
                                        std::to_string(h.base_offset) + ": " +
                                        record_error_name(e)));
      }
      const bool stamp = tombstone_kept && !has_horizon;
      if (kept == h.record_count && !stamp) {
        keep_unchanged();
        if (tombstone_kept) result_.next_horizon_ms = std::min(result_.next_horizon_ms, horizon);
      } else if (kept == 0) {
        remove();
      } else {
        RecordBatchOptions o = RecordBatchOptions::from_header(h);  // a data batch
        if (has_horizon) {
          o.delete_horizon_ms = horizon;
        } else if (stamp) {
          o.delete_horizon_ms = new_horizon;
        }
        if (h.timestamp_type() == TimestampType::kLogAppendTime) o.max_timestamp = h.max_timestamp;
        RecordBatchBuilder b(o);
        RecordIterator again(records, h.record_count);
        std::size_t i = 0;
        while (e == RecordError::kNone && again.next(record)) {
          if (keep[i++]) {
            e = b.add_with_offset_delta(record.offset_delta, record_timestamp(h, record),
                                        record.key, record.value, record.headers);
          }
        }
        BatchChange c{h.base_offset, h.last_offset(), size, {}};
        if (e == RecordError::kNone) e = b.build(c.batch);
        if (e != RecordError::kNone) {
          return fail("cleaning " + task_.name + ": rewriting the batch at offset " +
                      std::to_string(h.base_offset) + ": " + record_error_name(e));
        }
        s.bytes_after += static_cast<std::int64_t>(c.batch.size());
        s.records_after += kept;
        ++s.batches_rewritten;
        pending_bytes += c.batch.size();
        changes.push_back(std::move(c));
        if (tombstone_kept) {
          result_.next_horizon_ms =
              std::min(result_.next_horizon_ms, has_horizon ? horizon : new_horizon);
        }
      }
    }
    if (pending_bytes >= task_.chunk_bytes || changes.size() >= 4096) {
      if (!flush(changes, pending_bytes)) return false;
    }
    if (Clock::now() - last_progress > std::chrono::seconds(5)) {
      last_progress = Clock::now();
      LOG_INFO("cleaner", "%s: at offset %lld of %lld, %s read, %s kept", task_.name.c_str(),
               static_cast<long long>(h.last_offset()), static_cast<long long>(end),
               human_bytes(s.bytes_before).c_str(), human_bytes(s.bytes_after).c_str());
    }
  }
  if (!scan.error().empty()) return fail(scan.error());
  return flush(changes, pending_bytes);
}

}  // namespace kgw
