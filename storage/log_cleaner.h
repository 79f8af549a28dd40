// The log cleaner: one compaction pass over one partition (Kafka's
// LogCleaner, cleanup.policy=compact), run on the store's maintenance
// thread.
//
// The happy path is:
//  1. Offset map: read the dirty section [first dirty, end) and record, per
//     key, the offset of its latest record (OffsetMap, bounded by
//     log.cleaner.dedupe.buffer.size; if it fills, the pass stops at the
//     batch where it did and the rest waits for the next pass).
//  2. Clean: read everything from the start of the log to where the map
//     ends and keep a record only if it is the latest for its key. Batches
//     keep their base offset and last offset delta (offsets are preserved;
//     gaps appear where records went, as in Kafka); a batch that loses
//     records is rewritten with the same codec, producer fields and
//     timestamp type; one that loses all of them is deleted. Changes are
//     written in chunks through `write` (the store's writer), each waited
//     for, so memory stays bounded by one chunk and one batch.
//  3. The store moves its cleaner checkpoint to the end of the pass.
//
// Tombstones (null values) and transaction markers are kept on the first
// cleaning that sees them and stamped with a delete horizon (KIP-534:
// batch attribute bit 6, base timestamp = now + delete.retention.ms); a
// later cleaning after the horizon drops them, so consumers have
// delete.retention.ms to see a delete.
//
// Transactions, from the log alone as Kafka's cleaner does: a
// transactional batch whose producer's transaction ends in an ABORT marker
// is aborted data and goes; a COMMIT or ABORT marker goes once no batch of
// its transaction is left and its horizon has passed. Transactions are
// found only when the dirty section holds transactional data (a third read
// of it then); one still open (no marker up to the high watermark) bounds
// the pass below its first offset, as Kafka's last stable offset does.
//
// Possible failure modes: a damaged batch or a RocksDB error (the pass
// stops with an error; what was written stays, and is consistent, since
// each chunk is atomic), the store stopping (the pass stops, `aborted`),
// a single batch with more records than the map holds (error naming
// log.cleaner.dedupe.buffer.size). Never touched: anything at or above
// `end`, which the store sets below the active segment, the last batch and
// records younger than min.compaction.lag.ms.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "protocol/wire/types.h"
#include "storage/log_policy.h"
#include "storage/offset_map.h"

namespace kgw {

class Database;

struct CleanerTask {
  Uuid topic;
  std::int32_t partition = 0;
  std::string name;  // "topic-partition", for logs
  std::int64_t log_start = 0;
  // The cleaner checkpoint (>= log_start): records below were cleaned by
  // an earlier pass and do not go into the map.
  std::int64_t first_dirty = 0;
  // Where the cleanable section ends: a batch base offset; nothing at or
  // above it is read into the map or changed.
  std::int64_t end = 0;
  // How far to look for the markers of transactions open at `end`.
  std::int64_t high_watermark = 0;
  std::int64_t now_ms = 0;
  std::int64_t delete_retention_ms = 86400000;
  std::size_t map_bytes = 128u << 20;
  std::size_t max_decompressed = 64u << 20;
  // Roughly how many bytes of changes to write at once.
  std::size_t chunk_bytes = 4u << 20;
};

// One batch the pass changes: rewritten (`batch` holds the new bytes) or
// deleted (`batch` empty).
struct BatchChange {
  std::int64_t base = 0;
  std::int64_t last_offset = 0;
  std::int64_t old_size = 0;
  std::vector<std::uint8_t> batch;
};

struct CleanerStats {
  std::int64_t bytes_before = 0;  // batches in the cleaned range, before
  std::int64_t bytes_after = 0;   // ... and after
  std::int64_t records_before = 0;
  std::int64_t records_after = 0;
  std::int64_t dirty_bytes_read = 0;  // offset map input
  std::int64_t batches_rewritten = 0;
  std::int64_t batches_deleted = 0;
  std::int64_t tombstones_removed = 0;
  std::int64_t aborted_records_removed = 0;
  std::int64_t markers_removed = 0;
  std::size_t map_entries = 0;
  std::size_t map_memory_bytes = 0;
  double map_utilization = 0;
  int map_passes = 0;
  double seconds = 0;
};

struct CleanerResult {
  std::string error;     // "" on success
  bool aborted = false;  // the store is stopping
  // The new cleaner checkpoint: the end of the range cleaned.
  std::int64_t cleaned_end = 0;
  // Earliest delete horizon still pending in the cleaned range (a later
  // pass may drop tombstones or markers then); kNoLimit if none.
  std::int64_t next_horizon_ms = kNoLimit;
  CleanerStats stats;
};

class LogCleaner {
 public:
  // Writes one chunk of changes and waits for it; "" or why not.
  using WriteChunk = std::function<std::string(std::vector<BatchChange>)>;

  LogCleaner(Database& db, CleanerTask task, WriteChunk write, const std::atomic<bool>& stop);
  CleanerResult run();

 private:
  // Aborted transactions by producer id: [first offset, marker offset).
  struct Aborted {
    struct Range {
      std::int64_t first;
      std::int64_t marker;
    };
    std::map<std::int64_t, std::vector<Range>> by_producer;
    std::size_t count = 0;
    bool contains(std::int64_t producer_id, std::int64_t offset) const;
  };
  bool build_map(std::int64_t end, const Aborted* aborted, OffsetMap& map, std::int64_t& map_end,
                 bool& saw_txn_data);
  bool scan_transactions(std::int64_t& end, Aborted& aborted);
  bool clean(std::int64_t end, const OffsetMap& map, const Aborted& aborted);
  bool flush(std::vector<BatchChange>& changes, std::size_t& pending_bytes);
  bool fail(std::string error);

  Database& db_;
  CleanerTask task_;
  WriteChunk write_;
  const std::atomic<bool>& stop_;
  CleanerResult result_;
};

}  // namespace kgw
