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
//    alive ELR member (ISR becomes it alone: it has every committed record),
//    else the first alive replica (ISR becomes it alone, ELR and last known
//    ELR empty); none alive: ELIGIBLE_LEADERS_NOT_AVAILABLE.
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

// --- Liveness (the controller's pass over every partition when brokers
// come, go or restart; controller_liveness.cc) and eligible leader
// replicas (KIP-966).
//
// The happy path is: a broker that is not alive leaves the ISR; while the
// ISR is below min.insync.replicas the high watermark does not advance
// (replication.cc), so the members that left it then hold every committed
// record: they become the ELR, and when no ISR member can lead, an ELR
// member does (the ISR becomes it alone). Once the ISR is back at
// min.insync.replicas the ELR is empty.
//
// Possible failure modes: every ISR and ELR member dead or without its
// log: the partition is offline (leader -1) unless the topic allows
// unclean leader election; a broker whose log is not the one its
// memberships were earned with (KIP-903: a wiped or replaced disk) leaves
// the ISR (even as its last member) and the ELR, and is never elected from
// them: it rejoins the ISR only through its leader's AlterPartition, once
// it caught up.

// What the pass knows of a broker.
struct LivenessView {
  // Registered and not fenced.
  std::function<bool(std::int32_t)> alive;
  // Alive and not in controlled shutdown.
  std::function<bool(std::int32_t)> eligible;
  // Registered a new incarnation lately (its old memberships are of a
  // process that is gone; its log survived).
  std::function<bool(std::int32_t)> restarted;
  // A new incarnation whose log is not its previous incarnation's.
  std::function<bool(std::int32_t)> log_lost;
};

struct LivenessOutcome {
  PartitionImage next;
  bool changed = false;           // anything to write (partition epoch + 1)
  bool new_leader_epoch = false;  // a new leader, or the same in a new epoch
  bool unclean = false;           // elected outside the ISR and ELR
  bool from_elr = false;          // the new leader came from the ELR
};

// min(min.insync.replicas, replication factor), at least 1: the ISR size
// below which nothing is committed.
std::int32_t effective_min_isr(std::int64_t min_insync_replicas, std::size_t replicas);

// The ELR once a partition goes from `before` to `next` (ISR and leader
// already decided there): the members of before's ISR and ELR that are not
// in next's ISR, do not lead it and whose log is not lost, in replica
// order; empty when next's ISR has at least `min_isr` members.
std::vector<std::int32_t> next_elr(const PartitionImage& before, const PartitionImage& next,
                                   std::int32_t min_isr,
                                   const std::function<bool(std::int32_t)>& log_lost);

// The last known ELR once a partition goes from `before` to `next` (ISR,
// ELR and leader already decided there), Kafka's general LastKnownElr rule
// (PartitionChangeBuilder): the members of before's ISR, ELR and last known
// ELR that are in neither next's ISR nor its ELR and do not lead it, in
// next's replica order (a replica a reassignment removed is dropped);
// empty when next's ISR has at least `min_isr` members. In kgw a replica
// leaves both only with its log lost (next_elr), so these are the replicas
// last known to be eligible once none are.
std::vector<std::int32_t> next_last_known_elr(const PartitionImage& before,
                                              const PartitionImage& next, std::int32_t min_isr);

// One partition through the liveness pass (KRaft's rules with ELR):
// members that cannot lead leave the ISR, though KRaft never empties it:
// with no live member the last leader (or first member) stays, unless its
// log is lost. A leader that cannot lead is replaced by, in order: the
// first ISR member in replica order that can lead; the first ELR member
// that can (the ISR becomes it alone); the old leader itself if alive
// with its log (in controlled shutdown, or restarted: nobody else can
// take it; a new leader epoch); for an offline partition, an alive ISR
// then ELR member with its log; the only replica of a partition of one,
// back without its log (nothing else can ever hold what it had: it leads
// again, empty; `unclean` says so); with `unclean_allowed`, the first
// replica that can lead (ISR it alone, ELR and last known ELR empty). A
// restarted leader that keeps leading does so in a new leader epoch. The
// last known ELR follows next_last_known_elr (empty after an unclean
// election).
LivenessOutcome liveness_next(const PartitionImage& p, std::int32_t min_isr,
                              const LivenessView& view, bool unclean_allowed);

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
