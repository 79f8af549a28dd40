// Leader election decisions: what an ElectLeaders (metadata_change.h) does
// to an image, and which partitions the automatic rebalance moves back to
// their preferred replica. Pure functions of the image; the controller
// (controller.h) writes what they decide, LocalMetadataLog answers with
// them on one node.
//
// Threads: none; plain data in, plain data out.
//
// Rules (Kafka's KRaft controller, ReplicationControlManager.electLeader):
//  - preferred: ELECTION_NOT_NEEDED when the first replica leads;
//    PREFERRED_LEADER_NOT_AVAILABLE when it is not alive or not in the
//    ISR; otherwise it leads, leader epoch + 1, partition epoch + 1.
//  - unclean: ELECTION_NOT_NEEDED when a leader exists; otherwise the first
//    alive ISR member in replica order leads (ISR kept), else the first
//    alive replica (ISR becomes it alone); none alive:
//    ELIGIBLE_LEADERS_NOT_AVAILABLE.
//  - a topic id or partition the image does not hold:
//    UNKNOWN_TOPIC_OR_PARTITION.
//  - `all`: every partition is considered and only the ones elected or
//    that failed are answered (ELECTION_NOT_NEEDED ones are left out).
//
// Failure modes: none beyond the per-partition codes; `max_changes` bounds
// the partitions one decision moves (etcd caps the ops of a txn): further
// ones are answered REQUEST_TIMED_OUT (retriable) and left as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/cluster/metadata_change.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

struct ElectionDecision {
  // One per changed topic, the partitions it moves.
  std::vector<SetPartitionStates> changes;
  std::vector<ElectionOutcome> outcomes;
  std::size_t changed = 0;  // partitions in `changes`
};

// `eligible(id)`: the broker may lead (registered, not fenced, not
// shutting down).
ElectionDecision decide_elections(const MetadataImage& image, const ElectLeaders& request,
                                  const std::function<bool(std::int32_t)>& eligible,
                                  std::size_t max_changes = SIZE_MAX);

// The automatic rebalance (auto.leader.rebalance.enable): for each broker,
// the share of the partitions it is preferred leader of that another
// broker leads; above `percentage` (leader.imbalance.per.broker.percentage)
// its partitions whose preferred replica is eligible and in the ISR are
// listed for a preferred election. Empty: nothing to move. `report` gets
// one line per broker over the threshold (for the log).
ElectLeaders imbalanced_partitions(const MetadataImage& image,
                                   const std::function<bool(std::int32_t)>& eligible,
                                   double percentage, std::vector<std::string>* report = nullptr);

}  // namespace kgw
