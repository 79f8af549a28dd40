#include "src/broker/append_policy.h"

#include "src/broker/broker_config.h"

namespace kgw {

AppendPolicy append_policy(const BrokerConfig& config,
                           const std::map<std::string, std::string>& overrides) {
  AppendPolicy p;
  p.max_message_bytes = config.topic_long(overrides, "max.message.bytes");
  p.segment_bytes = config.topic_long(overrides, "segment.bytes");
  p.min_insync_replicas = config.topic_long(overrides, "min.insync.replicas");
  RecordRules& r = p.rules;
  for (const std::string& policy :
       split_config_list(config.topic_value(overrides, "cleanup.policy").value_or(""))) {
    r.require_keys = r.require_keys || policy == "compact";
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
  return p;
}

}  // namespace kgw
