// Replication throttles (KIP-73, Kafka's ReplicationQuotaManager): a cap in
// bytes per second on the replication traffic of chosen partitions, one on
// the leader side (what this broker serves to followers) and one on the
// follower side (what it fetches), used to keep a reassignment's catching
// up from starving clients.
//
// Which partitions: a topic's `leader.replication.throttled.replicas` and
// `follower.replication.throttled.replicas` ("" none, "*" all, else
// "PARTITION:BROKER,..."), each naming the replicas on the broker doing
// the serving or fetching (throttled_replica()). How much:
// `leader.replication.throttled.rate` / `follower.replication.throttled.rate`
// (dynamic broker configs, Long.MAX_VALUE: no limit), measured over
// `replication.quota.window.num` windows of
// `replication.quota.window.size.seconds`.
//
// As in Kafka, a throttled partition's bytes always count, but only a
// replica that is not in the ISR is held back, and only while the measured
// rate is over the cap: the leader answers its fetch without records (the
// follower asks again after the long poll), the follower leaves it out of
// its next Fetch. Replicas in the ISR are never slowed, so acks=all and
// the high watermark do not wait on a throttle. The cap is a rate over the
// window, not a hard ceiling: a fetch that starts under it brings what it
// brings (up to replica.fetch.max.bytes per partition), and the first
// window's bytes are spread over the whole window (a burst of about
// window.num x rate at the start, as in Kafka).
//
// Threads: the loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

namespace kgw {

class ReplicationQuota {
 public:
  // Default: Kafka's 11 windows of 1 s.
  explicit ReplicationQuota(std::uint32_t windows = 11, std::uint64_t window_ms = 1000);

  void configure(std::uint32_t windows, std::uint64_t window_ms);
  // Bytes a throttled partition's replication moved at `now_ms`.
  void record(std::uint64_t bytes, std::uint64_t now_ms);
  // The measured rate, bytes per second.
  double rate(std::uint64_t now_ms) const;
  // The measured rate is over `bytes_per_s` (negative or Long.MAX_VALUE:
  // never).
  bool exceeded(std::int64_t bytes_per_s, std::uint64_t now_ms) const;

 private:
  struct Sample {
    std::uint64_t start_ms = 0;
    std::uint64_t bytes = 0;
  };
  void expire(std::uint64_t now_ms) const;

  std::uint32_t windows_ = 1;
  std::uint64_t window_ms_ = 1;
  mutable std::deque<Sample> samples_;
};

// Whether a throttled-replicas list names the replica of `partition` on
// `broker` ("*": every replica; malformed entries name nothing: the config
// is validated when it is set).
bool throttled_replica(std::string_view list, std::int32_t partition, std::int32_t broker);
// The same for a topic's configs: whether its `list_config`
// (leader.replication.throttled.replicas or the follower one) names it.
bool throttled_replica(const std::map<std::string, std::string>& topic_configs,
                       const std::string& list_config, std::int32_t partition, std::int32_t broker);

}  // namespace kgw
