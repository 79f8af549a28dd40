// The coordinators' internal topics, `__consumer_offsets` and
// `__transaction_state`, asked of the controller the way Kafka makes them:
// on first use (FindCoordinator), and by a node whose data dir holds
// coordinator state from before it joined a cluster, so that state can be
// imported (src/replica/coordinator_log.h).
//
// Both are replicated as Kafka replicates them:
// offsets.topic.replication.factor / transaction.state.log.replication.factor
// replicas (default 3), compacted, `__transaction_state` with
// min.insync.replicas = transaction.state.log.min.isr (default 2, at most
// its replicas). Kafka refuses to create them until that many brokers are
// alive; kgw creates them over the live brokers rather than keep a small
// cluster without coordinators (a single node turned into a cluster has
// only itself), marks them with kgw.replication.factor.target = the
// setting, and grows them as brokers join (grow_coordinator_topic()): the
// leader of each partition short of replicas asks the controller to add
// live brokers (a reassignment: they catch up, then join the ISR), with
// the preferred replica in turn, so that the preferred-leader rebalance
// (auto.leader.rebalance.enable) then spreads the coordinators; once all
// have them the mark goes. A topic without the mark (made with its
// replicas, or by a user) is left as it is.
//
// Threads: the loop thread only. Failure modes: the controller refuses or
// times out: a WARN line; the next FindCoordinator (or start, or metadata
// change) asks again.
#pragma once

#include <cstdint>
#include <string_view>

#include "src/cluster/coordinator_placement.h"

namespace kgw {

class BrokerConfig;
class MetadataLog;

// Asks for the internal topic of `type` unless a request for it is already
// under way. `lead_all` >= 0: every partition's replica list starts with
// that broker, so it leads them all once the topic exists; -1: Kafka's
// placement over the live brokers.
void request_coordinator_topic(MetadataLog& metadata, const BrokerConfig& config,
                               CoordinatorType type, std::int32_t lead_all = -1);

inline constexpr std::string_view kReplicationTarget = "kgw.replication.factor.target";

// Call on every metadata change: for each partition of the internal topic
// of `type` (if marked) led by `self` with fewer replicas than the mark
// asks (at most the live brokers) and no reassignment in progress, asks
// the controller to add live brokers (one request per partition at a
// time). Once every partition has them, `self` leading partition 0
// removes the mark and raises `__transaction_state`'s min.insync.replicas
// to transaction.state.log.min.isr (at most the replicas) if it was lower.
void grow_coordinator_topic(MetadataLog& metadata, const BrokerConfig& config, CoordinatorType type,
                            std::int32_t self);

}  // namespace kgw
