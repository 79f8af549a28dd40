// Unit tests of the group layer on a real libuv loop and a real store in a
// temp dir: the TimerQueue, the offsets store's codecs and persistence, the
// consumer-protocol parser, and coordinator paths that are slow or awkward
// to reach through clients (timeouts in milliseconds, offset expiry).
#include <doctest/doctest.h>
#include <uv.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/writer.h"
#include "src/group/consumer_protocol.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "storage/offsets_store.h"
#include "storage/store.h"
#include "tests/group/group_fixture.h"

using namespace kgw;
using namespace kgw::test;

TEST_CASE("TimerQueue fires in deadline order, honours cancel, allows re-entry") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    TimerQueue q(&loop);
    std::vector<int> fired;
    q.schedule(30, [&] { fired.push_back(3); });
    const auto cancelled = q.schedule(10, [&] { fired.push_back(99); });
    q.schedule(20, [&] {
      fired.push_back(2);
      q.schedule(0, [&] { fired.push_back(4); });  // from inside a callback
    });
    q.schedule(5, [&] { fired.push_back(1); });
    q.cancel(cancelled);
    q.cancel(12345);                                   // unknown: no effect
    while (q.size() != 0) uv_run(&loop, UV_RUN_ONCE);  // each call fires what is due
    CHECK(fired == std::vector<int>{1, 2, 4, 3});
    q.stop();
    CHECK(q.schedule(1, [] {}) == 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the handle's close callback
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("offsets store codecs round-trip and refuse damage") {
  CommittedOffset o{42, 7, "meta", 1000, -1};
  CommittedOffset back;
  std::string enc = encode_committed_offset(o);
  REQUIRE(decode_committed_offset(enc, back));
  CHECK(back == o);
  CHECK_FALSE(decode_committed_offset(enc.substr(0, enc.size() - 1), back));
  CHECK_FALSE(decode_committed_offset(enc + "x", back));
  std::string bad_format = enc;
  bad_format[0] = 9;
  CHECK_FALSE(decode_committed_offset(bad_format, back));

  GroupRecord g;
  g.group_id = "g";
  g.protocol_type = "consumer";
  g.generation_id = 3;
  g.protocol_name = "range";
  g.leader = "m1";
  g.state_timestamp = 5;
  g.members.push_back(GroupMemberRecord{"m1", "inst", "cid", "/127.0.0.1", 300, 10, "sub", "asg"});
  g.members.push_back(GroupMemberRecord{"m2", std::nullopt, "cid2", "/::1", 1, 2, "", ""});
  GroupRecord gb;
  gb.group_id = "g";
  REQUIRE(decode_group_record(encode_group_record(g), gb));
  CHECK(gb == g);
  // A member count far beyond the bytes present is refused before any
  // allocation.
  std::string huge = encode_group_record(GroupRecord{});
  CHECK_FALSE(decode_group_record(huge.substr(0, huge.size() - 1) + "\x7f", gb));
}

TEST_CASE("offsets store persists groups and offsets across a reopen") {
  Fixture f;
  OffsetsStore::Batch b;
  GroupRecord g;
  g.group_id = "group-a";
  g.protocol_type = "consumer";
  g.generation_id = 4;
  b.put_group(g);
  b.put_offset("group-a", "t", 0, CommittedOffset{10, -1, "", 1, -1});
  b.put_offset("group-a", "t", 1, CommittedOffset{11, -1, "", 1, -1});
  b.put_offset("group-b", "t", 1, CommittedOffset{12, -1, "x", 1, -1});
  // A group id that is a prefix of another must not mix with it.
  b.put_offset("group", "t", 1, CommittedOffset{13, -1, "", 1, -1});
  bool written = false;
  f.offsets->write(std::move(b), [&](const std::string& e) {
    CHECK(e == "");
    written = true;
  });
  f.run_until([&] { return written; });
  OffsetsStore::Batch del;
  del.delete_offset("group-a", "t", 1);
  written = false;
  f.offsets->write(std::move(del), [&](const std::string&) { written = true; });
  f.run_until([&] { return written; });
  f.close();
  f.open();
  std::vector<GroupRecord> groups;
  std::vector<std::string> offsets;
  REQUIRE(f.offsets->load(
              [&](GroupRecord r) { groups.push_back(std::move(r)); },
              [&](const std::string& gid, const std::string& t, std::int32_t p, CommittedOffset o) {
                offsets.push_back(gid + "/" + t + "/" + std::to_string(p) + "=" +
                                  std::to_string(o.offset));
              }) == "");
  REQUIRE(groups.size() == 1);
  CHECK(groups[0] == g);
  CHECK(offsets == std::vector<std::string>{"group/t/1=13", "group-a/t/0=10", "group-b/t/1=12"});
}

TEST_CASE("consumer subscription topics") {
  auto topics = parse_subscription_topics(subscription({"a", "b"}));
  REQUIRE(topics);
  CHECK(*topics == std::set<std::string>{"a", "b"});
  CHECK_FALSE(parse_subscription_topics("\x00"));
  CHECK_FALSE(parse_subscription_topics(std::string("\x00\x00\x7f\xff\xff\xff", 6)));
}

TEST_CASE("coordinator: a member that never sends SyncGroup is removed") {
  Fixture f;
  GroupCoordinatorConfig cfg;
  cfg.initial_rebalance_delay_ms = 0;
  GroupCoordinator gc(&f.loop, *f.offsets, cfg);
  REQUIRE(gc.load() == "");

  std::vector<JoinResult> joins;
  auto collect = [&](JoinResult r) { joins.push_back(std::move(r)); };
  gc.join(join_args("g"), collect);  // v0-3 style: no MEMBER_ID_REQUIRED
  f.run_until([&] { return joins.size() == 1; });
  REQUIRE(joins[0].error == ErrorCode::kNone);
  const std::string leader = joins[0].member_id;
  std::optional<SyncResult> leader_sync;
  gc.sync(SyncArgs{"g", 1, leader, std::nullopt, std::nullopt, std::nullopt, {{leader, "L"}}},
          [&](SyncResult r) { leader_sync = std::move(r); });
  f.run_until([&] { return leader_sync.has_value(); });
  CHECK(static_cast<int>(leader_sync->error) == 0);
  CHECK(leader_sync->assignment == "L");

  // A second member joins; the leader rejoins; generation 2 completes.
  gc.join(join_args("g"), collect);
  f.run_until([&] { return gc.describe("g").state == "PreparingRebalance"; });
  gc.join(join_args("g", leader), collect);
  f.run_until([&] { return joins.size() == 3; });
  const std::string follower =
      joins[1].member_id == leader ? joins[2].member_id : joins[1].member_id;
  CHECK(joins[1].generation_id == 2);
  CHECK(joins[2].generation_id == 2);
  // Only the leader syncs; the follower stays silent past the rebalance
  // timeout (200 ms) and is removed, so the group rebalances without it.
  leader_sync.reset();
  gc.sync(SyncArgs{"g",
                   2,
                   leader,
                   std::nullopt,
                   std::nullopt,
                   std::nullopt,
                   {{leader, "L2"}, {follower, "F2"}}},
          [&](SyncResult r) { leader_sync = std::move(r); });
  f.run_until([&] { return leader_sync.has_value(); });
  CHECK(leader_sync->assignment == "L2");
  f.run_until([&] { return gc.describe("g").state == "PreparingRebalance"; });
  CHECK(gc.describe("g").members.size() == 1);
  CHECK(gc.heartbeat("g", 2, follower, std::nullopt) == ErrorCode::kUnknownMemberId);
  CHECK(gc.heartbeat("g", 2, leader, std::nullopt) == ErrorCode::kRebalanceInProgress);
  gc.stop();
}

TEST_CASE("coordinator: offsets expire and the empty group goes away") {
  Fixture f;
  GroupCoordinatorConfig cfg;
  OffsetManagerConfig ocfg;
  ocfg.offsets_retention_ms = 100;
  ocfg.offsets_retention_check_interval_ms = 20;
  GroupCoordinator gc(&f.loop, *f.offsets, cfg);
  OffsetManager om(&f.loop, *f.offsets, gc, ocfg);
  REQUIRE(gc.load() == "");
  REQUIRE(om.load() == "");
  std::optional<std::vector<ErrorCode>> result;
  CommitArgs c;
  c.group_id = "simple";
  c.partitions.push_back(CommitPartition{"t", 0, 5, -1, std::nullopt, -1});
  om.commit_offsets(c, [&](std::vector<ErrorCode> e) { result = std::move(e); });
  f.run_until([&] { return result.has_value(); });
  CHECK((*result)[0] == ErrorCode::kNone);
  CHECK(om.fetch_offsets("simple", std::nullopt, false).partitions.size() == 1);
  f.run_until([&] { return gc.group_count() == 0; });
  CHECK(gc.describe("simple").state == "Dead");
  om.stop();
  gc.stop();

  // ... and it stays gone after a restart (the deletes were written).
  f.run_until([&] { return true; });
  f.close();
  f.open();
  GroupCoordinator again(&f.loop, *f.offsets, cfg);
  OffsetManager again_offsets(&f.loop, *f.offsets, again, ocfg);
  REQUIRE(again.load() == "");
  REQUIRE(again_offsets.load() == "");
  CHECK(again.group_count() == 0);
  again_offsets.stop();
  again.stop();
}
