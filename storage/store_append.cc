// Store, appends and writes: assigning offsets and queueing batches for the
// writer, moving the high watermark when they are written, DeleteRecords,
// and the keyed records of other families (see store.h).
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "protocol/records/record_batch.h"
#include "storage/database.h"
#include "storage/group_writer.h"
#include "storage/keys.h"
#include "storage/meta_codec.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace kgw {

using namespace store_detail;

namespace {

void put_be64(std::uint8_t* p, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(u);
    u >>= 8;
  }
}

}  // namespace

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
  append_batches(topic, partition, std::move(batches), std::move(owner), std::move(done),
                 std::move(producer_writes), false);
}

void Store::append_replica(const Uuid& topic, std::int32_t partition,
                           std::vector<std::span<std::uint8_t>> batches,
                           std::shared_ptr<const void> owner,
                           std::function<void(AppendResult)> done,
                           std::vector<RecordWrite> producer_writes) {
  append_batches(topic, partition, std::move(batches), std::move(owner), std::move(done),
                 std::move(producer_writes), true);
}

void Store::append_batches(const Uuid& topic, std::int32_t partition,
                           std::vector<std::span<std::uint8_t>> batches,
                           std::shared_ptr<const void> owner,
                           std::function<void(AppendResult)> done,
                           std::vector<RecordWrite> producer_writes, bool replica) {
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
  PartitionLog* pl = mutable_log(t, partition);
  if (pl->truncating) return fail("a truncation of this partition is in progress");
  if (replica) {
    // The leader's offsets, kept: each batch must start past the log end
    // and past the batch before it.
    std::int64_t next = ps->log_end_offset;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      if (headers[i].base_offset < next) {
        return fail("replica append batch " + std::to_string(i) + ": base offset " +
                    std::to_string(headers[i].base_offset) + " is below " +
                    (i == 0 ? "the log end offset " : "the end of the batch before, ") +
                    std::to_string(next));
      }
      next = headers[i].last_offset() + 1;
    }
  }
  if (batches.empty()) {
    return post([done = std::move(done), leo = ps->log_end_offset, lso = ps->log_start_offset] {
      done(AppendResult{"", leo, lso});
    });
  }

  if (pl->stamp_epoch >= 0 && !replica) {
    for (std::size_t i = 0; i < batches.size(); ++i) {
      set_partition_leader_epoch(batches[i], pl->stamp_epoch);
      headers[i].partition_leader_epoch = pl->stamp_epoch;
    }
  }
  const std::int64_t now = wall_ms();
  const std::int64_t base = replica ? headers[0].base_offset : ps->log_end_offset;
  std::vector<std::int64_t> offsets;
  offsets.reserve(batches.size());
  std::vector<std::pair<std::int64_t, std::int64_t>> index;  // (max timestamp, base offset)
  // Segment records to write with this append: those it rolled, and the
  // new active segment.
  std::vector<std::pair<std::int64_t, std::string>> segment_records;
  std::vector<std::pair<std::int32_t, std::int64_t>> new_epochs;  // (epoch, start offset)
  for (std::size_t i = 0; i < batches.size(); ++i) {
    std::int64_t offset = replica ? headers[i].base_offset : ps->log_end_offset;
    const std::int32_t epoch = headers[i].partition_leader_epoch;
    if (epoch >= 0 && (pl->epochs.empty() || epoch > pl->epochs.rbegin()->first)) {
      pl->epochs.emplace(epoch, offset);
      new_epochs.emplace_back(epoch, offset);
    }
    const auto size = static_cast<std::int64_t>(batches[i].size());
    if (pl->segments.should_roll(size, now, t->policy)) {
      Segment closed = pl->segments.roll(offset, now);
      segment_records.emplace_back(closed.base, encode_segment(closed));
    }
    if (!replica) put_be64(batches[i].data() + RecordBatchHeader::kBaseOffsetAt, offset);
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
              segment_records = std::move(segment_records), new_epochs = std::move(new_epochs),
              producer_writes = std::move(producer_writes)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    rocksdb::Status ps = put_records(d->producers(), producer_writes, b);
    if (!ps.ok()) return ps;
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
    for (const auto& [epoch, start] : new_epochs) {
      rocksdb::Status s =
          b.Put(d->meta(), keys::meta_epoch_key(topic, partition, epoch), keys::encode_i64(start));
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
  // Completions arrive in submission order, which is offset order. An
  // append queued before a truncation ends above the truncated log end:
  // the watermark stays at or below that.
  end = std::min(end, ps->log_end_offset);
  if (end > ps->high_watermark) {
    ps->high_watermark = end;
    to_notify_.emplace_back(topic, partition);
  }
  return ps->log_start_offset;
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
  PartitionLog* pl = mutable_log(t, partition);
  if (pl->truncating) {
    return post(
        [done = std::move(done)] { done("a truncation of this partition is in progress"); });
  }
  ps->log_start_offset = offset;
  // Segments wholly below go; the one holding the new log start stays.
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

void Store::set_leader_epoch(const Uuid& topic, std::int32_t partition, std::int32_t epoch) {
  if (PartitionLog* pl = mutable_log(entry(topic), partition)) pl->stamp_epoch = epoch;
}

Store::EpochEnd Store::end_offset_for_epoch(const Uuid& topic, std::int32_t partition,
                                            std::int32_t epoch) const {
  TopicEntry* t = entry(topic);
  const PartitionState* ps = mutable_partition(t, partition);
  const PartitionLog* pl = mutable_log(t, partition);
  if (ps == nullptr || pl == nullptr || epoch < 0 || pl->epochs.empty()) return {};
  const auto& epochs = pl->epochs;
  if (epoch == epochs.rbegin()->first) return {epoch, ps->high_watermark};
  auto higher = epochs.upper_bound(epoch);
  if (higher == epochs.end()) return {};
  if (higher == epochs.begin()) return {epoch, higher->second};
  return {std::prev(higher)->first, higher->second};
}

std::map<std::int32_t, std::int64_t> Store::leader_epochs(const Uuid& topic,
                                                          std::int32_t partition) const {
  const PartitionLog* pl = mutable_log(entry(topic), partition);
  return pl != nullptr ? pl->epochs : std::map<std::int32_t, std::int64_t>{};
}

rocksdb::Status store_detail::put_records(rocksdb::ColumnFamilyHandle* cf,
                                          const std::vector<RecordWrite>& writes,
                                          rocksdb::WriteBatch& b) {
  for (const auto& w : writes) {
    rocksdb::Status s = w.value ? b.Put(cf, w.key, *w.value) : b.Delete(cf, w.key);
    if (!s.ok()) return s;
  }
  return rocksdb::Status::OK();
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
                 rocksdb::DB&, rocksdb::WriteBatch& b) { return put_records(cf, writes, b); };
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

}  // namespace kgw
