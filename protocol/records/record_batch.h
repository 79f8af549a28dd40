// Record batch v2 (magic 2): the unit Kafka produces, stores and fetches.
//
// Layout (big-endian; offsets in bytes):
//    0 base_offset            int64   assigned by the broker
//    8 batch_length           int32   bytes after this field
//   12 partition_leader_epoch int32   assigned by the broker
//   16 magic                  int8    2
//   17 crc                    uint32  CRC-32C of bytes 21..end
//   21 attributes             int16   codec (bits 0-2), timestamp type (3),
//                                     transactional (4), control (5),
//                                     delete horizon (6)
//   23 last_offset_delta      int32
//   27 base_timestamp         int64
//   35 max_timestamp          int64
//   43 producer_id            int64
//   51 producer_epoch         int16
//   53 base_sequence          int32
//   57 record_count           int32
//   61 records (compressed as a whole when codec != none)
//
// The CRC starts at the attributes, so the broker can assign base_offset
// and partition_leader_epoch in place without recomputing it.
//
// Legacy message sets (magic 0 and 1, clients before Kafka 0.11): they put
// the magic at the same offset 16 (after offset, size and a CRC-32), so
// every function here recognises them and returns kLegacyMessageFormat; the
// Produce handler answers UNSUPPORTED_FOR_MESSAGE_FORMAT (or
// CORRUPT_MESSAGE) for them. Down-conversion plan: we accept only magic 2 on
// produce and store only magic 2. A Fetch v0-v3 client can read only magic
// 0/1, so serving one would need down-conversion (decompress, re-encode
// each record as a legacy message, recompress; Kafka does this per fetch at
// great cost). We do not plan it until a client we must support needs it;
// until then ApiVersions should advertise only the versions that carry
// magic 2 (Produce v3+, Fetch v4+).
//
// Views, not copies: batches are Bytes into the caller's buffer, which must
// outlive them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/records/record_error.h"
#include "protocol/wire/types.h"

namespace kgw {

enum class TimestampType : std::uint8_t {
  kCreateTime = 0,     // set by the producer
  kLogAppendTime = 1,  // set by the broker (max_timestamp holds it)
};

struct RecordBatchHeader {
  // Field offsets within a batch.
  static constexpr std::size_t kBaseOffsetAt = 0;
  static constexpr std::size_t kBatchLengthAt = 8;
  static constexpr std::size_t kLeaderEpochAt = 12;
  static constexpr std::size_t kMagicAt = 16;
  static constexpr std::size_t kCrcAt = 17;
  static constexpr std::size_t kAttributesAt = 21;
  static constexpr std::size_t kLastOffsetDeltaAt = 23;
  static constexpr std::size_t kBaseTimestampAt = 27;
  static constexpr std::size_t kMaxTimestampAt = 35;
  static constexpr std::size_t kProducerIdAt = 43;
  static constexpr std::size_t kProducerEpochAt = 51;
  static constexpr std::size_t kBaseSequenceAt = 53;
  static constexpr std::size_t kRecordCountAt = 57;
  static constexpr std::size_t kSize = 61;  // records start here
  // base_offset + batch_length: the bytes batch_length does not count.
  static constexpr std::size_t kLogOverhead = 12;
  static constexpr std::int32_t kMinBatchLength = static_cast<std::int32_t>(kSize - kLogOverhead);
  // The smallest record: length, attributes, timestamp delta, offset delta,
  // key length, value length and header count, one byte each. Bounds
  // record_count by the bytes present before anything is reserved.
  static constexpr std::size_t kMinRecordSize = 7;

  static constexpr std::int16_t kCodecMask = 0x07;
  static constexpr std::int16_t kTimestampTypeBit = 0x08;
  static constexpr std::int16_t kTransactionalBit = 0x10;
  static constexpr std::int16_t kControlBit = 0x20;
  static constexpr std::int16_t kDeleteHorizonBit = 0x40;

  std::int64_t base_offset = 0;
  std::int32_t batch_length = 0;
  std::int32_t partition_leader_epoch = -1;
  std::int8_t magic = 2;
  std::uint32_t crc = 0;
  std::int16_t attributes = 0;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = -1;
  std::int64_t max_timestamp = -1;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  std::int32_t record_count = 0;

  // Raw codec bits; check is_known_codec() before casting trust into it.
  int codec_bits() const { return attributes & kCodecMask; }
  CompressionCodec compression() const { return static_cast<CompressionCodec>(codec_bits()); }
  TimestampType timestamp_type() const {
    return (attributes & kTimestampTypeBit) ? TimestampType::kLogAppendTime
                                            : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return (attributes & kTransactionalBit) != 0; }
  bool is_control() const { return (attributes & kControlBit) != 0; }
  bool has_delete_horizon() const { return (attributes & kDeleteHorizonBit) != 0; }

  std::int64_t last_offset() const { return base_offset + last_offset_delta; }
  // The whole batch on the wire, header included.
  std::size_t total_size() const { return kLogOverhead + static_cast<std::size_t>(batch_length); }
  std::size_t records_size() const { return total_size() - kSize; }
};

// Parses the 61-byte header at the start of `in` (which may hold more).
// Checks magic and that batch_length covers at least the header, not that
// the whole batch is present, nor the CRC.
// Errors: kTruncated, kLegacyMessageFormat, kBadMagic, kBadLength.
RecordError parse_record_batch_header(Bytes in, RecordBatchHeader& out);

// Full check of one batch: `batch` must be exactly one batch (as split by
// split_record_batches). Checks the header, batch_length against the bytes,
// the CRC, the codec bits, record_count >= 0, last_offset_delta >= 0,
// record_count <= last_offset_delta + 1 (compaction may drop records but
// never adds offsets), and for uncompressed batches that record_count
// records can fit in the bytes. Does not decode the records.
RecordError validate_record_batch(Bytes batch, RecordBatchHeader& out);

// The stricter rules for a batch arriving in a Produce request from a
// client, as Kafka's LogValidator applies them: at least one record,
// last_offset_delta == record_count - 1, and no control batches (only
// brokers write those). Kafka answers INVALID_RECORD for these. Call after
// validate_record_batch().
RecordError check_producer_batch(const RecordBatchHeader& h);

// Splits a `records` field (several batches back to back) into views of
// whole batches, appended to `batches`. A Fetch response may end with a
// partial batch (the broker cuts at max_bytes): pass `partial_tail` to
// accept that, and it receives the number of trailing bytes ignored. With
// `partial_tail == nullptr` (Produce) a trailing partial batch is
// kTruncated. Each batch's CRC is not checked here: use
// validate_record_batch() on each.
// Errors: kTruncated, kLegacyMessageFormat, kBadMagic, kBadLength.
RecordError split_record_batches(Bytes records, std::vector<Bytes>& batches,
                                 std::size_t* partial_tail = nullptr);

// In-place updates the broker makes when it appends a batch. These fields
// are outside the CRC, so the records and CRC stay untouched. `batch` must
// start with a v2 header.
RecordError set_base_offset(std::span<std::uint8_t> batch, std::int64_t base_offset);
RecordError set_partition_leader_epoch(std::span<std::uint8_t> batch, std::int32_t epoch);

// For topics with message.timestamp.type=LogAppendTime: sets the timestamp
// type bit and max_timestamp (consumers then use it for every record), as
// Kafka does, and recomputes the CRC since both are covered by it. `batch`
// must be exactly one batch.
RecordError set_log_append_time(std::span<std::uint8_t> batch, std::int64_t timestamp);

// Sets max_timestamp (CreateTime batches) and recomputes the CRC, as
// Kafka's LogValidator corrects a producer's max_timestamp to the largest
// record timestamp: the time index and ListOffsets trust it. `batch` must
// be exactly one batch.
RecordError set_max_timestamp(std::span<std::uint8_t> batch, std::int64_t timestamp);

// The records section of a batch (already validated) ready to iterate: a
// view into `batch` when uncompressed; otherwise decompressed into
// `scratch` (cleared first) with at most `max_decompressed` bytes, and a
// view of that. Also checks that record_count records fit in the bytes.
RecordError batch_records(Bytes batch, const RecordBatchHeader& h,
                          std::vector<std::uint8_t>& scratch, Bytes& records,
                          std::size_t max_decompressed);

}  // namespace kgw
