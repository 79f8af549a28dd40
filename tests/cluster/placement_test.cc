// Kafka's replica placement: leaders and replicas spread evenly over the
// live brokers, racks before repeats, the replication factor checked.
#include "src/cluster/placement.h"

#include <doctest/doctest.h>

#include <map>
#include <set>

#include "src/cluster/metadata_image.h"

using namespace kgw;

namespace {

std::vector<PlacementBroker> brokers(std::int32_t n) {
  std::vector<PlacementBroker> out;
  for (std::int32_t id = 1; id <= n; ++id) out.push_back(PlacementBroker{id, std::nullopt});
  return out;
}

PlacementOptions fixed(std::int32_t start = 0, std::int32_t shift = 0) {
  PlacementOptions o;
  o.start_index = start;
  o.replica_shift = shift;
  return o;
}

ReplicaAssignment place(const std::vector<PlacementBroker>& live, std::int64_t count,
                        std::int32_t rf, const PlacementOptions& options) {
  ReplicaAssignment out;
  std::string message;
  REQUIRE(place_replicas(live, count, rf, options, out, message) == ErrorCode::kNone);
  REQUIRE(out.size() == static_cast<std::size_t>(count));
  return out;
}

// Every partition has `rf` distinct replicas; returns leader and replica
// counts per broker.
void tally(const ReplicaAssignment& a, std::size_t rf, std::map<std::int32_t, int>& leaders,
           std::map<std::int32_t, int>& replicas) {
  for (const auto& r : a) {
    REQUIRE(r.size() == rf);
    CHECK(std::set<std::int32_t>(r.begin(), r.end()).size() == rf);
    ++leaders[r.front()];
    for (std::int32_t b : r) ++replicas[b];
  }
}

}  // namespace

TEST_CASE("three brokers: Kafka's round robin with a shift that grows each round") {
  const ReplicaAssignment a = place(brokers(3), 6, 3, fixed());
  CHECK(a[0] == std::vector<std::int32_t>{1, 2, 3});
  CHECK(a[1] == std::vector<std::int32_t>{2, 3, 1});
  CHECK(a[2] == std::vector<std::int32_t>{3, 1, 2});
  // The second round shifts the followers.
  CHECK(a[3] == std::vector<std::int32_t>{1, 3, 2});
  CHECK(a[4] == std::vector<std::int32_t>{2, 1, 3});
  CHECK(a[5] == std::vector<std::int32_t>{3, 2, 1});
}

TEST_CASE("leaders and replicas spread evenly over 3 and 5 brokers from any start") {
  for (std::int32_t n : {3, 5}) {
    for (std::int32_t start = 0; start < n; ++start) {
      for (std::int32_t rf = 1; rf <= std::min(n, 3); ++rf) {
        CAPTURE(n);
        CAPTURE(start);
        CAPTURE(rf);
        std::map<std::int32_t, int> leaders, replicas;
        tally(place(brokers(n), n * 4, rf, fixed(start, start)), static_cast<std::size_t>(rf),
              leaders, replicas);
        REQUIRE(leaders.size() == static_cast<std::size_t>(n));
        REQUIRE(replicas.size() == static_cast<std::size_t>(n));
        for (const auto& [id, c] : leaders) CHECK(c == 4);
        for (const auto& [id, c] : replicas) CHECK(c == 4 * rf);
      }
    }
  }
}

TEST_CASE("the start comes from the injected random source") {
  PlacementOptions o;
  std::vector<std::uint32_t> asked;
  o.random = [&](std::uint32_t bound) {
    asked.push_back(bound);
    return bound - 1;
  };
  const ReplicaAssignment a = place(brokers(5), 2, 1, o);
  CHECK(asked == std::vector<std::uint32_t>{5, 5});
  CHECK(a[0] == std::vector<std::int32_t>{5});
  CHECK(a[1] == std::vector<std::int32_t>{1});
}

TEST_CASE("a CreatePartitions continues the round robin at its first new partition") {
  PlacementOptions o = fixed();
  o.first_partition = 3;
  const ReplicaAssignment a = place(brokers(3), 2, 3, o);
  CHECK(a[0] == std::vector<std::int32_t>{1, 3, 2});
  CHECK(a[1] == std::vector<std::int32_t>{2, 1, 3});
}

TEST_CASE("with racks, every rack holds a replica before one holds two") {
  std::vector<PlacementBroker> live{{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}, {5, "c"}, {6, "c"}};
  const std::vector<PlacementBroker> order = rack_alternated(live);
  std::vector<std::int32_t> ids;
  for (const auto& b : order) ids.push_back(b.id);
  CHECK(ids == std::vector<std::int32_t>{1, 3, 5, 2, 4, 6});
  const std::map<std::int32_t, std::string> rack{{1, "a"}, {2, "a"}, {3, "b"},
                                                 {4, "b"}, {5, "c"}, {6, "c"}};
  for (std::int32_t start = 0; start < 6; ++start) {
    for (std::int32_t rf : {2, 3, 4}) {
      CAPTURE(start);
      CAPTURE(rf);
      std::map<std::int32_t, int> leaders, replicas;
      const ReplicaAssignment a = place(live, 12, rf, fixed(start, start));
      tally(a, static_cast<std::size_t>(rf), leaders, replicas);
      for (const auto& r : a) {
        std::set<std::string> racks;
        for (std::int32_t b : r) racks.insert(rack.at(b));
        CHECK(racks.size() == std::min<std::size_t>(3, static_cast<std::size_t>(rf)));
      }
      for (const auto& [id, c] : leaders) CHECK(c == 2);
    }
  }
  // Two racks of unequal size: still one replica per rack first.
  std::vector<PlacementBroker> uneven{{1, "a"}, {2, "a"}, {3, "a"}, {4, "b"}};
  for (const auto& r : place(uneven, 8, 2, fixed(1, 2))) {
    const bool on_b = r[0] == 4 || r[1] == 4;
    CHECK(on_b);
  }
}

TEST_CASE("a replication factor the live brokers cannot hold is refused as Kafka does") {
  ReplicaAssignment out;
  std::string message;
  CHECK(place_replicas(brokers(3), 1, 4, fixed(), out, message) ==
        ErrorCode::kInvalidReplicationFactor);
  CHECK(message ==
        "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot "
        "be reached because only 3 broker(s) are registered.");
  CHECK(out.empty());
  CHECK(place_replicas(brokers(3), 1, 0, fixed(), out, message) ==
        ErrorCode::kInvalidReplicationFactor);
  CHECK(message == "Replication factor must be larger than 0.");
  CHECK(place_replicas({}, 1, 1, fixed(), out, message) == ErrorCode::kInvalidReplicationFactor);
  CHECK(message ==
        "Unable to replicate the partition 1 time(s): All brokers are currently fenced.");
}

TEST_CASE("only unfenced brokers of the image are placed on; one node keeps everything") {
  ImagePtr image = std::make_shared<MetadataImage>();
  for (std::int32_t id = 1; id <= 3; ++id) {
    BrokerImage b;
    b.id = id;
    image = image->apply(RegisterBroker{b});
  }
  image = image->apply(FenceBroker{2});
  const auto live = live_brokers(*image);
  REQUIRE(live.size() == 2);
  for (const auto& r : place(live, 10, 2, PlacementOptions{})) {
    CHECK(std::find(r.begin(), r.end(), 2) == r.end());
  }
  ImagePtr one = std::make_shared<MetadataImage>();
  BrokerImage me;
  me.id = 7;
  one = one->apply(RegisterBroker{me});
  CHECK(one->assign(3, 1) == ReplicaAssignment(3, std::vector<std::int32_t>{7}));
}
