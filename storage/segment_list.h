// A partition's segments: kgw's version of Kafka's log segments.
//
// Kafka keeps a partition as a sequence of segment files; the last one is
// active (appends go there) and rolls when it would grow past segment.bytes
// or is older than segment.ms. Retention deletes whole segments from the
// front, and the log cleaner compacts only rolled segments. kgw keeps its
// batches in RocksDB under their offsets, so here a segment is only an
// accounting record: a range of offsets [base, end) with the bytes of its
// batches, its largest timestamp and its age. That gives retention.bytes,
// retention.ms, segment.bytes, segment.ms and the cleaner's dirty ratio
// Kafka's exact meaning without reading any data, and makes retention a
// decision in memory plus one DeleteRange.
//
// Plain data and pure functions, used on the loop thread only; the store
// persists each segment as a meta record (keys.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "storage/log_policy.h"
#include "storage/topic_info.h"

namespace kgw {

struct Segment {
  // First offset; the segment's key. Batches below the log start may stay
  // in the first segment (DeleteRecords deletes whole batches and keeps
  // the segment, as Kafka keeps the file).
  std::int64_t base = 0;
  // One past the last offset of its batches (for the active segment:
  // including appends still being written).
  std::int64_t end = 0;
  // Bytes of its batches, as Kafka's segment size. After DeleteRecords
  // removed batches from the front of a segment they still count, as in
  // Kafka, until the segment goes or the cleaner rewrites it.
  std::int64_t bytes = 0;
  // Largest batch max_timestamp (kNoTimestamp if none).
  std::int64_t max_timestamp = kNoTimestamp;
  // Wall clock (ms) when it became the active segment: segment.ms.
  std::int64_t created_ms = 0;
  // Wall clock (ms) of its last append: the age of data without
  // timestamps (Kafka uses the file's modification time).
  std::int64_t last_append_ms = 0;

  bool empty() const { return bytes == 0; }
  // What retention.ms is measured against.
  std::int64_t retention_time() const {
    return max_timestamp >= 0 ? max_timestamp : last_append_ms;
  }
};

// Leading segments retention would delete now, and why.
struct RetentionPlan {
  std::size_t count = 0;         // segments from the front
  std::int64_t bytes = 0;        // their bytes
  bool by_time = false;          // retention.ms took some
  bool by_size = false;          // retention.bytes took some
  bool includes_active = false;  // every segment: roll first
};

class SegmentList {
 public:
  // One empty active segment at `base`.
  void reset(std::int64_t base, std::int64_t now_ms);
  // Replaces the list (load); must not be empty, in offset order.
  void assign(std::deque<Segment> segments);

  const std::deque<Segment>& segments() const { return segs_; }
  const Segment& active() const { return segs_.back(); }
  std::int64_t bytes() const { return bytes_; }

  // Whether an append of `size` bytes at `now_ms` rolls the active
  // segment first (Kafka's rule: the active segment is not empty and
  // would grow past segment.bytes, or is older than segment.ms).
  bool should_roll(std::int64_t size, std::int64_t now_ms, const LogPolicy& policy) const;
  // Closes the active segment and opens an empty one at `base` (the log
  // end offset). Returns the closed segment.
  Segment roll(std::int64_t base, std::int64_t now_ms);
  // Accounts one appended batch [offset, end) to the active segment.
  void on_append(std::int64_t end, std::int64_t size, std::int64_t max_timestamp,
                 std::int64_t now_ms);

  // Kafka's retention rules (time, then size), on segments wholly below
  // the high watermark; the active segment only if every segment goes.
  RetentionPlan plan_retention(const LogPolicy& policy, std::int64_t now_ms,
                               std::int64_t high_watermark) const;
  // Segments wholly below `offset` (end <= offset): what DeleteRecords
  // deletes.
  std::size_t count_below(std::int64_t offset) const;
  // Removes the first `n` segments; if none would remain, an empty active
  // segment at `next_base` does. Returns the bytes removed.
  std::int64_t pop_front(std::size_t n, std::int64_t next_base, std::int64_t now_ms);

  // A truncation of the log to `end`: the segments starting at or above
  // it go, the last one left becomes the active segment, ending at `end`
  // and `removed_bytes` (its batches at or above `end`) smaller; if none is
  // left, an empty active segment at `end`. Its max timestamp becomes
  // `max_timestamp` (the largest of the batches left, first reached at
  // offset `max_at`) if `max_at` lies in it, else the smaller of the two.
  // Returns the bases removed.
  std::vector<std::int64_t> truncate(std::int64_t end, std::int64_t removed_bytes,
                                     std::int64_t max_timestamp, std::int64_t max_at,
                                     std::int64_t now_ms);

  // The segment holding `offset` (base <= offset < next base), or nullptr.
  Segment* containing(std::int64_t offset);
  // The segment with this base, or nullptr.
  Segment* find(std::int64_t base);
  // Changes a segment's bytes (the cleaner rewrote some of its batches).
  void add_bytes(Segment& s, std::int64_t delta);
  // Bytes of the segments overlapping [from, to).
  std::int64_t bytes_between(std::int64_t from, std::int64_t to) const;

  // Merges runs of adjacent closed segments inside [from, to) whose bytes
  // together fit in `max_bytes` (Kafka's cleaner groups small segments the
  // same way). Returns the bases of the segments that disappeared; the
  // segment a run merged into keeps the first base and gets the others'
  // ranges.
  std::vector<std::int64_t> merge_small(std::int64_t from, std::int64_t to, std::int64_t max_bytes);

 private:
  std::deque<Segment> segs_;
  std::int64_t bytes_ = 0;
};

}  // namespace kgw
