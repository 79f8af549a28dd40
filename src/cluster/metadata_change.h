// MetadataChange: the typed changes a MetadataLog (metadata_log.h) takes.
// Each is one fact the cluster agrees on; applying the same changes in the
// same order to the same image gives the same image, which is what lets a
// replicated log (etcd, later) rebuild every broker's view.
//
// Plain data, no threads. Whoever submits a change fills what it knows;
// the log fills the rest before it is applied (a CreateTopic with a zero
// id gets one, empty assignments get this node), so what listeners see is
// complete.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "src/cluster/client_quotas.h"

namespace kgw {

using ConfigMap = std::map<std::string, std::string>;
// Replica node ids per partition, the first being the preferred leader.
using ReplicaAssignment = std::vector<std::vector<std::int32_t>>;

struct BrokerImage {
  std::int32_t id = -1;
  std::string host;
  std::int32_t port = -1;
  std::optional<std::string> rack;
  // The incarnation (KIP-903's broker epoch): a broker that restarts
  // registers with a higher one. 0 on one node.
  std::int64_t epoch = 0;
  // A fenced broker is known but not alive (its session lapsed): it leads
  // nothing and Metadata does not list it.
  bool fenced = false;
  // The identity of the broker's log (its store's, made when the store was
  // created: RocksDB's DB identity) and the one its previous registration
  // named ("": unknown, a broker of an older kgw or its first start).
  std::string log_dir_id = {};
  std::string previous_log_dir_id = {};

  // This incarnation's log is not the one its previous incarnation had (a
  // wiped or replaced disk): whatever ISR or ELR memberships and
  // leaderships the image gives it are of a log that is gone.
  bool log_dir_replaced() const {
    return !previous_log_dir_id.empty() && !log_dir_id.empty() && previous_log_dir_id != log_dir_id;
  }
};

struct PartitionImage {
  std::int32_t index = 0;
  std::int32_t leader = -1;  // -1: offline
  std::int32_t leader_epoch = 0;
  // Bumped by every change of leader, replicas or ISR (KIP-497): a change
  // decided from an older partition epoch is refused.
  std::int32_t partition_epoch = 0;
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isr;
  // A reassignment in progress (Kafka's addingReplicas / removingReplicas,
  // KIP-455): `replicas` is then the target followed by the replicas
  // leaving; `adding` are target replicas that were not replicas before
  // (they catch up as followers), `removing` are replicas not in the
  // target (they leave once every target replica is in the ISR). Both
  // empty: no reassignment.
  std::vector<std::int32_t> adding;
  std::vector<std::int32_t> removing;

  bool reassigning() const { return !adding.empty() || !removing.empty(); }

  // Eligible leader replicas (KIP-966): members that left the ISR while it
  // was below min.insync.replicas. The high watermark does not advance
  // then, so each holds every committed record and may lead when no ISR
  // member can. Empty once the ISR is back at min.insync.replicas; never
  // overlaps the ISR; in replica order.
  std::vector<std::int32_t> elr;
  // The last known ELR (KIP-966's LastKnownElr): replicas that were in the
  // ISR or ELR while the ISR was below min.insync.replicas and have left
  // both without rejoining (a log lost to an unclean shutdown or a wiped
  // disk: no longer eligible, but the last ones known to have been).
  // Empty once the ISR is back at min.insync.replicas and after an
  // unclean election; never overlaps the ISR or ELR; in replica order.
  std::vector<std::int32_t> last_known_elr;
};

// A broker announces itself (one node: this node, once at start; a
// cluster: each registration, unfenced, with its epoch).
struct RegisterBroker {
  BrokerImage broker;
};

// A broker's session lapsed or it shut down: it stays known, fenced.
struct FenceBroker {
  std::int32_t id = -1;
};

// An operator forgets a broker that is gone for good (Kafka's
// UnregisterBroker, KIP-631): it leaves the image. Only a fenced broker is
// unregistered (a live one would come straight back); partitions that
// still name it as a replica keep naming it, offline there, until they are
// reassigned.
struct UnregisterBroker {
  std::int32_t id = -1;
};

// The broker that now decides placement and leaders, and the epoch of its
// term (-1: none is elected).
struct SetController {
  std::int32_t id = -1;
  std::int64_t epoch = 0;
};

struct CreateTopic {
  std::string name;
  Uuid id;  // zero: the log picks a random v4 id
  std::int32_t partitions = 0;
  std::int32_t replication_factor = 1;
  // Empty: the log places `partitions` x `replication_factor` replicas.
  // Otherwise one entry per partition and `partitions` must match.
  ReplicaAssignment assignments;
  ConfigMap configs;  // topic-level overrides only
};

struct DeleteTopic {
  Uuid id;
};

// Grows a topic to `total` partitions.
struct CreatePartitions {
  Uuid id;
  std::int32_t total = 0;
  ReplicaAssignment assignments;  // of the new partitions only; empty: the log places them
};

// Replaces a topic's overrides.
struct SetTopicConfigs {
  Uuid id;
  ConfigMap configs;
};

// Replaces one layer of dynamic broker configs: one broker's
// (`broker` = its id) or the cluster-wide default (`broker` = nullopt).
struct SetBrokerConfigs {
  std::optional<std::int32_t> broker;
  ConfigMap configs;
};

// Sets or removes quota values of entities (ClientQuotas::apply each).
struct SetClientQuotas {
  std::vector<std::pair<ClientQuotas::Entity, std::vector<ClientQuotas::Op>>> entries;
};

// New leader, leader epoch, ISR or replicas of some partitions of a topic:
// each entry replaces the partition of its index.
struct SetPartitionStates {
  Uuid id;
  std::vector<PartitionImage> partitions;
};

// A member of a proposed ISR and the broker epoch its leader saw it fetch
// with (KIP-903's BrokerState): -1 means unknown, and the epoch is not
// checked.
struct IsrMember {
  std::int32_t id = -1;
  std::int64_t broker_epoch = -1;

  bool operator==(const IsrMember&) const = default;
};

// A partition's leader asks for a new ISR (Kafka's AlterPartition,
// KIP-497): a follower that lags is dropped, one that caught up is added.
// Decided against the partition state the leader saw: refused if the
// leader, its epochs or its broker epoch are not current
// (check_alter_partition in alter_partition.h has the rules). Accepted, the
// ISR is replaced and the partition epoch goes up by one; the leader and
// its leader epoch stay. The submitter reads the outcome (ISR, partition
// epoch) from MetadataLog::image() once `done` says kNone.
struct AlterPartition {
  std::int32_t leader = -1;        // the requesting broker, which leads the partition
  std::int64_t broker_epoch = -1;  // its broker epoch (BrokerImage::epoch)
  Uuid topic;
  std::int32_t partition = 0;
  std::int32_t leader_epoch = 0;     // the partition's as the leader saw it
  std::int32_t partition_epoch = 0;  // likewise
  std::vector<IsrMember> isr;        // the ISR asked for, the leader included
};

// A leader election asked of the controller (Kafka's ElectLeaders): a
// request only, never applied as such; the controller decides it
// (leader_election.h) into new partition states and answers each
// partition's outcome (ElectionOutcome).
struct ElectLeaders {
  static constexpr std::int8_t kPreferred = 0;
  static constexpr std::int8_t kUnclean = 1;
  std::int8_t election_type = kPreferred;
  // True: every partition (only those elected or that failed are
  // answered, as Kafka); false: the ones listed.
  bool all = false;
  std::vector<std::pair<Uuid, std::int32_t>> partitions;
};

// One partition's answer to an ElectLeaders: kNone (elected),
// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION.
struct ElectionOutcome {
  Uuid topic;
  std::int32_t partition = 0;
  ErrorCode error = ErrorCode::kNone;
  std::string message;
};

// A partition reassignment asked of the controller (Kafka's
// AlterPartitionReassignments, one partition): `replicas` is the target
// replica set, nullopt cancels the reassignment in progress. The
// controller decides it into the partition's new state
// (reassignment.h has the rules).
struct AlterReassignment {
  Uuid topic;
  std::int32_t partition = 0;
  std::optional<std::vector<std::int32_t>> replicas;
};

using MetadataChange =
    std::variant<RegisterBroker, CreateTopic, DeleteTopic, CreatePartitions, SetTopicConfigs,
                 SetBrokerConfigs, SetClientQuotas, FenceBroker, SetController, SetPartitionStates,
                 UnregisterBroker, AlterPartition, ElectLeaders, AlterReassignment>;

// For log lines: "CreateTopic", "DeleteTopic", ...
const char* change_name(const MetadataChange& change);

}  // namespace kgw
