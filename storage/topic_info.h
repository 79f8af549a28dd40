// What the store keeps in memory about topics and partitions. Plain data:
// the Store owns it and hands out const pointers that stay valid until the
// topic is deleted (partitions live in a deque, so adding partitions does
// not move the existing ones).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "protocol/wire/types.h"

namespace kgw {

struct TopicInfo {
  std::string name;
  Uuid id;  // zero in create_topic() means "generate a random v4 id"
  std::int32_t partitions = 0;
  // Topic-level overrides only (what CreateTopics / AlterConfigs set);
  // broker defaults are not copied in.
  std::map<std::string, std::string> configs;
};

// Kafka's "no timestamp" (RecordBatch.NO_TIMESTAMP).
inline constexpr std::int64_t kNoTimestamp = -1;

struct PartitionState {
  // First offset a consumer may fetch (moved up by DeleteRecords).
  std::int64_t log_start_offset = 0;
  // One past the last offset assigned to an append, written or not yet.
  std::int64_t log_end_offset = 0;
  // One past the last offset whose write has completed; reads never return
  // batches at or above it. Equal to log_end_offset when nothing is in
  // flight (single node: no replicas to wait for).
  std::int64_t high_watermark = 0;
  // Largest batch max_timestamp appended so far (kNoTimestamp if none).
  std::int64_t max_timestamp = kNoTimestamp;
  // Bytes of the partition's batches, as Kafka's log size: the sum of its
  // segments (segment_list.h), appends still being written included. What
  // retention.bytes and DescribeLogDirs measure.
  std::int64_t size_bytes = 0;

  // Kafka's Fetch rule: an offset outside [log start, log end] is
  // OFFSET_OUT_OF_RANGE. Offsets in (high watermark, log end] are valid but
  // return nothing yet.
  bool fetch_offset_in_range(std::int64_t offset) const {
    return offset >= log_start_offset && offset <= log_end_offset;
  }
  // DeleteRecords may move the log start up to the high watermark, no
  // further (Kafka answers OFFSET_OUT_OF_RANGE above it).
  bool log_start_offset_allowed(std::int64_t offset) const {
    return offset >= 0 && offset <= high_watermark;
  }
};

}  // namespace kgw
