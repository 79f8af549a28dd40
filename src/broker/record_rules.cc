#include "src/broker/record_rules.h"

#include <cstdlib>

#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "src/broker/broker_config.h"
#include "storage/log_policy.h"

namespace kgw {

bool RecordRules::active() const {
  return require_keys || codec.has_value() ||
         (!log_append_time && max_timestamp_difference_ms != kNoLimit);
}

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

ErrorCode RecordRules::apply(std::vector<std::vector<std::uint8_t>>& batches, std::int64_t now_ms,
                             const std::string& topic_partition, std::size_t max_decompressed,
                             std::string& message) const {
  std::vector<std::uint8_t> scratch;
  Record record;
  for (auto& batch : batches) {
    RecordBatchHeader h;
    if (parse_record_batch_header(Bytes(batch), h) != RecordError::kNone) {
      return ErrorCode::kCorruptMessage;
    }
    Bytes records;
    RecordError e = batch_records(Bytes(batch), h, scratch, records, max_decompressed);
    if (e != RecordError::kNone) {
      message = std::string("Record batch of ") + topic_partition +
                " does not decode: " + record_error_name(e);
      return e == RecordError::kDecompressTooLarge ? ErrorCode::kMessageTooLarge
                                                   : ErrorCode::kCorruptMessage;
    }
    const bool check_time = !log_append_time && h.timestamp_type() == TimestampType::kCreateTime &&
                            max_timestamp_difference_ms != kNoLimit;
    const bool recompress = codec && *codec != h.compression();
    std::optional<RecordBatchBuilder> builder;
    if (recompress) {
      RecordBatchOptions o;
      o.base_offset = h.base_offset;
      o.partition_leader_epoch = h.partition_leader_epoch;
      o.codec = *codec;
      o.timestamp_type = h.timestamp_type();
      o.transactional = h.is_transactional();
      o.control = h.is_control();
      o.producer_id = h.producer_id;
      o.producer_epoch = h.producer_epoch;
      o.base_sequence = h.base_sequence;
      o.last_offset_delta = h.last_offset_delta;
      builder.emplace(o);
    }
    RecordIterator it(records, h.record_count);
    while (it.next(record)) {
      const std::int64_t offset_in_batch = record.offset_delta;
      if (require_keys && !record.key) {
        message = "Compacted topic cannot accept message without key in topic partition " +
                  topic_partition + ".";
        return ErrorCode::kInvalidRecord;
      }
      const auto ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                                static_cast<std::uint64_t>(record.timestamp_delta));
      if (check_time && ts != -1 &&
          (ts > now_ms ? ts - now_ms : now_ms - ts) > max_timestamp_difference_ms) {
        message = "Timestamp " + std::to_string(ts) + " of message with offset " +
                  std::to_string(offset_in_batch) +
                  " is out of range. The timestamp should be within [" +
                  std::to_string(now_ms - max_timestamp_difference_ms) + ", " +
                  std::to_string(now_ms + max_timestamp_difference_ms) + "]";
        return ErrorCode::kInvalidTimestamp;
      }
      if (builder) {
        RecordError add = builder->add_with_offset_delta(record.offset_delta, ts, record.key,
                                                         record.value, record.headers);
        if (add != RecordError::kNone) return ErrorCode::kCorruptMessage;
      }
    }
    if (it.error() != RecordError::kNone) {
      message = std::string("Record batch of ") + topic_partition +
                " does not decode: " + record_error_name(it.error());
      return ErrorCode::kCorruptMessage;
    }
    if (builder) {
      std::vector<std::uint8_t> out;
      if (builder->build(out) != RecordError::kNone) return ErrorCode::kCorruptMessage;
      batch = std::move(out);
    }
  }
  return ErrorCode::kNone;
}

}  // namespace kgw
