// How a partition's log is kept: the numbers retention, segment rolling
// and compaction act on, resolved from a topic's configs and the broker's
// (src/broker/broker_config.h does the resolving; storage only reads the
// numbers). Kafka's names are in the comments.
#pragma once

#include <cstdint>
#include <limits>

namespace kgw {

inline constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();

struct LogPolicy {
  // cleanup.policy contains "delete": retention by time and size applies.
  // Default: true.
  bool delete_enabled = true;
  // cleanup.policy contains "compact": the log cleaner keeps the latest
  // record per key. Default: false.
  bool compact = false;
  // retention.ms; -1 keeps data forever. Default: 7 days.
  std::int64_t retention_ms = 604800000;
  // retention.bytes per partition; -1: no limit. Default: -1.
  std::int64_t retention_bytes = -1;
  // segment.bytes: the active segment rolls when an append would take it
  // past this. Default: 1 GiB.
  std::int64_t segment_bytes = 1073741824;
  // segment.ms: ... or when it is older than this. Default: 7 days.
  std::int64_t segment_ms = 604800000;
  // delete.retention.ms: how long tombstones and transaction markers
  // survive after the cleaning that first saw them. Default: 1 day.
  std::int64_t delete_retention_ms = 86400000;
  // min.compaction.lag.ms: records younger than this are not compacted.
  // Default: 0.
  std::int64_t min_compaction_lag_ms = 0;
  // max.compaction.lag.ms: a dirty log older than this is cleaned whatever
  // its dirty ratio. Default: no limit.
  std::int64_t max_compaction_lag_ms = kNoLimit;
  // min.cleanable.dirty.ratio: dirty bytes / all bytes that starts a
  // cleaning. Default: 0.5.
  double min_cleanable_dirty_ratio = 0.5;
};

// Broker-wide settings of the background work (retention and cleaner).
struct MaintenanceOptions {
  // log.retention.check.interval.ms. Default: 5 minutes.
  std::int64_t retention_check_interval_ms = 300000;
  // log.cleaner.enable. Default: true.
  bool cleaner_enabled = true;
  // log.cleaner.backoff.ms: how often the cleaner looks for work.
  // Default: 15 s.
  std::int64_t cleaner_backoff_ms = 15000;
  // log.cleaner.dedupe.buffer.size: memory of the cleaner's key -> offset
  // map; a dirty section with more keys than fit is cleaned in several
  // passes. Default: 128 MiB.
  std::int64_t cleaner_dedupe_buffer_bytes = 128ll << 20;
  // How often the size and segment state of each active segment is written
  // down, which bounds what a restart after a crash must re-read
  // (log.flush.offset.checkpoint.interval.ms). Default: 60 s.
  std::int64_t checkpoint_interval_ms = 60000;
};

}  // namespace kgw
