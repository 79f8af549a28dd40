// Replica placement: which brokers hold the replicas of new partitions, as
// Kafka places them (AdminUtils.assignReplicasToBrokers, which KRaft's
// StripedReplicaPlacer keeps the spirit of): the leaders of consecutive
// partitions go round robin over the live brokers from a start index, each
// partition's followers follow its leader at a shift that grows every
// round, so leaders and replicas spread evenly; with racks, the brokers
// are interleaved by rack and every rack gets a replica before a rack gets
// a second one.
//
// Threads: none; plain functions of their arguments (no image: kgw-admin's
// reassign --generate links this file alone).
//
// The happy path is: the controller takes the live (unfenced) brokers of
// its image (live_brokers(), metadata_image.h), calls place_replicas() with the partition
// count and replication factor of a CreateTopic or CreatePartitions, and
// writes the assignment it returns. Starts are random unless the caller
// gives them (tests, and a CreatePartitions continuing its topic).
//
// Failure modes: a replication factor below 1, no live broker, or more
// replicas than live brokers is refused with INVALID_REPLICATION_FACTOR
// and Kafka's message; nothing is placed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/cluster/metadata_change.h"

namespace kgw {

struct PlacementBroker {
  std::int32_t id = -1;
  std::optional<std::string> rack;
};

struct PlacementOptions {
  // Index (into the rack-interleaved broker list) of the first
  // partition's leader, and the initial follower shift. nullopt: random
  // (Kafka's default). Default: nullopt.
  std::optional<std::int32_t> start_index;
  std::optional<std::int32_t> replica_shift;
  // The index of the first new partition (a CreatePartitions continues
  // the round robin where the topic left it). Default: 0.
  std::int32_t first_partition = 0;
  // Returns a number in [0, bound). Empty: a process-wide generator.
  std::function<std::uint32_t(std::uint32_t bound)> random;
};

// Places `count` partitions of `replication_factor` replicas each over
// `brokers` (live ones; any order) into `out` (one entry per partition,
// the first replica the leader). kNone, or the error and its message.
ErrorCode place_replicas(const std::vector<PlacementBroker>& brokers, std::int64_t count,
                         std::int32_t replication_factor, const PlacementOptions& options,
                         ReplicaAssignment& out, std::string& message);

// The brokers in Kafka's rack-alternated order: racks by name, each
// rack's brokers by id, taken one per rack in turn (brokers without a
// rack form one rack of their own). Without racks: by id.
std::vector<PlacementBroker> rack_alternated(std::vector<PlacementBroker> brokers);

}  // namespace kgw
