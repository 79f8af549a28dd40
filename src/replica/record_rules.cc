#include "src/replica/record_rules.h"

#include <cstdlib>

#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "storage/log_policy.h"

namespace kgw {

RecordChecks RecordRules::checks(std::int64_t now_ms, std::size_t max_decompressed) const {
  RecordChecks c;
  c.require_keys = require_keys;
  if (!log_append_time && max_timestamp_difference_ms != kNoLimit) {
    c.max_timestamp_difference_ms = max_timestamp_difference_ms;
  }
  c.now_ms = now_ms;
  c.max_decompressed = max_decompressed;
  return c;
}

ErrorCode RecordRules::recompress(std::vector<std::vector<std::uint8_t>>& batches,
                                  const std::string& topic_partition, std::size_t max_decompressed,
                                  std::string& message) const {
  if (!codec) return ErrorCode::kNone;
  std::vector<std::uint8_t> scratch;
  Record record;
  for (auto& batch : batches) {
    RecordBatchHeader h;
    if (parse_record_batch_header(Bytes(batch), h) != RecordError::kNone) {
      return ErrorCode::kCorruptMessage;
    }
    if (*codec == h.compression()) continue;
    Bytes records;
    RecordError e = batch_records(Bytes(batch), h, scratch, records, max_decompressed);
    if (e != RecordError::kNone) {
      message = std::string("Record batch of ") + topic_partition +
                " does not decode: " + record_error_name(e);
      return e == RecordError::kDecompressTooLarge ? ErrorCode::kMessageTooLarge
                                                   : ErrorCode::kCorruptMessage;
    }
    RecordBatchOptions o = RecordBatchOptions::from_header(h);
    o.codec = *codec;
    RecordBatchBuilder builder(o);
    RecordIterator it(records, h.record_count);
    while (it.next(record)) {
      const auto ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                                static_cast<std::uint64_t>(record.timestamp_delta));
      if (builder.add_with_offset_delta(record.offset_delta, ts, record.key, record.value,
                                        record.headers) != RecordError::kNone) {
        return ErrorCode::kCorruptMessage;
      }
    }
    if (it.error() != RecordError::kNone) {
      message = std::string("Record batch of ") + topic_partition +
                " does not decode: " + record_error_name(it.error());
      return ErrorCode::kCorruptMessage;
    }
    std::vector<std::uint8_t> out;
    if (builder.build(out) != RecordError::kNone) return ErrorCode::kCorruptMessage;
    batch = std::move(out);
  }
  return ErrorCode::kNone;
}

}  // namespace kgw
