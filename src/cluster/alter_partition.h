// The rules of an AlterPartition (metadata_change.h): a partition leader's
// request for a new ISR, KIP-497 with KIP-903's broker epochs, as Kafka's
// controller decides it (ReplicationControlManager.alterPartition). One
// function for every place that decides one: the controller
// (controller_isr.cc), MetadataImage::check (an EtcdMetadataLog's early
// refusal, the single-node LocalMetadataLog) and MetadataImage::apply.
//
// Plain functions of an image: no state, any thread.
//
// The happy path is: the partition's leader, at its current broker epoch,
// names the leader epoch and partition epoch the image has and an ISR that
// holds itself, names replicas of the partition only (each once), and whose
// added members are registered, unfenced, not shutting down and (when the
// leader gives their broker epoch) at that epoch: check_alter_partition()
// answers kNone, and altered_partition() gives the partition with that ISR
// and partition epoch + 1, its leader and leader epoch unchanged (nullopt
// when the ISR is the one it has: nothing is written).
//
// Failure modes, in the order checked (Kafka's):
//  - the requester not registered, or at another broker epoch:
//    STALE_BROKER_EPOCH;
//  - no such topic id: UNKNOWN_TOPIC_ID; no such partition:
//    UNKNOWN_TOPIC_OR_PARTITION;
//  - a leader epoch or partition epoch newer than the image's: the
//    decider's image lags (a controller that is not current):
//    NOT_CONTROLLER, retriable;
//  - an older leader epoch: FENCED_LEADER_EPOCH (a new leader was chosen);
//  - the requester not the leader: NOT_LEADER_OR_FOLLOWER (Kafka answers
//    INVALID_REQUEST; ours names what is wrong);
//  - an older partition epoch: INVALID_UPDATE_VERSION (the ISR moved
//    under the leader: it reads the image and asks again);
//  - an ISR naming a non-replica, a replica twice, or without the leader:
//    INVALID_REQUEST (a bug of the leader, as Kafka answers);
//  - an added member not registered, fenced, shutting down, or at another
//    broker epoch than the one given: INELIGIBLE_REPLICA. Kafka checks
//    every member; members already in the ISR are not checked here, so a
//    leader in controlled shutdown (it keeps leading while nobody else
//    can) may still let a caught-up follower in, who can then take over.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/cluster/metadata_change.h"

namespace kgw {

class MetadataImage;

// kNone if `change` may be applied to `image`; else Kafka's error code and
// why in `message`. `shutting_down`: brokers in controlled shutdown (the
// controller knows them; empty elsewhere).
ErrorCode check_alter_partition(const MetadataImage& image, const AlterPartition& change,
                                const std::set<std::int32_t>& shutting_down, std::string& message);

// The partition's state once `change` (checked) is applied; nullopt when
// its ISR is already the one asked for (in that order). `min_isr`
// (effective_min_isr of leader_election.h): an ISR shrinking below it
// puts the members that left into the ELR (KIP-966); one at or above it
// empties the ELR. 1 (one node): the ELR stays empty.
std::optional<PartitionImage> altered_partition(const MetadataImage& image,
                                                const AlterPartition& change,
                                                std::int32_t min_isr = 1);

// "[1,2,3]", for log lines and messages.
std::string ids_text(const std::vector<std::int32_t>& ids);

}  // namespace kgw
