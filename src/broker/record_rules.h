// What a topic's configs ask of each produced record beyond the batch
// checks every produce gets (produce.cc): a key on compacted topics
// (cleanup.policy=compact), CreateTime timestamps within
// message.timestamp.difference.max.ms of the broker's clock, and batches
// recompressed to compression.type when it names a codec. Kafka's
// LogValidator does the same, with the same errors.
//
// Checking needs the records (compressed batches are decompressed), so it
// runs on the libuv threadpool, never on the loop thread; apply() is a pure
// function of its arguments for that reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/wire/error_code.h"

namespace kgw {

class BrokerConfig;

struct RecordRules {
  bool require_keys = false;
  // kNoLimit: no check (the default).
  std::int64_t max_timestamp_difference_ms = 0;
  bool log_append_time = false;  // CreateTime checks do not apply then
  // compression.type: nullopt for "producer" (keep the producer's codec).
  std::optional<CompressionCodec> codec;

  // Whether anything here needs the records at all.
  bool active() const;

  static RecordRules of(const BrokerConfig& config,
                        const std::map<std::string, std::string>& overrides);

  // Checks every record of `batches` (whole, validated v2 batches) and
  // rewrites those whose codec differs from `codec`, keeping offsets deltas,
  // producer fields and timestamps. Returns kNone, or the Kafka error with
  // Kafka's message in `message` (INVALID_RECORD, INVALID_TIMESTAMP,
  // CORRUPT_MESSAGE for records that do not decode).
  ErrorCode apply(std::vector<std::vector<std::uint8_t>>& batches, std::int64_t now_ms,
                  const std::string& topic_partition, std::size_t max_decompressed,
                  std::string& message) const;
};

}  // namespace kgw
