// Coordinator placement: which broker coordinates a consumer group or a
// transactional id, as Kafka places them: the leader of partition
// abs(String.hashCode(key)) % N of the internal topic that stores that
// state (`__consumer_offsets` for groups, `__transaction_state` for
// transactional ids; N its partition count). FindCoordinator names that
// broker and every group and transaction request asks it whether this node
// is the one (NOT_COORDINATOR otherwise), so the two can never disagree.
//
// Threads: none of its own; pure functions of an image, callable from any
// thread that holds the image.
//
// The happy path: the internal topic is in the image -> the key hashes to
// a partition -> its leader, alive, coordinates. When the topic does not
// exist (one node: kgw keeps group and transaction state outside topics,
// and no data dir has it) the asking node coordinates every key, as kgw
// always has. Failure modes: the partition has no leader, or the leader is
// unknown or fenced: no coordinator (COORDINATOR_NOT_AVAILABLE for
// FindCoordinator, which clients retry; NOT_COORDINATOR for the requests).
#pragma once

#include <cstdint>
#include <string_view>

namespace kgw {

class MetadataImage;

// FindCoordinator's key_type values.
enum class CoordinatorType : std::int8_t { kGroup = 0, kTransaction = 1 };

inline constexpr std::string_view kGroupStateTopic = "__consumer_offsets";
inline constexpr std::string_view kTransactionStateTopic = "__transaction_state";

inline std::string_view coordinator_topic(CoordinatorType type) {
  return type == CoordinatorType::kGroup ? kGroupStateTopic : kTransactionStateTopic;
}

// Java's String.hashCode of `key` read as UTF-8 (over its UTF-16 code
// units, as Java strings are; a malformed byte counts as U+FFFD, as Java's
// decoder replaces it).
std::int32_t java_string_hash(std::string_view key);

// Kafka's Utils.abs(key.hashCode) % partitions (Utils.abs maps
// Integer.MIN_VALUE to 0). `partitions` > 0.
std::int32_t coordinator_partition(std::string_view key, std::int32_t partitions);

struct CoordinatorPlacement {
  // The coordinating broker; -1: none can be named now.
  std::int32_t node = -1;
  // The internal topic exists: `partition` is the key's partition of it.
  bool by_topic = false;
  std::int32_t partition = -1;
};

// Who coordinates `key`. `self` is the asking node, the coordinator of
// every key while the internal topic does not exist.
CoordinatorPlacement place_coordinator(const MetadataImage& image, CoordinatorType type,
                                       std::string_view key, std::int32_t self);

// Whether `self` coordinates `key`: the guard of every group and
// transaction request (false: answer NOT_COORDINATOR).
inline bool coordinates_here(const MetadataImage& image, CoordinatorType type, std::string_view key,
                             std::int32_t self) {
  return place_coordinator(image, type, key, self).node == self;
}

}  // namespace kgw
