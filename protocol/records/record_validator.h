// Checks every record of a batch a producer sent, as Kafka's LogValidator
// does before it appends, so that nothing a consumer, ListOffsets by
// timestamp or the log cleaner cannot read is ever stored.
//
// The happy path is: the batch's header and CRC already passed
// validate_record_batch() and check_producer_batch(); the records section
// (decompressed within a budget when the batch is compressed) decodes into
// exactly record_count records, their offset deltas count 0, 1, 2, ..., and
// each record passes the topic's rules (a key on compacted topics, a
// CreateTime timestamp within message.timestamp.difference.max.ms of now).
// The result then carries the largest record timestamp, which the caller
// writes into the header when the producer's max_timestamp is wrong (Kafka
// rewrites it too: the time index trusts it).
//
// Possible failure modes, each answered as Kafka answers a Produce (KIP-467
// for the per-record ones: the whole batch is refused, and RecordErrors
// names each bad record by its index in the batch so that a client can fail
// only those):
//   - records that do not decode (a varint too long, a length beyond its
//     record, a record whose fields do not use exactly its length, a header
//     count the bytes cannot hold, fewer records than record_count, bytes
//     left after the last one): INVALID_RECORD, as Kafka's
//     InvalidRecordException; the record where decoding stopped is named;
//   - an offset delta out of sequence: INVALID_RECORD for that record;
//   - no key on a compacted topic: INVALID_RECORD for that record;
//   - a timestamp out of range, or a producer that set the LogAppendTime
//     bit: INVALID_TIMESTAMP for that record;
//   - a compressed section that does not decompress: CORRUPT_MESSAGE; one
//     over the decompression budget: MESSAGE_TOO_LARGE.
// Pure function of its arguments: it runs on the libuv threadpool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/records/record_batch.h"
#include "protocol/wire/error_code.h"

namespace kgw {

struct RecordChecks {
  // cleanup.policy contains compact: every record needs a key.
  bool require_keys = false;
  // message.timestamp.difference.max.ms for CreateTime topics; nullopt
  // means no check (LogAppendTime topics, or the limit is Long.MAX_VALUE).
  std::optional<std::int64_t> max_timestamp_difference_ms;
  // The broker's clock, for the timestamp check.
  std::int64_t now_ms = 0;
  // Bound on a compressed batch's decompressed records.
  std::size_t max_decompressed = 0;
};

// One entry of KIP-467's RecordErrors.
struct RecordFault {
  std::int32_t batch_index = 0;
  std::string message;
};

struct BatchCheck {
  ErrorCode error = ErrorCode::kNone;
  // The partition's ErrorMessage when error is set.
  std::string message;
  // At most kMaxRecordFaults entries, in batch order; `faults_total` counts
  // them all. A batch of a million bad records must not cost a million
  // strings.
  std::vector<RecordFault> faults;
  std::size_t faults_total = 0;
  // The largest record timestamp (-1 when every record has none).
  std::int64_t max_timestamp = -1;
};

inline constexpr std::size_t kMaxRecordFaults = 1000;

// `batch` is one whole batch with header `h` (checked as said above);
// `where` is "topic-partition" for the messages; `scratch` holds the
// decompressed records of a compressed batch (reused across calls).
BatchCheck validate_batch_records(Bytes batch, const RecordBatchHeader& h,
                                  const RecordChecks& checks, const std::string& where,
                                  std::vector<std::uint8_t>& scratch);

}  // namespace kgw
