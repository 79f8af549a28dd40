// Store, a follower's truncations: truncate_to (Kafka's Log.truncateTo) and
// reset_log (truncateFullyAndStartAt). See store.h, "A follower's log".
//
// truncate_to is two writes through the writer. The first runs alone, after
// every earlier group is written, and only reads: the batch straddling the
// cut (which may have been appended just before the call), the last batch
// left, the bytes the cut removes from the segment it falls in, and the time
// index entries at or above it. Its completion, on the loop, updates memory
// and queues the second: the removal, one WriteBatch. Between the two the
// partition refuses appends, DeleteRecords, retention and new cleaner passes,
// so nothing the lookup saw changes except what a running cleaner pass
// rewrites below the cut.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "protocol/records/record_batch.h"
#include "storage/database.h"
#include "storage/group_writer.h"
#include "storage/keys.h"
#include "storage/meta_codec.h"
#include "storage/partition_iterator.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace kgw {

using namespace store_detail;

// What the lookup write found (writer thread), for the loop to act on.
struct TruncationLookup {
  std::int64_t new_end = -1;
  std::int64_t last_batch_base = -1;  // of the batches left; -1: none
  // Bytes of removed batches in the segment the cut falls inside (0 when
  // it falls on a segment's base).
  std::int64_t removed_in_cut = 0;
  // The last time index entry left: the largest timestamp left, and the
  // offset of the batch that reached it.
  std::int64_t max_timestamp = kNoTimestamp;
  std::int64_t max_at = -1;
  // Time index entries from this timestamp on go (their batches do).
  std::optional<std::int64_t> first_removed_ts;
};

namespace {

rocksdb::Status find_cut(Database& d, const Uuid& topic, std::int32_t partition,
                         std::int64_t offset, const std::vector<std::int64_t>& segment_bases,
                         TruncationLookup& out) {
  out.new_end = offset;
  PartitionIterator it(d, d.log(), topic, partition);
  it->SeekForPrev(keys::log_key(topic, partition, offset));
  if (it->Valid()) {
    RecordBatchHeader h;
    std::string why;
    const std::int64_t key_offset = keys::log_key_offset(it->key().ToStringView());
    if (!parse_batch(bytes_of(it->value()), h, why)) {
      return rocksdb::Status::Corruption(where(topic, partition, key_offset), why);
    }
    if (h.last_offset() >= offset) {
      out.new_end = h.base_offset;  // the straddling batch goes whole
      it->Prev();
    }
    if (it->Valid()) out.last_batch_base = keys::log_key_offset(it->key().ToStringView());
  }
  if (!it->status().ok()) return it->status();

  if (!std::binary_search(segment_bases.begin(), segment_bases.end(), out.new_end)) {
    auto next = std::upper_bound(segment_bases.begin(), segment_bases.end(), out.new_end);
    const std::int64_t limit = next == segment_bases.end() ? kNoLimit : *next;
    for (it->Seek(keys::log_key(topic, partition, out.new_end)); it->Valid(); it->Next()) {
      if (keys::log_key_offset(it->key().ToStringView()) >= limit) break;
      out.removed_in_cut += static_cast<std::int64_t>(it->value().size());
    }
    if (!it->status().ok()) return it->status();
  }

  // Entries mark each new maximum, so their offsets grow with their
  // timestamps: those of removed batches are the last ones.
  PartitionIterator ti(d, d.timeindex(), topic, partition);
  for (ti->SeekToLast(); ti->Valid(); ti->Prev()) {
    if (ti->value().size() != 8) {
      return rocksdb::Status::Corruption(where(topic, partition, offset),
                                         "time index entry is not 8 bytes");
    }
    const std::int64_t ts = keys::time_key_timestamp(ti->key().ToStringView());
    const std::int64_t base = keys::get_i64(ti->value().data());
    if (base < out.new_end) {
      out.max_timestamp = ts;
      out.max_at = base;
      break;
    }
    out.first_removed_ts = ts;
  }
  return ti->status();
}

// Writer thread, the end of both removals: the record of the active
// segment left, the partition record, and the producer state to match.
rocksdb::Status put_what_stays(Database& d, const Uuid& topic, std::int32_t partition,
                               std::int64_t active_base, const std::string& active,
                               const PartitionRecord& record,
                               const std::vector<RecordWrite>& producer_writes,
                               rocksdb::WriteBatch& b) {
  rocksdb::Status s =
      b.Put(d.meta(), keys::meta_segment_key(topic, partition, active_base), active);
  if (s.ok()) {
    s = b.Put(d.meta(), keys::meta_partition_key(topic, partition), encode_partition(record));
  }
  if (s.ok()) s = put_records(d.producers(), producer_writes, b);
  return s;
}

}  // namespace

Store::PartitionLog* Store::truncatable(const Uuid& topic, std::int32_t partition,
                                        PartitionState*& ps, Done& done) {
  if (stopped_) {
    done(kStopped);
    return nullptr;
  }
  TopicEntry* t = entry(topic);
  ps = mutable_partition(t, partition);
  PartitionLog* pl = mutable_log(t, partition);
  std::string error;
  if (ps == nullptr || pl == nullptr) {
    error = "unknown topic or partition";
  } else if (pl->truncating) {
    error = "a truncation of this partition is in progress";
  } else {
    return pl;
  }
  post([done = std::move(done), error] { done(error); });
  return nullptr;
}

void Store::truncate_to(const Uuid& topic, std::int32_t partition, std::int64_t offset, Done done,
                        TruncateWrites more) {
  PartitionState* ps = nullptr;
  PartitionLog* pl = truncatable(topic, partition, ps, done);
  if (pl == nullptr) return;
  if (offset >= ps->log_end_offset) return post([done = std::move(done)] { done(""); });
  if (offset < ps->log_start_offset) {
    std::vector<RecordWrite> writes = more ? more(offset) : std::vector<RecordWrite>{};
    return reset_log(topic, partition, offset, std::move(done), std::move(writes));
  }
  pl->truncating = true;
  ps->log_end_offset = offset;
  ps->high_watermark = std::min(ps->high_watermark, offset);
  pl->cleaner_fence = std::min(pl->cleaner_fence, offset);

  std::vector<std::int64_t> bases;
  for (const Segment& s : pl->segments.segments()) bases.push_back(s.base);
  auto found = std::make_shared<TruncationLookup>();
  WriteOp op;
  op.bytes = keys::kEntryKeySize;
  op.alone = true;
  op.apply = [d = db_.get(), topic, partition, offset, bases = std::move(bases), found](
                 rocksdb::DB&, rocksdb::WriteBatch&) {
    return find_cut(*d, topic, partition, offset, bases, *found);
  };
  // The writer hands `found` over with the completion (through the
  // poster's queue), after apply has filled it.
  op.complete = [this, topic, partition, incarnation = entry(topic)->incarnation, found,
                 done = std::move(done), more = std::move(more)](const std::string& error) mutable {
    finish_truncation(topic, partition, incarnation, *found, error, std::move(done),
                      std::move(more));
  };
  writer_->submit(std::move(op));
}

void Store::finish_truncation(const Uuid& topic, std::int32_t partition, std::uint64_t incarnation,
                              const TruncationLookup& found, const std::string& error, Done done,
                              TruncateWrites more) {
  TopicEntry* t = entry(topic);
  if (t == nullptr || t->incarnation != incarnation) return done("the topic was deleted");
  PartitionState* ps = mutable_partition(t, partition);
  PartitionLog* pl = mutable_log(t, partition);
  pl->truncating = false;
  if (!error.empty()) return done(error);
  // Stopping: the removal is not queued, so none of it happens.
  if (stopped_) return done(kStopped);

  const std::int64_t end = found.new_end;
  ps->log_end_offset = end;
  ps->high_watermark = std::min(ps->high_watermark, end);
  ps->log_start_offset = std::min(ps->log_start_offset, end);
  ps->max_timestamp = found.max_timestamp;
  pl->cleaner_fence = std::min(pl->cleaner_fence, end);
  pl->last_batch_base = found.last_batch_base;
  pl->cleaned_offset = std::min(pl->cleaned_offset, end);
  std::vector<std::int64_t> gone = pl->segments.truncate(
      end, found.removed_in_cut, found.max_timestamp, found.max_at, wall_ms());
  ps->size_bytes = pl->segments.bytes();
  pl->checkpoint_due = false;
  std::vector<std::int32_t> epochs_gone;
  for (auto it = pl->epochs.begin(); it != pl->epochs.end();) {
    if (it->second >= end) {
      epochs_gone.push_back(it->first);
      it = pl->epochs.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<RecordWrite> producer_writes = more ? more(end) : std::vector<RecordWrite>{};

  WriteOp op;
  op.bytes = 4 * keys::kEntryKeySize;
  op.apply = [d = db_.get(), topic, partition, end, first_removed_ts = found.first_removed_ts,
              gone = std::move(gone), epochs_gone = std::move(epochs_gone),
              active_base = pl->segments.active().base,
              active = encode_segment(pl->segments.active()),
              record = PartitionRecord{ps->log_start_offset, pl->cleaned_offset},
              producer_writes = std::move(producer_writes)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    const std::string upper = keys::partition_end(topic, partition);
    rocksdb::Status s = b.DeleteRange(d->log(), keys::log_key(topic, partition, end), upper);
    if (s.ok() && first_removed_ts) {
      s = b.DeleteRange(d->timeindex(), keys::time_key(topic, partition, *first_removed_ts), upper);
    }
    for (std::int64_t base : gone) {
      if (s.ok()) s = b.Delete(d->meta(), keys::meta_segment_key(topic, partition, base));
    }
    for (std::int32_t epoch : epochs_gone) {
      if (s.ok()) s = b.Delete(d->meta(), keys::meta_epoch_key(topic, partition, epoch));
    }
    if (!s.ok()) return s;
    return put_what_stays(*d, topic, partition, active_base, active, record, producer_writes, b);
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::reset_log(const Uuid& topic, std::int32_t partition, std::int64_t start_offset,
                      Done done, std::vector<RecordWrite> producer_writes) {
  PartitionState* ps = nullptr;
  PartitionLog* pl = truncatable(topic, partition, ps, done);
  if (pl == nullptr) return;
  if (start_offset < 0) {
    return post([done = std::move(done), start_offset] {
      done("log start offset " + std::to_string(start_offset) + " is negative");
    });
  }
  ps->log_start_offset = start_offset;
  ps->log_end_offset = start_offset;
  ps->high_watermark = start_offset;
  ps->max_timestamp = kNoTimestamp;
  pl->segments.reset(start_offset, wall_ms());
  ps->size_bytes = 0;
  pl->epochs.clear();
  pl->last_batch_base = -1;
  pl->cleaned_offset = start_offset;
  // A running pass's changes are all to the old log.
  pl->cleaner_fence = std::numeric_limits<std::int64_t>::min();
  pl->checkpoint_due = false;

  WriteOp op;
  op.bytes = 4 * keys::kEntryKeySize;
  op.apply = [d = db_.get(), topic, partition, start_offset,
              active = encode_segment(pl->segments.active()),
              record = PartitionRecord{start_offset, start_offset},
              producer_writes = std::move(producer_writes)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    const std::string lower = keys::partition_begin(topic, partition);
    const std::string upper = keys::partition_end(topic, partition);
    rocksdb::Status s = b.DeleteRange(d->log(), lower, upper);
    if (s.ok()) s = b.DeleteRange(d->timeindex(), lower, upper);
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_segments_begin(topic, partition),
                        keys::meta_segments_end(topic, partition));
    }
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_epochs_begin(topic, partition),
                        keys::meta_epochs_end(topic, partition));
    }
    if (!s.ok()) return s;
    return put_what_stays(*d, topic, partition, start_offset, active, record, producer_writes, b);
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

}  // namespace kgw
