#include "src/broker/record_rules.h"

#include <cstdlib>

#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "src/broker/broker_config.h"
#include "storage/log_policy.h"

namespace kgw {

RecordRules RecordRules::of(const BrokerConfig& config,
                            const std::map<std::string, std::string>& overrides) {
  RecordRules r;
  for (const std::string& p :
       split_config_list(config.topic_value(overrides, "cleanup.policy").value_or(""))) {
    r.require_keys = r.require_keys || p == "compact";
  }
  r.max_timestamp_difference_ms =
      config.topic_long(overrides, "message.timestamp.difference.max.ms");
  r.log_append_time = config.topic_value(overrides, "message.timestamp.type") == "LogAppendTime";
  const std::string codec = config.topic_value(overrides, "compression.type").value_or("producer");
  if (codec == "uncompressed") r.codec = CompressionCodec::kNone;
  if (codec == "gzip") r.codec = CompressionCodec::kGzip;
  if (codec == "snappy") r.codec = CompressionCodec::kSnappy;
  if (codec == "lz4") r.codec = CompressionCodec::kLz4;
  if (codec == "zstd") r.codec = CompressionCodec::kZstd;
  return r;
}

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
