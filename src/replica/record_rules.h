// What a topic's configs ask of each produced record beyond the structural
// checks every produce gets (record_validator.h): a key on compacted topics
// (cleanup.policy=compact), CreateTime timestamps within
// message.timestamp.difference.max.ms of the broker's clock, and batches
// recompressed to compression.type when it names a codec. Kafka's
// LogValidator does the same, with the same errors.
//
// Both the checks and the recompression need the records (compressed
// batches are decompressed), so they run on the libuv threadpool, never on
// the loop thread; checks() and recompress() are pure functions of their
// arguments for that reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/records/record_validator.h"
#include "protocol/wire/error_code.h"

namespace kgw {

struct RecordRules {
  bool require_keys = false;
  // kNoLimit: no check (the default).
  std::int64_t max_timestamp_difference_ms = 0;
  bool log_append_time = false;  // CreateTime checks do not apply then
  // compression.type: nullopt for "producer" (keep the producer's codec).
  std::optional<CompressionCodec> codec;

  // Whether batches must be rewritten (recompressed), so copied out of the
  // request frame; otherwise they are checked in place and appended from it.
  bool rewrites() const { return codec.has_value(); }

  // The per-record checks for record_validator.h.
  RecordChecks checks(std::int64_t now_ms, std::size_t max_decompressed) const;

  // Rewrites the batches of `batches` (whole v2 batches whose records
  // already passed validate_batch_records) whose codec differs from
  // `codec`, keeping offset deltas, producer fields and timestamps.
  // Returns kNone, or CORRUPT_MESSAGE / MESSAGE_TOO_LARGE with a message.
  ErrorCode recompress(std::vector<std::vector<std::uint8_t>>& batches,
                       const std::string& topic_partition, std::size_t max_decompressed,
                       std::string& message) const;
};

}  // namespace kgw
