// The Store's background work: retention, the log cleaner's scheduling and
// the application of its changes, segment checkpoints. See "Retention and
// compaction" in store.h; the cleaning itself is log_cleaner.h.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "common/human_bytes.h"
#include "common/log.h"
#include "common/loop_poster.h"
#include "common/loop_timer.h"
#include "storage/database.h"
#include "storage/group_writer.h"
#include "storage/keys.h"
#include "storage/maintenance_thread.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace kgw {

using namespace store_detail;

namespace {

// A cleaner pass (maintenance thread) waiting for the loop thread to write
// one chunk of its changes.
class ChunkWait {
 public:
  void done(const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = error;
    done_ = true;
    cv_.notify_all();
  }
  // "" once written, the write's error, or "stopping" when the store stops
  // first (the loop thread may then never get to the chunk).
  std::string wait(const std::atomic<bool>& stopping) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      if (stopping.load()) return "storage is stopping";
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    return error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string error_;
};

}  // namespace

void Store::set_maintenance(const MaintenanceOptions& options) {
  maintenance_ = options;
  if (stopped_) return;
  start_maintenance();
}

void Store::start_maintenance() {
  retention_timer_->start(static_cast<std::uint64_t>(maintenance_.retention_check_interval_ms),
                          [this] { retention_round(); });
  if (maintenance_.cleaner_enabled) {
    cleaner_timer_->start(
        static_cast<std::uint64_t>(std::max<std::int64_t>(maintenance_.cleaner_backoff_ms, 1)),
        [this] { cleaner_round(); });
  } else {
    cleaner_timer_->stop();
  }
  checkpoint_timer_->start(static_cast<std::uint64_t>(maintenance_.checkpoint_interval_ms),
                           [this] { checkpoint_segments(false); });
}

void Store::check_retention_now() {
  if (!stopped_) retention_round();
}

void Store::run_cleaner_now() {
  if (!stopped_) cleaner_round();
}

// --- Retention.

void Store::retention_round() {
  const std::int64_t now = wall_ms();
  for (auto& [name, t] : by_name_) {
    if (!t->policy.delete_enabled) continue;
    for (std::int32_t p = 0; p < t->info.partitions; ++p) {
      const PartitionState& ps = t->partitions[static_cast<std::size_t>(p)];
      PartitionLog& pl = t->logs[static_cast<std::size_t>(p)];
      if (pl.truncating) continue;  // its segments change when the cut is known
      RetentionPlan plan = pl.segments.plan_retention(t->policy, now, ps.high_watermark);
      if (plan.count > 0) apply_retention(*t, p, plan);
    }
  }
}

void Store::apply_retention(TopicEntry& t, std::int32_t p, const RetentionPlan& plan) {
  PartitionState& ps = t.partitions[static_cast<std::size_t>(p)];
  PartitionLog& pl = t.logs[static_cast<std::size_t>(p)];
  const std::int64_t now = wall_ms();
  const std::int64_t old_start = ps.log_start_offset;
  std::string fresh_active;
  if (plan.includes_active) {
    // Every segment goes: roll first, so an (empty) active segment at the
    // log end offset stays, as Kafka rolls before deleting the last one.
    pl.segments.roll(ps.log_end_offset, now);
    fresh_active = encode_segment(pl.segments.active());
  }
  const std::int64_t removed = pl.segments.pop_front(plan.count, ps.log_end_offset, now);
  const std::int64_t new_start = std::max(ps.log_start_offset, pl.segments.segments().front().base);
  ps.log_start_offset = new_start;
  ps.size_bytes = pl.segments.bytes();
  ++retention_deletions_;
  LOG_INFO(
      "retention",
      "%s-%d: deleted %zu segment(s), %s, offsets [%lld, %lld) (%s%s%s); log "
      "start offset now %lld, %s left",
      t.info.name.c_str(), p, plan.count, human_bytes(removed).c_str(),
      static_cast<long long>(old_start), static_cast<long long>(new_start),
      plan.by_time ? ("retention.ms=" + std::to_string(t.policy.retention_ms)).c_str() : "",
      plan.by_time && plan.by_size ? ", " : "",
      plan.by_size ? ("retention.bytes=" + std::to_string(t.policy.retention_bytes)).c_str() : "",
      static_cast<long long>(new_start), human_bytes(ps.size_bytes).c_str());

  const Uuid topic = t.info.id;
  WriteOp op;
  op.bytes = 4 * keys::kEntryKeySize;
  op.apply = [d = db_.get(), topic, p, record = PartitionRecord{new_start, pl.cleaned_offset},
              first_segment = pl.segments.segments().front().base,
              fresh_active = std::move(fresh_active)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    rocksdb::Status s = delete_below(*d, topic, p, record, first_segment, b);
    if (s.ok() && !fresh_active.empty()) {
      s = b.Put(d->meta(), keys::meta_segment_key(topic, p, first_segment), fresh_active);
    }
    return s;
  };
  op.complete = [this, topic, p, new_start, name = t.info.name](const std::string& error) {
    if (!error.empty()) {
      LOG_ERROR("retention", "%s-%d: deleting below offset %lld failed: %s", name.c_str(), p,
                static_cast<long long>(new_start), error.c_str());
      return;
    }
    compact_range_later(topic, p, new_start);
  };
  writer_->submit(std::move(op));
}

void Store::compact_range_later(const Uuid& topic, std::int32_t partition, std::int64_t below) {
  if (stopped_) return;
  // DeleteRange writes one tombstone; the space comes back when RocksDB
  // compacts the range, which this asks for now rather than whenever the
  // files' turn comes.
  maintenance_thread_->post([d = db_.get(), topic, partition, below](const std::atomic<bool>&) {
    const std::string begin = keys::partition_begin(topic, partition);
    const std::string end = keys::log_key(topic, partition, below);
    rocksdb::Slice b(begin), e(end);
    rocksdb::CompactRangeOptions o;
    o.exclusive_manual_compaction = false;
    rocksdb::Status s = d->db().CompactRange(o, d->log(), &b, &e);
    if (!s.ok() && !s.IsIncomplete()) {
      LOG_WARN("retention", "compacting the deleted range failed: %s", s.ToString().c_str());
    }
  });
}

// --- The log cleaner.

void Store::cleaner_round() {
  if (!maintenance_.cleaner_enabled) return;
  for (auto& [name, t] : by_name_) {
    for (auto& pl : t->logs) {
      if (pl.cleaning) return;  // one pass at a time
    }
  }
  const std::int64_t now = wall_ms();
  TopicEntry* best = nullptr;
  std::int32_t best_p = -1;
  std::int64_t best_end = 0;
  double best_score = -1;
  for (auto& [name, t] : by_name_) {
    const LogPolicy& policy = t->policy;
    if (!policy.compact) continue;
    for (std::int32_t p = 0; p < t->info.partitions; ++p) {
      const PartitionState& ps = t->partitions[static_cast<std::size_t>(p)];
      PartitionLog& pl = t->logs[static_cast<std::size_t>(p)];
      if (now < pl.retry_after_ms || pl.truncating) continue;
      // The cleanable section ends below the active segment, the last
      // batch, what is not written yet, and records younger than
      // min.compaction.lag.ms.
      std::int64_t end =
          std::min({pl.segments.active().base, ps.high_watermark,
                    pl.last_batch_base < 0 ? ps.log_start_offset : pl.last_batch_base});
      const std::int64_t first_dirty = std::max(pl.cleaned_offset, ps.log_start_offset);
      if (policy.min_compaction_lag_ms > 0) {
        for (const Segment& s : pl.segments.segments()) {
          if (s.base >= end) break;
          if (s.end > first_dirty && s.retention_time() > now - policy.min_compaction_lag_ms) {
            end = std::min(end, std::max(s.base, first_dirty));
            break;
          }
        }
      }
      if (end <= ps.log_start_offset) continue;
      const std::int64_t dirty =
          end > first_dirty ? pl.segments.bytes_between(first_dirty, end) : 0;
      const std::int64_t clean = pl.segments.bytes_between(ps.log_start_offset, first_dirty);
      const double ratio =
          dirty + clean > 0 ? static_cast<double>(dirty) / static_cast<double>(dirty + clean) : 0;
      bool must = false;
      if (dirty > 0) {
        const Segment* first = pl.segments.containing(first_dirty) != nullptr
                                   ? pl.segments.containing(first_dirty)
                                   : &pl.segments.segments().front();
        must = now - first->created_ms > policy.max_compaction_lag_ms;
      }
      double score = -1;
      if (dirty > 0 && (ratio >= policy.min_cleanable_dirty_ratio || must)) {
        score = must ? 2.0 + ratio : ratio;
      } else if (pl.next_horizon_ms <= now) {
        score = 0;  // tombstones or markers whose horizon passed
      }
      if (score > best_score) {
        best = t.get();
        best_p = p;
        best_end = end;
        best_score = score;
      }
    }
  }
  if (best != nullptr) start_cleaning(*best, best_p, best_end, now);
}

void Store::start_cleaning(TopicEntry& t, std::int32_t p, std::int64_t end, std::int64_t now) {
  PartitionState& ps = t.partitions[static_cast<std::size_t>(p)];
  PartitionLog& pl = t.logs[static_cast<std::size_t>(p)];
  CleanerTask task;
  task.topic = t.info.id;
  task.partition = p;
  task.name = t.info.name + "-" + std::to_string(p);
  task.log_start = ps.log_start_offset;
  task.first_dirty = std::min(std::max(pl.cleaned_offset, ps.log_start_offset), end);
  task.end = end;
  task.high_watermark = ps.high_watermark;
  task.now_ms = now;
  task.delete_retention_ms = t.policy.delete_retention_ms;
  task.map_bytes = static_cast<std::size_t>(maintenance_.cleaner_dedupe_buffer_bytes);
  task.max_decompressed = options_.max_decompressed_batch_bytes;
  pl.cleaning = true;
  pl.cleaner_fence = kNoLimit;
  // A pass that finds nothing to do would otherwise run again each round.
  pl.next_horizon_ms = kNoLimit;

  const Uuid topic = t.info.id;
  const std::uint64_t incarnation = t.incarnation;
  bool queued = maintenance_thread_->post([this, task = std::move(task), topic, p,
                                           incarnation](const std::atomic<bool>& stopping) {
    LogCleaner::WriteChunk write = [this, topic, p, incarnation,
                                    &stopping](std::vector<BatchChange> changes) {
      auto wait = std::make_shared<ChunkWait>();
      poster_->post([this, topic, p, incarnation, changes = std::move(changes), wait]() mutable {
        apply_cleaner_chunk(topic, p, incarnation, std::move(changes),
                            [wait](const std::string& error) { wait->done(error); });
      });
      return wait->wait(stopping);
    };
    LogCleaner cleaner(*db_, task, std::move(write), stopping);
    CleanerResult result = cleaner.run();
    if (stopping.load()) return;
    poster_->post([this, topic, p, incarnation, result = std::move(result)] {
      finish_cleaning(topic, p, incarnation, result);
    });
  });
  if (!queued) pl.cleaning = false;
}

void Store::apply_cleaner_chunk(const Uuid& topic, std::int32_t partition,
                                std::uint64_t incarnation, std::vector<BatchChange> changes,
                                std::function<void(const std::string&)> written) {
  if (stopped_) return written(kStopped);
  TopicEntry* t = entry(topic);
  if (t == nullptr || t->incarnation != incarnation) return written("the topic was deleted");
  PartitionState* ps = mutable_partition(t, partition);
  PartitionLog* pl = mutable_log(t, partition);
  if (ps == nullptr || pl == nullptr) return written("unknown partition");
  // Rewrites of batches that DeleteRecords or retention removed meanwhile
  // are dropped: the write would bring them back. Deletes may stay, except
  // of batches a truncation removed: a new batch may have that offset now.
  std::vector<BatchChange> kept;
  kept.reserve(changes.size());
  std::vector<std::int64_t> touched;  // closed segments whose bytes changed
  std::size_t bytes = 0;
  for (auto& c : changes) {
    if (!c.batch.empty() && c.last_offset < ps->log_start_offset) continue;
    if (c.last_offset >= pl->cleaner_fence) continue;
    if (Segment* s = pl->segments.containing(c.base); s != nullptr && s->base <= c.base) {
      pl->segments.add_bytes(*s, static_cast<std::int64_t>(c.batch.size()) - c.old_size);
      if (touched.empty() || touched.back() != s->base) touched.push_back(s->base);
    }
    bytes += c.batch.size() + keys::kEntryKeySize;
    kept.push_back(std::move(c));
  }
  ps->size_bytes = pl->segments.bytes();
  std::vector<std::pair<std::int64_t, std::string>> records;
  for (std::int64_t base : touched) {
    if (Segment* s = pl->segments.find(base)) records.emplace_back(base, encode_segment(*s));
  }
  WriteOp op;
  op.bytes = bytes;
  op.apply = [d = db_.get(), topic, partition, kept = std::move(kept),
              records = std::move(records)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    for (const auto& c : kept) {
      const std::string key = keys::log_key(topic, partition, c.base);
      rocksdb::Status s = c.batch.empty()
                              ? b.Delete(d->log(), key)
                              : b.Put(d->log(), key,
                                      rocksdb::Slice(reinterpret_cast<const char*>(c.batch.data()),
                                                     c.batch.size()));
      if (!s.ok()) return s;
    }
    for (const auto& [base, value] : records) {
      rocksdb::Status s = b.Put(d->meta(), keys::meta_segment_key(topic, partition, base), value);
      if (!s.ok()) return s;
    }
    return rocksdb::Status::OK();
  };
  op.complete = [written = std::move(written)](const std::string& error) { written(error); };
  writer_->submit(std::move(op));
}

void Store::finish_cleaning(const Uuid& topic, std::int32_t partition, std::uint64_t incarnation,
                            const CleanerResult& result) {
  if (stopped_) return;
  TopicEntry* t = entry(topic);
  if (t == nullptr || t->incarnation != incarnation) return;
  PartitionState* ps = mutable_partition(t, partition);
  PartitionLog* pl = mutable_log(t, partition);
  if (ps == nullptr || pl == nullptr) return;
  pl->cleaning = false;
  if (result.aborted) return;
  if (!result.error.empty()) {
    ++cleaner_failures_;
    pl->retry_after_ms =
        wall_ms() + std::max<std::int64_t>(10 * maintenance_.cleaner_backoff_ms, 60000);
    LOG_ERROR("cleaner", "%s-%d: %s; retrying in a minute or more", t->info.name.c_str(), partition,
              result.error.c_str());
    return;
  }
  ++cleaner_passes_;
  last_cleaning_ = result.stats;
  pl->cleaned_offset =
      std::max(pl->cleaned_offset, std::min(result.cleaned_end, ps->log_end_offset));
  pl->next_horizon_ms = result.next_horizon_ms;
  // Segments the pass shrank are merged up to segment.bytes, as Kafka's
  // cleaner groups them, so the count stays proportional to the data.
  std::vector<std::int64_t> gone =
      pl->segments.merge_small(ps->log_start_offset, pl->cleaned_offset, t->policy.segment_bytes);
  std::vector<std::pair<std::int64_t, std::string>> records;
  if (!gone.empty()) {
    for (const Segment& s : pl->segments.segments()) {
      if (s.end > pl->cleaned_offset) break;
      records.emplace_back(s.base, encode_segment(s));
    }
  }
  WriteOp op;
  op.bytes = 64 * (records.size() + gone.size() + 1);
  op.apply = [d = db_.get(), topic, partition,
              record = PartitionRecord{ps->log_start_offset, pl->cleaned_offset},
              gone = std::move(gone),
              records = std::move(records)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    rocksdb::Status s =
        b.Put(d->meta(), keys::meta_partition_key(topic, partition), encode_partition(record));
    for (std::int64_t base : gone) {
      if (s.ok()) s = b.Delete(d->meta(), keys::meta_segment_key(topic, partition, base));
    }
    for (const auto& [base, value] : records) {
      if (s.ok()) s = b.Put(d->meta(), keys::meta_segment_key(topic, partition, base), value);
    }
    return s;
  };
  op.complete = [](const std::string&) {};
  writer_->submit(std::move(op));
}

// --- Checkpoints of the active segments.

void Store::checkpoint_segments(bool all) {
  for (auto& [name, t] : by_name_) {
    for (std::int32_t p = 0; p < t->info.partitions; ++p) {
      PartitionLog& pl = t->logs[static_cast<std::size_t>(p)];
      if (!pl.checkpoint_due && !all) continue;
      pl.checkpoint_due = false;
      const Segment& a = pl.segments.active();
      WriteOp op;
      op.bytes = 64;
      op.apply = [meta = db_->meta(), key = keys::meta_segment_key(t->info.id, p, a.base),
                  value = encode_segment(a)](rocksdb::DB&, rocksdb::WriteBatch& b) {
        return b.Put(meta, key, value);
      };
      op.complete = [](const std::string&) {};
      writer_->submit(std::move(op));
    }
  }
}

}  // namespace kgw
