// Tests of the leader election decisions (src/cluster/leader_election.h):
// preferred and unclean elections partition by partition, "all", the cap
// per decision, and which partitions the automatic rebalance moves.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "src/cluster/leader_election.h"

using namespace kgw;

namespace {

Uuid topic_id() {
  Uuid id;
  id.bytes[15] = 7;
  return id;
}

// Topic "t" with one partition per state given (replicas, leader, isr).
ImagePtr image_of(const std::vector<PartitionImage>& states) {
  CreateTopic c;
  c.name = "t";
  c.id = topic_id();
  c.partitions = static_cast<std::int32_t>(states.size());
  for (const PartitionImage& p : states) c.assignments.push_back(p.replicas);
  ImagePtr image = MetadataImage().apply(c);
  SetPartitionStates s{topic_id(), states};
  for (std::size_t i = 0; i < s.partitions.size(); ++i) {
    s.partitions[i].index = static_cast<std::int32_t>(i);
  }
  return image->apply(s);
}

PartitionImage state(std::vector<std::int32_t> replicas, std::int32_t leader,
                     std::vector<std::int32_t> isr) {
  PartitionImage p;
  p.replicas = std::move(replicas);
  p.leader = leader;
  p.isr = std::move(isr);
  p.leader_epoch = 4;
  p.partition_epoch = 9;
  return p;
}

ElectLeaders ask(std::int8_t type, std::vector<std::int32_t> partitions) {
  ElectLeaders e;
  e.election_type = type;
  for (std::int32_t p : partitions) e.partitions.emplace_back(topic_id(), p);
  return e;
}

auto alive_but(std::set<std::int32_t> dead) {
  return [dead](std::int32_t id) { return dead.count(id) == 0; };
}

}  // namespace

TEST_CASE("one election per partition: Kafka's codes and the new states") {
  struct Row {
    const char* what;
    std::int8_t type;
    PartitionImage before;
    std::set<std::int32_t> dead;
    ErrorCode want;
    std::int32_t leader;  // after (the old one when nothing changes)
    std::vector<std::int32_t> isr;
  };
  const std::int8_t P = ElectLeaders::kPreferred, U = ElectLeaders::kUnclean;
  const std::vector<Row> rows = {
      {"preferred leads",
       P,
       state({1, 2, 3}, 1, {1, 2, 3}),
       {},
       ErrorCode::kElectionNotNeeded,
       1,
       {1, 2, 3}},
      {"preferred in ISR and alive",
       P,
       state({1, 2, 3}, 2, {1, 2, 3}),
       {},
       ErrorCode::kNone,
       1,
       {1, 2, 3}},
      {"preferred fenced",
       P,
       state({1, 2, 3}, 2, {1, 2, 3}),
       {1},
       ErrorCode::kPreferredLeaderNotAvailable,
       2,
       {1, 2, 3}},
      {"preferred out of the ISR",
       P,
       state({1, 2, 3}, 2, {2, 3}),
       {},
       ErrorCode::kPreferredLeaderNotAvailable,
       2,
       {2, 3}},
      {"preferred on an offline partition",
       P,
       state({1, 2, 3}, -1, {1}),
       {},
       ErrorCode::kNone,
       1,
       {1}},
      {"unclean with a leader",
       U,
       state({1, 2, 3}, 2, {2}),
       {},
       ErrorCode::kElectionNotNeeded,
       2,
       {2}},
      {"unclean: an ISR member is alive again",
       U,
       state({1, 2, 3}, -1, {3}),
       {},
       ErrorCode::kNone,
       3,
       {3}},
      {"unclean: ISR dead, a replica outside it alive",
       U,
       state({1, 2, 3}, -1, {3}),
       {1, 3},
       ErrorCode::kNone,
       2,
       {2}},
      {"unclean: no replica alive",
       U,
       state({1, 2, 3}, -1, {3}),
       {1, 2, 3},
       ErrorCode::kEligibleLeadersNotAvailable,
       -1,
       {3}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    ImagePtr image = image_of({row.before});
    ElectionDecision d = decide_elections(*image, ask(row.type, {0}), alive_but(row.dead));
    REQUIRE(d.outcomes.size() == 1);
    CHECK(d.outcomes[0].error == row.want);
    CHECK(d.outcomes[0].topic == topic_id());
    CHECK(d.outcomes[0].partition == 0);
    const bool elected = row.want == ErrorCode::kNone;
    REQUIRE(d.changed == (elected ? 1u : 0u));
    if (!elected) {
      CHECK(!d.outcomes[0].message.empty());
      continue;
    }
    const PartitionImage& after = d.changes.at(0).partitions.at(0);
    CHECK(after.leader == row.leader);
    CHECK(after.isr == row.isr);
    CHECK(after.replicas == row.before.replicas);
    CHECK(after.leader_epoch == row.before.leader_epoch + 1);
    CHECK(after.partition_epoch == row.before.partition_epoch + 1);
  }
}

TEST_CASE("unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION") {
  ImagePtr image = image_of({state({1}, 1, {1})});
  ElectLeaders e = ask(ElectLeaders::kPreferred, {0, 5, -1});
  Uuid other;
  other.bytes[0] = 1;
  e.partitions.emplace_back(other, 0);
  ElectionDecision d = decide_elections(*image, e, alive_but({}));
  REQUIRE(d.outcomes.size() == 4);
  CHECK(d.outcomes[0].error == ErrorCode::kElectionNotNeeded);
  for (std::size_t i = 1; i < 4; ++i) {
    CHECK(d.outcomes[i].error == ErrorCode::kUnknownTopicOrPartition);
  }
  CHECK(d.changes.empty());
}

TEST_CASE("all partitions: the ones not needing an election are left out, as Kafka") {
  ImagePtr image =
      image_of({state({1, 2}, 1, {1, 2}), state({1, 2}, 2, {1, 2}), state({3, 2}, 2, {2})});
  ElectLeaders e;
  e.all = true;
  ElectionDecision d = decide_elections(*image, e, alive_but({}));
  REQUIRE(d.outcomes.size() == 2);
  CHECK(d.outcomes[0].partition == 1);
  CHECK(d.outcomes[0].error == ErrorCode::kNone);
  CHECK(d.outcomes[1].partition == 2);
  CHECK(d.outcomes[1].error == ErrorCode::kPreferredLeaderNotAvailable);
  REQUIRE(d.changes.size() == 1);
  CHECK(d.changes[0].partitions.size() == 1);
}

TEST_CASE("a decision moves at most max_changes partitions; the rest are asked again") {
  ImagePtr image =
      image_of({state({1, 2}, 2, {1, 2}), state({1, 2}, 2, {1, 2}), state({1, 2}, 2, {1, 2})});
  ElectionDecision d =
      decide_elections(*image, ask(ElectLeaders::kPreferred, {0, 1, 2}), alive_but({}), 2);
  CHECK(d.changed == 2);
  REQUIRE(d.outcomes.size() == 3);
  CHECK(d.outcomes[2].error == ErrorCode::kRequestTimedOut);
}

TEST_CASE("the rebalance lists partitions of brokers above the imbalance percentage") {
  // Broker 1 is preferred for 0-3 and leads only 0 (75% imbalance); of
  // 1-3, partition 3's preferred replica is out of the ISR. Broker 2 is
  // preferred for 4 and leads it.
  ImagePtr image =
      image_of({state({1, 2}, 1, {1, 2}), state({1, 2}, 2, {1, 2}), state({1, 2}, 2, {1, 2}),
                state({1, 2}, 2, {2}), state({2, 1}, 2, {1, 2})});
  std::vector<std::string> report;
  ElectLeaders e = imbalanced_partitions(*image, alive_but({}), 10, &report);
  CHECK(e.election_type == ElectLeaders::kPreferred);
  CHECK_FALSE(e.all);
  REQUIRE(e.partitions.size() == 2);
  CHECK(e.partitions[0].second == 1);
  CHECK(e.partitions[1].second == 2);
  REQUIRE(report.size() == 1);
  CHECK(report[0].find("broker 1 leads 1 of the 4") == 0);

  // At or below the percentage nothing moves; a dead preferred replica
  // is never listed.
  CHECK(imbalanced_partitions(*image, alive_but({}), 75).partitions.empty());
  CHECK(imbalanced_partitions(*image, alive_but({1}), 10).partitions.empty());
}
