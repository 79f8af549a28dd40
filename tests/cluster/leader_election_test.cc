// Tests of the leader election decisions (src/cluster/leader_election.h):
// preferred and unclean elections partition by partition, "all", the cap
// per decision, which partitions the automatic rebalance moves, and the
// liveness pass with eligible leader replicas (KIP-966) and wiped logs
// (KIP-903).
#include <doctest/doctest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/cluster/alter_partition.h"
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

// --- Liveness and eligible leader replicas (KIP-966, KIP-903).

namespace {

// Brokers `dead` are fenced, `shutting` in controlled shutdown,
// `restarted` new incarnations with their log, `lost` new incarnations
// whose log is gone.
struct Brokers {
  std::set<std::int32_t> dead, shutting, restarted, lost;
  LivenessView view() const {
    LivenessView v;
    v.alive = [this](std::int32_t id) { return dead.count(id) == 0; };
    v.eligible = [this](std::int32_t id) { return dead.count(id) == 0 && shutting.count(id) == 0; };
    v.restarted = [this](std::int32_t id) { return restarted.count(id) != 0; };
    v.log_lost = [this](std::int32_t id) { return lost.count(id) != 0; };
    return v;
  }
};

PartitionImage with_elr(PartitionImage p, std::vector<std::int32_t> elr) {
  p.elr = std::move(elr);
  return p;
}

using Ids = std::vector<std::int32_t>;

}  // namespace

TEST_CASE("effective min ISR: min.insync.replicas capped by the replicas, at least 1") {
  CHECK(effective_min_isr(2, 3) == 2);
  CHECK(effective_min_isr(5, 3) == 3);
  CHECK(effective_min_isr(2, 1) == 1);
  CHECK(effective_min_isr(0, 3) == 1);
}

TEST_CASE("ELR: members leaving an ISR below min ISR join it; back at min ISR it empties") {
  Brokers b;
  const PartitionImage full = state({1, 2, 3}, 1, {1, 2, 3});
  b.dead = {3};
  LivenessOutcome o = liveness_next(full, 2, b.view(), false);
  CHECK(o.changed);
  CHECK(o.next.isr == Ids{1, 2});
  CHECK(o.next.elr.empty());  // 2 >= min ISR: nothing at risk
  CHECK(o.next.leader == 1);
  CHECK(o.next.leader_epoch == 4);
  CHECK(o.next.partition_epoch == 10);

  b.dead = {2, 3};
  o = liveness_next(o.next, 2, b.view(), false);
  CHECK(o.next.isr == Ids{1});
  CHECK(o.next.elr == Ids{2});  // left while the ISR went below 2
  CHECK(o.next.leader == 1);

  // The leader dies too: the ISR keeps it (KRaft never empties it), and
  // the ELR cannot lead (dead): offline.
  b.dead = {1, 2, 3};
  o = liveness_next(o.next, 2, b.view(), false);
  CHECK(o.next.leader == -1);
  CHECK(o.next.isr == Ids{1});
  CHECK(o.next.elr == Ids{2});

  // 2 returns (with its log): it leads from the ELR, the ISR it alone, the
  // old leader now in the ELR.
  b.dead = {1, 3};
  o = liveness_next(o.next, 2, b.view(), false);
  CHECK(o.from_elr);
  CHECK_FALSE(o.unclean);
  CHECK(o.next.leader == 2);
  CHECK(o.next.isr == Ids{2});
  CHECK(o.next.elr == Ids{1});
  CHECK(o.new_leader_epoch);

  // The leader's AlterPartition takes 1 back: at min ISR, the ELR empties.
  ImagePtr image = image_of({o.next});
  AlterPartition expand{
      2, 0, topic_id(), 0, o.next.leader_epoch, o.next.partition_epoch, {{2, -1}, {1, -1}}};
  std::optional<PartitionImage> grown = altered_partition(*image, expand, 2);
  REQUIRE(grown);
  CHECK(grown->isr == Ids{2, 1});
  CHECK(grown->elr.empty());
}

TEST_CASE("ELR through AlterPartition: a shrink below min ISR keeps the members that left") {
  ImagePtr image = image_of({state({1, 2, 3}, 1, {1, 2, 3})});
  AlterPartition shrink{1, 0, topic_id(), 0, 4, 9, {{1, -1}}};
  std::optional<PartitionImage> p = altered_partition(*image, shrink, 2);
  REQUIRE(p);
  CHECK(p->isr == Ids{1});
  CHECK(p->elr == Ids{2, 3});
  // min ISR 1 (one node, or the topic's): no ELR.
  p = altered_partition(*image, shrink, 1);
  REQUIRE(p);
  CHECK(p->elr.empty());
}

TEST_CASE("a leader whose disk was wiped is never elected from an ISR it stood alone in") {
  // Before: the ISR had shrunk to the leader (followers lagging), the
  // followers in the ELR. The leader dies, its disk is wiped, it comes
  // back before anyone took over.
  Brokers b;
  const PartitionImage alone = with_elr(state({1, 2, 3}, 1, {1}), {2, 3});
  b.restarted = {1};
  b.lost = {1};
  LivenessOutcome o = liveness_next(alone, 2, b.view(), false);
  CHECK(o.next.leader == 2);  // an ELR member, which has every committed record
  CHECK(o.from_elr);
  CHECK(o.next.isr == Ids{2});
  CHECK(o.next.elr == Ids{3});             // not 1: its log is gone
  CHECK(o.next.last_known_elr == Ids{1});  // it was eligible, last known
  CHECK(o.next.leader_epoch == 5);

  SUBCASE("no ELR: offline, and the wiped broker leaves the ISR it was last in") {
    b.dead = {2, 3};
    o = liveness_next(state({1, 2, 3}, 1, {1}), 2, b.view(), false);
    CHECK(o.next.leader == -1);
    CHECK(o.next.isr.empty());
    CHECK(o.next.elr.empty());
    CHECK(o.next.last_known_elr == Ids{1});
    // Once handled, it is a replica outside the ISR: an offline partition
    // does not pick it up again.
    b.lost.clear();
    b.restarted.clear();
    LivenessOutcome later = liveness_next(o.next, 2, b.view(), false);
    CHECK_FALSE(later.changed);
    CHECK(later.next.leader == -1);
    // Only unclean election may (and says so).
    later = liveness_next(o.next, 2, b.view(), true);
    CHECK(later.next.leader == 1);
    CHECK(later.unclean);
    CHECK(later.next.isr == Ids{1});
    CHECK(later.next.last_known_elr.empty());
  }
  SUBCASE("the same broker restarted with its log keeps the leadership, in a new epoch") {
    b.lost.clear();
    b.dead = {2, 3};
    o = liveness_next(state({1, 2, 3}, 1, {1}), 2, b.view(), false);
    CHECK(o.next.leader == 1);
    CHECK(o.next.leader_epoch == 5);
    CHECK(o.next.isr == Ids{1});
  }
  SUBCASE("a wiped follower leaves the ISR and ELR; the leader stays") {
    b.restarted = {3};
    b.lost = {3};
    o = liveness_next(with_elr(state({1, 2, 3}, 1, {1}), {3}), 2, b.view(), false);
    CHECK(o.next.leader == 1);
    CHECK(o.next.leader_epoch == 4);
    CHECK(o.next.isr == Ids{1});
    CHECK(o.next.elr.empty());
  }
}

TEST_CASE("a partition of one replica, back with a wiped disk, is led by it again") {
  // Nothing else can hold what it had: staying offline saves nothing.
  Brokers b;
  b.restarted = {2};
  b.lost = {2};
  LivenessOutcome o = liveness_next(state({2}, 2, {2}), 1, b.view(), false);
  CHECK(o.next.leader == 2);
  CHECK(o.unclean);
  CHECK(o.next.isr == Ids{2});
  CHECK(o.next.leader_epoch == 5);
  // Not while it is dead.
  b.dead = {2};
  o = liveness_next(state({2}, 2, {2}), 1, b.view(), false);
  CHECK(o.next.leader == -1);
}

TEST_CASE("an unclean ElectLeaders takes an ELR member before a replica outside both") {
  ImagePtr image = image_of({with_elr(state({1, 2, 3}, -1, {1}), {3})});
  ElectionDecision d = decide_elections(*image, ask(ElectLeaders::kUnclean, {0}), alive_but({1}));
  REQUIRE(d.changes.size() == 1);
  const PartitionImage& p = d.changes[0].partitions[0];
  CHECK(p.leader == 3);
  CHECK(p.isr == Ids{3});
  CHECK(p.elr.empty());
}

TEST_CASE("last known ELR: set as members lose eligibility, kept offline, cleared at min ISR") {
  // RF 3, min ISR 2: the ISR shrank to the leader, the others are the ELR.
  Brokers b;
  PartitionImage p = with_elr(state({1, 2, 3}, 1, {1}), {2, 3});
  CHECK(liveness_next(p, 2, b.view(), false).next.last_known_elr.empty());

  // 3 comes back with its disk wiped: out of the ELR, into the last known
  // ELR.
  b.restarted = {3};
  b.lost = {3};
  LivenessOutcome o = liveness_next(p, 2, b.view(), false);
  CHECK(o.changed);
  CHECK(o.next.elr == Ids{2});
  CHECK(o.next.last_known_elr == Ids{3});
  CHECK(o.next.partition_epoch == 10);

  // 2 too: the ELR is empty; the last known ELR holds both.
  b.restarted = {2};
  b.lost = {2};
  o = liveness_next(o.next, 2, b.view(), false);
  CHECK(o.next.elr.empty());
  CHECK(o.next.last_known_elr == Ids{2, 3});

  // The leader dies: offline, and the last known ELR is kept (a pass that
  // changes nothing writes nothing).
  b = Brokers{};
  b.dead = {1};
  o = liveness_next(o.next, 2, b.view(), false);
  CHECK(o.next.leader == -1);
  CHECK(o.next.isr == Ids{1});
  CHECK(o.next.last_known_elr == Ids{2, 3});
  CHECK_FALSE(liveness_next(o.next, 2, b.view(), false).changed);

  // 1 returns and leads again; the ISR is still below min ISR: kept.
  b = Brokers{};
  o = liveness_next(o.next, 2, b.view(), false);
  CHECK(o.next.leader == 1);
  CHECK(o.next.last_known_elr == Ids{2, 3});

  // A member rejoining the ISR leaves the last known ELR; back at min ISR
  // it empties.
  ImagePtr image = image_of({o.next});
  AlterPartition expand{
      1, 0, topic_id(), 0, o.next.leader_epoch, o.next.partition_epoch, {{1, -1}, {2, -1}}};
  std::optional<PartitionImage> grown = altered_partition(*image, expand, 3);
  REQUIRE(grown);
  CHECK(grown->elr.empty());
  CHECK(grown->last_known_elr == Ids{3});
  grown = altered_partition(*image, expand, 2);
  REQUIRE(grown);
  CHECK(grown->last_known_elr.empty());

  SUBCASE("an unclean election clears it") {
    Brokers d;
    d.dead = {1};
    PartitionImage offline = state({1, 2, 3}, -1, {1});
    offline.last_known_elr = {2, 3};
    LivenessOutcome u = liveness_next(offline, 2, d.view(), true);
    CHECK(u.unclean);
    CHECK(u.next.leader == 2);
    CHECK(u.next.last_known_elr.empty());
    ImagePtr img = image_of({offline});
    ElectionDecision e = decide_elections(*img, ask(ElectLeaders::kUnclean, {0}), alive_but({1}));
    REQUIRE(e.changes.size() == 1);
    CHECK(e.changes[0].partitions[0].last_known_elr.empty());
  }
}
