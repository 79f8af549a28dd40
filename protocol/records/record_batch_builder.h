// Writes one record batch v2: for tests now, later for the broker's own
// batches (transaction markers, compaction output).
//
// Records are encoded as they are added, so keys, values and headers need
// only live for the add() call. build() compresses the records section,
// fills in batch_length and the CRC, and appends the batch to a vector.
//
// As Kafka's MemoryRecordsBuilder does: base_timestamp is the first
// record's timestamp, max_timestamp the largest, offset deltas count up
// from 0 unless given, and last_offset_delta is the last record's delta.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_error.h"
#include "protocol/records/record_iterator.h"
#include "protocol/wire/types.h"

namespace kgw {

struct RecordBatchOptions {
  // Default: 0 (producers send 0; the broker assigns with set_base_offset()).
  std::int64_t base_offset = 0;
  // Default: -1 (producers send -1; the broker assigns its leader epoch).
  std::int32_t partition_leader_epoch = -1;
  // Default: kNone.
  CompressionCodec codec = CompressionCodec::kNone;
  // Default: kCreateTime. For kLogAppendTime see set_log_append_time().
  TimestampType timestamp_type = TimestampType::kCreateTime;
  // Default: false.
  bool transactional = false;
  // Default: false. Control batches hold one control record (see
  // control_record.h).
  bool control = false;
  // Default: -1 / -1 / -1 (not idempotent).
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  // Default: unset, meaning the last record's offset delta (0 when empty).
  // Compaction keeps a batch's original last_offset_delta when it drops
  // its last records, so producer sequence numbers stay intact.
  std::optional<std::int32_t> last_offset_delta;
  // Default: unset. KIP-534: the log cleaner marks a batch holding
  // tombstones or a transaction marker with the time after which it may
  // drop them: attributes bit 6 set and base_timestamp holding that time
  // (record timestamp deltas are then relative to it, and may be negative).
  std::optional<std::int64_t> delete_horizon_ms;
  // Default: unset, meaning the largest record timestamp. LogAppendTime
  // batches carry the append time here (see set_log_append_time()), which
  // a rewrite must keep.
  std::optional<std::int64_t> max_timestamp;

  // The options that rebuild a batch with `h`'s header: base offset,
  // leader epoch, codec, timestamp type, transactional and control flags,
  // producer id, epoch, base sequence and last_offset_delta. Left unset:
  // delete_horizon_ms and max_timestamp, which each rewrite decides.
  static RecordBatchOptions from_header(const RecordBatchHeader& h);
};

class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(const RecordBatchOptions& options) : options_(options) {
    if (options_.delete_horizon_ms) base_timestamp_ = *options_.delete_horizon_ms;
  }

  // Adds a record whose offset delta is one past the previous record's (0
  // for the first). Errors: kBadRecord if a length does not fit in int32.
  RecordError add(std::int64_t timestamp, std::optional<Bytes> key, std::optional<Bytes> value,
                  std::span<const RecordHeader> headers = {});

  // Same with an explicit offset delta (compaction keeps the original
  // ones). Errors: kBadRecord if it is negative or not above the previous.
  RecordError add_with_offset_delta(std::int32_t offset_delta, std::int64_t timestamp,
                                    std::optional<Bytes> key, std::optional<Bytes> value,
                                    std::span<const RecordHeader> headers = {});

  std::int32_t record_count() const { return count_; }
  // Size of the encoded, uncompressed records section so far.
  std::size_t records_size() const { return records_.size(); }

  // Appends the finished batch to `out`; on error `out` is unchanged.
  // The builder is left as it was, so build() may be called again.
  // Errors: kBadLength (batch over 2 GiB), kCompressFailed,
  // kUnsupportedCodec.
  RecordError build(std::vector<std::uint8_t>& out) const;

 private:
  RecordBatchOptions options_;
  std::vector<std::uint8_t> records_;
  std::int32_t count_ = 0;
  std::int32_t last_delta_ = -1;
  std::int64_t base_timestamp_ = -1;
  std::int64_t max_timestamp_ = -1;
};

}  // namespace kgw
