// Unit tests of the GroupCoordinator's membership and rebalancing on a real
// loop and store in a temp dir, with timeouts in milliseconds: a two-member
// rebalance through to the assignment, stale and unknown heartbeats, the
// session timeout, LeaveGroup, the JoinGroup v4+ handshake, and what the
// coordinator answers the OffsetManager through the GroupMembership seam.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "tests/group/group_fixture.h"

using namespace kgw;
using namespace kgw::test;

namespace {

// A coordinator with short timeouts; members are joined v0-3 style (no
// MEMBER_ID_REQUIRED) unless a test asks otherwise.
struct Coordinator {
  Fixture& f;
  GroupCoordinator gc;

  explicit Coordinator(Fixture& fixture, std::int32_t initial_delay_ms = 50)
      : f(fixture), gc(&fixture.loop, *fixture.offsets, config(initial_delay_ms)) {
    REQUIRE(gc.load() == "");
  }
  ~Coordinator() { gc.stop(); }
  static GroupCoordinatorConfig config(std::int32_t initial_delay_ms) {
    GroupCoordinatorConfig c;
    c.min_session_timeout_ms = 10;
    c.initial_rebalance_delay_ms = initial_delay_ms;
    return c;
  }

  // Two members join a new group within the initial delay; both answers.
  std::vector<JoinResult> join_two(const std::string& group, std::int32_t session_ms = 10000) {
    std::vector<JoinResult> joins;
    auto collect = [&](JoinResult r) { joins.push_back(std::move(r)); };
    JoinArgs a = join_args(group);
    a.session_timeout_ms = session_ms;
    gc.join(a, collect);
    gc.join(a, collect);
    f.run_until([&] { return joins.size() == 2; });
    return joins;
  }
  SyncResult sync(const std::string& group, std::int32_t generation, const std::string& member,
                  std::vector<std::pair<std::string, std::string>> assignments = {}) {
    std::optional<SyncResult> result;
    gc.sync(SyncArgs{group, generation, member, std::nullopt, std::nullopt, std::nullopt,
                     std::move(assignments)},
            [&](SyncResult r) { result = std::move(r); });
    f.run_until([&] { return result.has_value(); });
    return *result;
  }
};

const JoinResult& leader_of(const std::vector<JoinResult>& joins) {
  return joins[0].member_id == joins[0].leader ? joins[0] : joins[1];
}
const JoinResult& follower_of(const std::vector<JoinResult>& joins) {
  return joins[0].member_id == joins[0].leader ? joins[1] : joins[0];
}

}  // namespace

TEST_CASE("coordinator: two members join, rebalance, and get the leader's assignment") {
  Fixture f;
  Coordinator c(f);
  const auto joins = c.join_two("g");
  for (const auto& j : joins) {
    CHECK(j.error == ErrorCode::kNone);
    CHECK(j.generation_id == 1);
    CHECK(j.protocol_name == std::optional<std::string>("range"));
  }
  CHECK(joins[0].leader == joins[1].leader);
  const JoinResult& leader = leader_of(joins);
  const JoinResult& follower = follower_of(joins);
  CHECK(leader.members.size() == 2);  // only the leader gets every member's metadata
  CHECK(follower.members.empty());
  CHECK(c.gc.describe("g").state == "CompletingRebalance");

  // The follower's SyncGroup waits for the leader's.
  std::optional<SyncResult> follower_sync;
  c.gc.sync(SyncArgs{"g", 1, follower.member_id, std::nullopt, std::nullopt, std::nullopt, {}},
            [&](SyncResult r) { follower_sync = std::move(r); });
  CHECK_FALSE(follower_sync.has_value());
  const SyncResult leader_sync =
      c.sync("g", 1, leader.member_id, {{leader.member_id, "L"}, {follower.member_id, "F"}});
  CHECK(leader_sync.error == ErrorCode::kNone);
  CHECK(leader_sync.assignment == "L");
  f.run_until([&] { return follower_sync.has_value(); });
  CHECK(follower_sync->error == ErrorCode::kNone);
  CHECK(follower_sync->assignment == "F");

  const GroupDescription d = c.gc.describe("g");
  CHECK(d.state == "Stable");
  CHECK(d.protocol == "range");
  REQUIRE(d.members.size() == 2);
  CHECK(c.gc.list({"stable"}).size() == 1);
  CHECK(c.gc.list({"Empty"}).empty());

  // A restart keeps the generation and the assignment.
  c.gc.stop();
  f.close();
  f.open();
  Coordinator again(f);
  CHECK(again.gc.describe("g").state == "Stable");
  CHECK(again.sync("g", 1, follower.member_id).assignment == "F");
}

TEST_CASE("coordinator: heartbeats of a stale generation or an unknown member") {
  Fixture f;
  Coordinator c(f);
  const auto joins = c.join_two("g");
  const std::string leader = leader_of(joins).member_id;
  const std::string follower = follower_of(joins).member_id;
  // Between JoinGroup and SyncGroup members may heartbeat.
  CHECK(c.gc.heartbeat("g", 1, follower, std::nullopt) == ErrorCode::kNone);
  c.sync("g", 1, leader, {{leader, "L"}, {follower, "F"}});
  c.sync("g", 1, follower);  // else it is removed after the rebalance timeout
  CHECK(c.gc.heartbeat("g", 1, leader, std::nullopt) == ErrorCode::kNone);
  CHECK(c.gc.heartbeat("g", 0, leader, std::nullopt) == ErrorCode::kIllegalGeneration);
  CHECK(c.gc.heartbeat("g", 2, follower, std::nullopt) == ErrorCode::kIllegalGeneration);
  CHECK(c.gc.heartbeat("g", 1, "nobody", std::nullopt) == ErrorCode::kUnknownMemberId);
  CHECK(c.gc.heartbeat("other", 1, leader, std::nullopt) == ErrorCode::kUnknownMemberId);
  CHECK(c.gc.heartbeat("", 1, leader, std::nullopt) == ErrorCode::kInvalidGroupId);
  CHECK(c.sync("g", 0, leader).error == ErrorCode::kIllegalGeneration);
}

TEST_CASE("coordinator: a member that stops heartbeating is removed after its session") {
  Fixture f;
  Coordinator c(f, /*initial_delay_ms=*/0);
  std::optional<JoinResult> join;
  JoinArgs a = join_args("g");
  a.session_timeout_ms = 100;
  c.gc.join(a, [&](JoinResult r) { join = std::move(r); });
  f.run_until([&] { return join.has_value(); });
  REQUIRE(join->error == ErrorCode::kNone);
  const std::string member = join->member_id;
  CHECK(c.sync("g", 1, member, {{member, "A"}}).assignment == "A");
  CHECK(c.gc.describe("g").state == "Stable");
  // Silent past its session timeout: removed, and the group is empty.
  f.run_until([&] { return c.gc.describe("g").state == "Empty"; });
  CHECK(c.gc.describe("g").members.empty());
  CHECK(c.gc.heartbeat("g", 1, member, std::nullopt) == ErrorCode::kUnknownMemberId);
}

TEST_CASE("coordinator: LeaveGroup rebalances the rest; the last one empties the group") {
  Fixture f;
  Coordinator c(f);
  const auto joins = c.join_two("g");
  const std::string leader = leader_of(joins).member_id;
  const std::string follower = follower_of(joins).member_id;
  c.sync("g", 1, leader, {{leader, "L"}, {follower, "F"}});

  LeaveResult left = c.gc.leave(
      "g", {LeaveMember{follower, std::nullopt, ""}, LeaveMember{"nobody", std::nullopt, ""}});
  CHECK(left.error == ErrorCode::kNone);
  CHECK(left.members == std::vector<ErrorCode>{ErrorCode::kNone, ErrorCode::kUnknownMemberId});
  CHECK(c.gc.describe("g").state == "PreparingRebalance");
  CHECK(c.gc.heartbeat("g", 1, leader, std::nullopt) == ErrorCode::kRebalanceInProgress);
  // The leader rejoins: generation 2 with it alone.
  std::optional<JoinResult> rejoin;
  c.gc.join(join_args("g", leader), [&](JoinResult r) { rejoin = std::move(r); });
  f.run_until([&] { return rejoin.has_value(); });
  CHECK(rejoin->generation_id == 2);
  CHECK(rejoin->members.size() == 1);

  CHECK(c.gc.leave("g", {LeaveMember{leader, std::nullopt, ""}}).members ==
        std::vector<ErrorCode>{ErrorCode::kNone});
  f.run_until([&] { return c.gc.describe("g").state == "Empty"; });
}

TEST_CASE("coordinator: a member joins a group its last member left during the initial delay") {
  // The group is PreparingRebalance with no member until the initial
  // rebalance delay ends. Kafka counts every protocol as supported by all
  // zero members then; kgw answered INCONSISTENT_GROUP_PROTOCOL (a Jepsen
  // rolling restart showed it: a consumer restarted within the delay).
  Fixture f;
  Coordinator c(f, /*initial_delay_ms=*/500);
  std::optional<JoinResult> first;
  c.gc.join(join_args("g"), [&](JoinResult r) { first = std::move(r); });
  CHECK_FALSE(first.has_value());  // waits out the initial delay
  const GroupDescription d = c.gc.describe("g");
  REQUIRE(d.members.size() == 1);
  CHECK(c.gc.leave("g", {LeaveMember{d.members[0].member_id, std::nullopt, ""}}).members ==
        std::vector<ErrorCode>{ErrorCode::kNone});
  REQUIRE(first.has_value());
  CHECK(first->error == ErrorCode::kUnknownMemberId);
  CHECK(c.gc.describe("g").state == "PreparingRebalance");

  std::optional<JoinResult> second;
  c.gc.join(join_args("g"), [&](JoinResult r) { second = std::move(r); });
  f.run_until([&] { return second.has_value(); });
  CHECK(second->error == ErrorCode::kNone);
  CHECK(second->generation_id == 1);
  CHECK(second->members.size() == 1);
}

TEST_CASE("coordinator: JoinGroup v4+ hands out the member id first") {
  Fixture f;
  Coordinator c(f, /*initial_delay_ms=*/0);
  JoinArgs a = join_args("g");
  a.require_known_member_id = true;
  std::optional<JoinResult> first;
  c.gc.join(a, [&](JoinResult r) { first = std::move(r); });
  REQUIRE(first.has_value());
  CHECK(first->error == ErrorCode::kMemberIdRequired);
  CHECK(first->member_id.rfind("c-", 0) == 0);  // "<client id>-<uuid>"
  CHECK(c.gc.describe("g").members.empty());    // pending, not a member yet

  std::optional<JoinResult> second;
  a.member_id = first->member_id;
  c.gc.join(a, [&](JoinResult r) { second = std::move(r); });
  f.run_until([&] { return second.has_value(); });
  CHECK(second->error == ErrorCode::kNone);
  CHECK(second->member_id == first->member_id);
  CHECK(second->leader == first->member_id);

  // An unknown member id for a group we do not have must start over.
  std::optional<JoinResult> stranger;
  c.gc.join(join_args("new-group", "made-up"), [&](JoinResult r) { stranger = std::move(r); });
  REQUIRE(stranger.has_value());
  CHECK(stranger->error == ErrorCode::kUnknownMemberId);
}

TEST_CASE("coordinator: what the membership seam answers the offset manager") {
  Fixture f;
  Coordinator c(f);
  GroupMembership& m = c.gc;
  // Unknown group: a generation's commit must rejoin; a plain commit and
  // a transactional one create a group that only stores offsets.
  CHECK(m.admit_commit("g", 1, "x", std::nullopt, false) == ErrorCode::kIllegalGeneration);
  CHECK(c.gc.group_count() == 0);
  CHECK(m.admit_commit("simple", -1, "", std::nullopt, false) == ErrorCode::kNone);
  CHECK(m.admit_commit("txn", -1, "", std::nullopt, true) == ErrorCode::kNone);
  CHECK(c.gc.group_count() == 2);
  CHECK(c.gc.describe("simple").state == "Empty");

  const auto joins = c.join_two("g");
  const std::string leader = leader_of(joins).member_id;
  const std::string follower = follower_of(joins).member_id;
  // CompletingRebalance: the members have no assignment yet.
  CHECK(m.admit_commit("g", 1, leader, std::nullopt, false) == ErrorCode::kRebalanceInProgress);
  c.sync("g", 1, leader, {{leader, "L"}, {follower, "F"}});
  c.sync("g", 1, follower);
  CHECK(m.admit_commit("g", 1, leader, std::nullopt, false) == ErrorCode::kNone);
  CHECK(m.admit_commit("g", 0, leader, std::nullopt, false) == ErrorCode::kIllegalGeneration);
  CHECK(m.admit_commit("g", 1, "nobody", std::nullopt, false) == ErrorCode::kUnknownMemberId);
  // Without a generation only while nobody is a member (but transactions may).
  CHECK(m.admit_commit("g", -1, "", std::nullopt, false) == ErrorCode::kUnknownMemberId);
  CHECK(m.admit_commit("g", -1, "", std::nullopt, true) == ErrorCode::kNone);

  // OffsetDelete of a Stable consumer group: only unsubscribed topics.
  std::vector<ErrorCode> errors(2, ErrorCode::kNone);
  CHECK(m.admit_offset_delete("g", {{"t", 0}, {"u", 0}}, errors) == ErrorCode::kNone);
  CHECK(errors == std::vector<ErrorCode>{ErrorCode::kGroupSubscribedToTopic, ErrorCode::kNone});
  std::vector<ErrorCode> none(1, ErrorCode::kNone);
  CHECK(m.admit_offset_delete("missing", {{"t", 0}}, none) == ErrorCode::kGroupIdNotFound);

  // Retention: how each group's offsets age.
  std::vector<std::pair<std::string, OffsetRetention::Rule>> rules;
  m.for_each_retention([&](const OffsetRetention& r) {
    rules.emplace_back(r.group_id, r.rule);
    if (r.group_id == "g") {
      REQUIRE(r.subscribed != nullptr);
      CHECK(r.subscribed->count("t") == 1);
      CHECK_FALSE(r.empty);
    }
  });
  CHECK(rules == std::vector<std::pair<std::string, OffsetRetention::Rule>>{
                     {"g", OffsetRetention::Rule::kUnsubscribed},
                     {"simple", OffsetRetention::Rule::kSinceCommit},
                     {"txn", OffsetRetention::Rule::kSinceCommit}});

  // DeleteGroups: only empty groups go.
  CHECK(m.remove_groups({"g", "simple", "simple", "missing"}) ==
        std::vector<ErrorCode>{ErrorCode::kNonEmptyGroup, ErrorCode::kNone,
                               ErrorCode::kGroupIdNotFound, ErrorCode::kGroupIdNotFound});
  m.remove_expired_group("txn");
  CHECK(c.gc.group_count() == 1);
  m.ensure_group("back");
  CHECK(c.gc.describe("back").state == "Empty");
}

TEST_CASE("coordinator: state written through a replicator loads into another coordinator") {
  // A cluster's coordinator appends its changes to the replicated
  // __consumer_offsets partition (src/replica/coordinator_log.h) instead
  // of the column family; the partition's next leader replays them.
  Fixture f;
  std::vector<RecordWrite> log;
  f.offsets->set_replicator([&log](std::vector<RecordWrite> writes, Store::Done done) {
    for (auto& w : writes) log.push_back(std::move(w));
    done("");
  });
  Coordinator c(f);
  OffsetManager offsets(&f.loop, *f.offsets, c.gc, OffsetManagerConfig{});
  const auto joins = c.join_two("g");
  const JoinResult& leader = leader_of(joins);
  const JoinResult& follower = follower_of(joins);
  CHECK(c.sync("g", 1, leader.member_id, {{leader.member_id, "L"}, {follower.member_id, "F"}})
            .error == ErrorCode::kNone);
  std::optional<std::vector<ErrorCode>> committed;
  CommitArgs commit;
  commit.group_id = "g";
  commit.generation_id = 1;
  commit.member_id = leader.member_id;
  commit.partitions.push_back(CommitPartition{"t", 0, 42, 3, "m", -1});
  offsets.commit_offsets(commit, [&](std::vector<ErrorCode> e) { committed = std::move(e); });
  f.run_until([&] { return committed.has_value(); });
  CHECK(*committed == std::vector<ErrorCode>{ErrorCode::kNone});
  REQUIRE_FALSE(log.empty());

  // The next leader: the latest value of each key, groups before offsets.
  std::map<std::string, std::optional<std::string>> latest;
  for (const auto& w : log) latest[w.key] = w.value;
  GroupCoordinator next(&f.loop, *f.offsets, Coordinator::config(50));
  OffsetManager next_offsets(&f.loop, *f.offsets, next, OffsetManagerConfig{});
  for (const auto& [key, value] : latest) {
    REQUIRE(value.has_value());
    CHECK(offsets_record_group(key) == std::optional<std::string>("g"));
    CHECK(visit_offsets_record(
              key, *value, [&](GroupRecord r) { next.load_group(std::move(r), true); },
              [&](const std::string& g, const std::string& t, std::int32_t p, CommittedOffset o) {
                next_offsets.load_offset(g, t, p, std::move(o));
              },
              nullptr) == "");
  }
  const GroupDescription d = next.describe("g");
  CHECK(d.state == "Stable");
  CHECK(d.members.size() == 2);
  // The generation and its members carry over: no rejoin needed.
  CHECK(next.heartbeat("g", 1, follower.member_id, std::nullopt) == ErrorCode::kNone);
  const FetchOffsetsResult fetched = next_offsets.fetch_offsets("g", std::nullopt, false);
  REQUIRE(fetched.partitions.size() == 1);
  CHECK(fetched.partitions[0].offset == 42);
  CHECK(fetched.partitions[0].leader_epoch == 3);
  CHECK(fetched.partitions[0].metadata == "m");

  // Leadership lost: a member waiting in a rebalance hears NOT_COORDINATOR
  // and the group and its offsets leave memory.
  std::optional<JoinResult> waiting;
  next.join(join_args("g"), [&](JoinResult r) { waiting = std::move(r); });
  CHECK(next.describe("g").state == "PreparingRebalance");
  auto all = [](const std::string&) { return true; };
  CHECK(next.unload_groups(all) == 1);
  next_offsets.unload_groups(all);
  REQUIRE(waiting.has_value());
  CHECK(waiting->error == ErrorCode::kNotCoordinator);
  CHECK(next.describe("g").state == "Dead");
  CHECK(next_offsets.fetch_offsets("g", std::nullopt, false).partitions.empty());
  next_offsets.stop();
  next.stop();
  offsets.stop();
}
