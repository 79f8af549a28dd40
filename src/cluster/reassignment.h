// The rules of a partition reassignment (Kafka's KIP-455, as its KRaft
// controller decides them: ReplicationControlManager's
// changePartitionReassignment / cancelPartitionReassignment and
// PartitionReassignmentReplicas). One place for every decider: the
// controller (AlterReassignment requests, and AlterPartition ISR changes
// that finish a reassignment), MetadataImage::check / apply (an
// EtcdMetadataLog's early refusal, the single-node LocalMetadataLog).
//
// Plain functions: no state, any thread.
//
// The happy path is:
//  1. start: the partition's replicas become the target followed by the
//     current replicas not in it; `adding` = target - current, `removing`
//     = current - target; partition epoch + 1. The leader and ISR stay:
//     the adding brokers see themselves as replicas in the image and
//     follow the leader, which adds them to the ISR (AlterPartition) as
//     they catch up.
//  2. complete (complete_reassignment): once every target replica is in
//     the ISR, replicas = target, ISR = ISR minus the removing ones,
//     adding and removing cleared; a leader that is not in the target is
//     replaced by the first target replica in the ISR that may lead
//     (leader epoch + 1). The removed brokers see they are no replicas any
//     more and stop. A target that is already in the ISR (a reorder, a
//     shrink) completes at once, in the same change.
//  3. cancel (replicas null): back to the replicas before the
//     reassignment (the current ones minus `adding`), the ISR without the
//     adding ones, a leader among them if the leader was an adding one.
//
// Failure modes (each the partition's error in the answer):
//  - no such topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
//  - an empty target, a broker named twice or not registered:
//    INVALID_REPLICA_ASSIGNMENT (Kafka's messages);
//  - a cancel with no reassignment in progress: NO_REASSIGNMENT_IN_PROGRESS;
//  - a cancel that would leave an ISR with none of the original replicas
//    (only adding replicas in sync): INVALID_REPLICA_ASSIGNMENT (Kafka
//    allows it as an unclean election when the topic enables that; kgw
//    refuses it always: let the reassignment finish, then reassign back);
//  - a completion (or a cancel) that must move the leader while no
//    eligible target replica is in the ISR waits: the partition stays as
//    it is until the ISR or liveness changes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/cluster/metadata_change.h"

namespace kgw {

class MetadataImage;

// kNone if `change` may be decided on `image`; else Kafka's error code
// and why in `message`.
ErrorCode check_reassignment(const MetadataImage& image, const AlterReassignment& change,
                             std::string& message);

// The partition's state once `change` (checked) is decided: started,
// changed, cancelled, or started and completed at once; nullopt when
// nothing changes (the target is the current replica set and none is in
// progress). `eligible(id)`: the broker may lead now.
std::optional<PartitionImage> reassigned_partition(
    const PartitionImage& now, const AlterReassignment& change,
    const std::function<bool(std::int32_t)>& eligible);

// Completes the reassignment of `p` in place when every target replica is
// in its ISR (step 2 above); true if it did. Leaves the partition epoch to
// the caller (the change that completes it bumps it once).
bool complete_reassignment(PartitionImage& p, const std::function<bool(std::int32_t)>& eligible);

// The target of a partition being reassigned: its replicas without the
// removing ones.
std::vector<std::int32_t> reassignment_target(const PartitionImage& p);

}  // namespace kgw
