#include "src/cluster/placement.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace kgw {

namespace {

std::uint32_t default_random(std::uint32_t bound) {
  static std::mt19937 gen{std::random_device{}()};
  return std::uniform_int_distribution<std::uint32_t>(0, bound - 1)(gen);
}

// Kafka's follower index: the j-th follower of the partition whose leader
// sits at `first` is `1 + (shift + j) % (n - 1)` places after it, so it is
// never the leader itself and the shift moves followers each round.
std::size_t follower_index(std::size_t first, std::int64_t shift, std::int64_t j, std::size_t n) {
  const auto span = static_cast<std::int64_t>(n) - 1;
  const std::int64_t step = 1 + (shift + j) % span;
  return (first + static_cast<std::size_t>(step)) % n;
}

bool has_racks(const std::vector<PlacementBroker>& brokers) {
  return std::any_of(brokers.begin(), brokers.end(),
                     [](const PlacementBroker& b) { return b.rack.has_value(); });
}

}  // namespace

std::vector<PlacementBroker> rack_alternated(std::vector<PlacementBroker> brokers) {
  std::sort(brokers.begin(), brokers.end(),
            [](const PlacementBroker& a, const PlacementBroker& b) { return a.id < b.id; });
  if (!has_racks(brokers)) return brokers;
  // "" sorts first and stands for "no rack" (KRaft treats brokers without
  // a rack as one rack rather than refusing the mix).
  std::map<std::string, std::vector<PlacementBroker>> by_rack;
  for (const PlacementBroker& b : brokers) by_rack[b.rack.value_or("")].push_back(b);
  std::vector<PlacementBroker> out;
  for (std::size_t round = 0; out.size() < brokers.size(); ++round) {
    for (const auto& [rack, members] : by_rack) {
      if (round < members.size()) out.push_back(members[round]);
    }
  }
  return out;
}

ErrorCode place_replicas(const std::vector<PlacementBroker>& brokers, std::int64_t count,
                         std::int32_t replication_factor, const PlacementOptions& options,
                         ReplicaAssignment& out, std::string& message) {
  out.clear();
  const auto rf_text = std::to_string(replication_factor);
  if (replication_factor <= 0) {
    message = "Replication factor must be larger than 0.";
    return ErrorCode::kInvalidReplicationFactor;
  }
  if (brokers.empty()) {
    message = "Unable to replicate the partition " + rf_text +
              " time(s): All brokers are currently fenced.";
    return ErrorCode::kInvalidReplicationFactor;
  }
  if (static_cast<std::size_t>(replication_factor) > brokers.size()) {
    message = "Unable to replicate the partition " + rf_text +
              " time(s): The target replication factor of " + rf_text +
              " cannot be reached because only " + std::to_string(brokers.size()) +
              " broker(s) are registered.";
    return ErrorCode::kInvalidReplicationFactor;
  }
  const std::vector<PlacementBroker> arranged = rack_alternated(brokers);
  const std::size_t n = arranged.size();
  auto random = options.random ? options.random : default_random;
  const auto pick = [&](const std::optional<std::int32_t>& given) -> std::int64_t {
    if (given) return std::max<std::int32_t>(0, *given) % static_cast<std::int64_t>(n);
    return random(static_cast<std::uint32_t>(n));
  };
  const std::int64_t start = pick(options.start_index);
  std::int64_t shift = pick(options.replica_shift);
  const bool racked = has_racks(arranged);
  std::set<std::string> racks;
  for (const PlacementBroker& b : arranged) racks.insert(b.rack.value_or(""));
  // Rack-aware placement walks in steps of a whole rack round so that
  // followers land on other racks first (Kafka multiplies the shift by
  // the number of racks).
  const std::int64_t shift_factor = racked ? static_cast<std::int64_t>(racks.size()) : 1;

  out.reserve(static_cast<std::size_t>(count));
  std::int64_t partition = std::max<std::int32_t>(0, options.first_partition);
  for (std::int64_t i = 0; i < count; ++i, ++partition) {
    if (partition > 0 && partition % static_cast<std::int64_t>(n) == 0) ++shift;
    const auto first = static_cast<std::size_t>((partition + start) % static_cast<std::int64_t>(n));
    std::vector<std::int32_t> replicas{arranged[first].id};
    if (n > 1) {
      std::set<std::string> used_racks{arranged[first].rack.value_or("")};
      std::set<std::int32_t> used{arranged[first].id};
      std::int64_t k = 0;
      while (static_cast<std::int32_t>(replicas.size()) < replication_factor) {
        const PlacementBroker& b = arranged[follower_index(first, shift * shift_factor, k++, n)];
        const std::string rack = b.rack.value_or("");
        // A rack (or broker) is reused only once every one holds a replica.
        const bool rack_ok =
            !racked || used_racks.count(rack) == 0 || used_racks.size() == racks.size();
        const bool broker_ok = used.count(b.id) == 0;
        if (!rack_ok || !broker_ok) continue;
        replicas.push_back(b.id);
        used.insert(b.id);
        used_racks.insert(rack);
      }
    }
    out.push_back(std::move(replicas));
  }
  return ErrorCode::kNone;
}

}  // namespace kgw
