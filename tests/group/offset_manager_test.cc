// Unit tests of the OffsetManager on a real loop and store in a temp dir,
// with a fake GroupMembership (the seam is all it sees of the groups) and
// an injected clock: commit then fetch, persistence across a restart,
// retention expiry, transactional offsets until their marker, deletes.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "src/group/group_membership.h"
#include "src/group/offset_manager.h"
#include "tests/group/group_fixture.h"

using namespace kgw;
using namespace kgw::test;

namespace {

// Membership as the manager sees it: what it answers is set by the test,
// what the manager tells it is recorded.
struct FakeMembership final : GroupMembership {
  ErrorCode commit_answer = ErrorCode::kNone;
  ErrorCode delete_answer = ErrorCode::kNone;
  std::set<std::string> subscribed_topics;  // GROUP_SUBSCRIBED_TO_TOPIC for these
  std::vector<OffsetRetention> groups;      // what for_each_retention reports
  std::set<std::string> known;              // from ensure_group
  std::vector<std::string> expired;         // from remove_expired_group
  std::vector<bool> last_commit_transactional;

  ErrorCode admit_commit(const std::string&, std::int32_t, const std::string&,
                         const std::optional<std::string>&, bool transactional) override {
    last_commit_transactional.push_back(transactional);
    return commit_answer;
  }
  ErrorCode admit_offset_delete(const std::string&,
                                const std::vector<std::pair<std::string, std::int32_t>>& parts,
                                std::vector<ErrorCode>& errors) const override {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (subscribed_topics.count(parts[i].first) != 0) {
        errors[i] = ErrorCode::kGroupSubscribedToTopic;
      }
    }
    return delete_answer;
  }
  void ensure_group(const std::string& group_id) override { known.insert(group_id); }
  void for_each_retention(const std::function<void(const OffsetRetention&)>& f) const override {
    for (const auto& r : groups) f(r);
  }
  void remove_expired_group(const std::string& group_id) override {
    expired.push_back(group_id);
    std::erase_if(groups, [&](const OffsetRetention& r) { return r.group_id == group_id; });
  }
  std::vector<ErrorCode> remove_groups(const std::vector<std::string>& ids) override {
    std::vector<ErrorCode> errors;
    for (const auto& id : ids) {
      errors.push_back(known.erase(id) != 0 ? ErrorCode::kNone : ErrorCode::kGroupIdNotFound);
    }
    return errors;
  }
};

OffsetRetention retention(const std::string& group_id, OffsetRetention::Rule rule, bool empty) {
  OffsetRetention r;
  r.group_id = group_id;
  r.rule = rule;
  r.empty = empty;
  return r;
}

// A manager with a fake membership and a clock the test moves; no expiry
// timer (the test runs expire_offsets() itself).
struct Offsets {
  Fixture& f;
  FakeMembership membership;
  std::int64_t now = 1'000'000;
  std::unique_ptr<OffsetManager> manager;

  explicit Offsets(Fixture& fixture, std::int64_t retention_ms = 100) : f(fixture) {
    open(retention_ms);
  }
  ~Offsets() {
    if (manager) manager->stop();
  }
  void open(std::int64_t retention_ms = 100) {
    OffsetManagerConfig cfg;
    cfg.offsets_retention_ms = retention_ms;
    cfg.offsets_retention_check_interval_ms = 0;
    cfg.max_metadata_bytes = 8;
    manager = std::make_unique<OffsetManager>(&f.loop, *f.offsets, membership, cfg,
                                              [this] { return now; });
    REQUIRE(manager->load() == "");
  }
  // Stops the manager and the store, reopens both, loads again.
  void restart() {
    manager->stop();
    manager.reset();
    f.close();
    f.open();
    membership.known.clear();
    open();
  }

  std::vector<ErrorCode> commit(const std::string& group, std::vector<CommitPartition> parts,
                                std::int64_t retention_time_ms = -1) {
    CommitArgs c;
    c.group_id = group;
    c.retention_time_ms = retention_time_ms;
    c.partitions = std::move(parts);
    std::optional<std::vector<ErrorCode>> result;
    manager->commit_offsets(std::move(c), [&](std::vector<ErrorCode> e) { result = std::move(e); });
    f.run_until([&] { return result.has_value(); });
    return *result;
  }
  std::vector<ErrorCode> commit_txn(const std::string& group, std::int64_t pid,
                                    std::vector<CommitPartition> parts) {
    TxnCommitArgs c;
    c.group_id = group;
    c.producer_id = pid;
    c.partitions = std::move(parts);
    std::optional<std::vector<ErrorCode>> result;
    manager->commit_txn_offsets(std::move(c),
                                [&](std::vector<ErrorCode> e) { result = std::move(e); });
    f.run_until([&] { return result.has_value(); });
    return *result;
  }
  void complete_txn(const std::string& group, std::int64_t pid, bool commit) {
    std::optional<std::string> result;
    manager->complete_txn_offsets(group, pid, commit, [&](const std::string& e) { result = e; });
    f.run_until([&] { return result.has_value(); });
    CHECK(*result == "");
  }
  // The offset of one partition (-1: none), and its error.
  std::pair<std::int64_t, ErrorCode> fetch(const std::string& group, const std::string& topic,
                                           std::int32_t partition, bool require_stable = false) {
    std::vector<std::pair<std::string, std::vector<std::int32_t>>> query;
    query.emplace_back(topic, std::vector<std::int32_t>{partition});
    FetchOffsetsResult r = manager->fetch_offsets(group, query, require_stable);
    REQUIRE(r.partitions.size() == 1);
    return {r.partitions[0].offset, r.partitions[0].error};
  }
};

CommitPartition part(const std::string& topic, std::int32_t p, std::int64_t offset,
                     std::optional<std::string> metadata = std::nullopt) {
  return CommitPartition{topic, p, offset, 3, std::move(metadata), -1};
}

}  // namespace

TEST_CASE("offsets: commit then fetch, and a restart keeps them") {
  Fixture f;
  Offsets o(f);
  const auto errors = o.commit("g", {part("t", 0, 42, "meta"), part("t", 1, 7, "too long meta")});
  CHECK(errors == std::vector<ErrorCode>{ErrorCode::kNone, ErrorCode::kOffsetMetadataTooLarge});
  CHECK(o.membership.known.count("g") == 1);  // the group exists because it holds offsets
  CHECK(o.membership.last_commit_transactional == std::vector<bool>{false});

  FetchOffsetsResult all = o.manager->fetch_offsets("g", std::nullopt, false);
  REQUIRE(all.partitions.size() == 1);
  CHECK(all.partitions[0].topic == "t");
  CHECK(all.partitions[0].partition == 0);
  CHECK(all.partitions[0].offset == 42);
  CHECK(all.partitions[0].leader_epoch == 3);
  CHECK(all.partitions[0].metadata == "meta");
  CHECK(o.fetch("g", "t", 1).first == -1);      // rejected: never stored
  CHECK(o.fetch("other", "t", 0).first == -1);  // unknown group: no offset, no error
  CHECK(o.manager->fetch_offsets("other", std::nullopt, false).partitions.empty());

  o.restart();
  CHECK(o.fetch("g", "t", 0) == std::pair<std::int64_t, ErrorCode>{42, ErrorCode::kNone});
  CHECK(o.membership.known.count("g") == 1);  // loaded offsets make the group known
}

TEST_CASE("offsets: a commit membership refuses stores nothing") {
  Fixture f;
  Offsets o(f);
  o.membership.commit_answer = ErrorCode::kIllegalGeneration;
  CHECK(o.commit("g", {part("t", 0, 1), part("t", 1, 2)}) ==
        std::vector<ErrorCode>{ErrorCode::kIllegalGeneration, ErrorCode::kIllegalGeneration});
  CHECK(o.fetch("g", "t", 0).first == -1);
  o.restart();
  CHECK(o.fetch("g", "t", 0).first == -1);
}

TEST_CASE("offsets: retention expiry follows the injected clock") {
  Fixture f;
  Offsets o(f, /*retention_ms=*/100);
  REQUIRE(o.commit("only-offsets", {part("t", 0, 5)}) == std::vector<ErrorCode>{ErrorCode::kNone});
  REQUIRE(o.commit("consumers", {part("t", 0, 6), part("gone", 0, 7)}) ==
          std::vector<ErrorCode>{ErrorCode::kNone, ErrorCode::kNone});
  // An explicit retention (OffsetCommit v2-v4) overrides the broker's.
  REQUIRE(o.commit("explicit", {part("t", 0, 8)}, /*retention_time_ms=*/1000) ==
          std::vector<ErrorCode>{ErrorCode::kNone});
  const std::set<std::string> subscribed{"t"};
  OffsetRetention consumers = retention("consumers", OffsetRetention::Rule::kUnsubscribed, false);
  consumers.subscribed = &subscribed;
  o.membership.groups = {retention("only-offsets", OffsetRetention::Rule::kSinceCommit, true),
                         consumers,
                         retention("explicit", OffsetRetention::Rule::kSinceCommit, true)};

  o.now += 99;
  o.manager->expire_offsets();
  CHECK(o.fetch("only-offsets", "t", 0).first == 5);
  CHECK(o.fetch("consumers", "gone", 0).first == 7);
  CHECK(o.membership.expired.empty());

  o.now += 1;  // 100 ms after the commits
  o.manager->expire_offsets();
  CHECK(o.fetch("only-offsets", "t", 0).first == -1);
  CHECK(o.fetch("consumers", "t", 0).first == 6);      // subscribed: kept
  CHECK(o.fetch("consumers", "gone", 0).first == -1);  // nobody subscribes: expired
  CHECK(o.fetch("explicit", "t", 0).first == 8);
  // The empty group left without offsets goes; the running one stays.
  CHECK(o.membership.expired == std::vector<std::string>{"only-offsets"});

  o.now += 900;
  o.manager->expire_offsets();
  CHECK(o.fetch("explicit", "t", 0).first == -1);

  // The deletes were written.
  f.run_until([] { return true; });
  o.restart();
  CHECK(o.fetch("only-offsets", "t", 0).first == -1);
  CHECK(o.fetch("consumers", "gone", 0).first == -1);
  CHECK(o.fetch("consumers", "t", 0).first == 6);
}

TEST_CASE("offsets: an empty group's offsets age from when it became empty") {
  Fixture f;
  Offsets o(f, /*retention_ms=*/100);
  REQUIRE(o.commit("g", {part("t", 0, 5)}) == std::vector<ErrorCode>{ErrorCode::kNone});
  OffsetRetention r = retention("g", OffsetRetention::Rule::kSinceEmpty, true);
  r.empty_since = o.now + 50;
  o.membership.groups = {r};
  o.now += 120;  // 120 after the commit, 70 after the group emptied
  o.manager->expire_offsets();
  CHECK(o.fetch("g", "t", 0).first == 5);
  o.now += 30;
  o.manager->expire_offsets();
  CHECK(o.fetch("g", "t", 0).first == -1);
  CHECK(o.membership.expired == std::vector<std::string>{"g"});
}

TEST_CASE("offsets: transactional offsets wait for the commit marker, abort drops them") {
  Fixture f;
  Offsets o(f);
  REQUIRE(o.commit("g", {part("t", 0, 10)}) == std::vector<ErrorCode>{ErrorCode::kNone});
  REQUIRE(o.commit_txn("g", 100, {part("t", 0, 20)}) == std::vector<ErrorCode>{ErrorCode::kNone});
  REQUIRE(o.commit_txn("g", 200, {part("t", 1, 30)}) == std::vector<ErrorCode>{ErrorCode::kNone});
  CHECK(o.membership.last_commit_transactional.back());

  // Pending: the committed offset stands; require_stable says unstable.
  CHECK(o.fetch("g", "t", 0) == std::pair<std::int64_t, ErrorCode>{10, ErrorCode::kNone});
  CHECK(o.fetch("g", "t", 0, true).second == ErrorCode::kUnstableOffsetCommit);
  CHECK(o.fetch("g", "t", 1, true).second == ErrorCode::kUnstableOffsetCommit);
  // An empty group with pending offsets does not die in expiry.
  o.membership.groups = {retention("g", OffsetRetention::Rule::kSinceCommit, true)};
  o.now += 1000;
  o.manager->expire_offsets();
  CHECK(o.fetch("g", "t", 0).first == -1);  // the committed one expired ...
  CHECK(o.membership.expired.empty());      // ... but the group stays
  o.membership.groups.clear();

  // A restart keeps the pending offsets pending.
  o.restart();
  CHECK(o.fetch("g", "t", 0, true).second == ErrorCode::kUnstableOffsetCommit);

  o.complete_txn("g", 100, /*commit=*/true);
  CHECK(o.fetch("g", "t", 0, true) == std::pair<std::int64_t, ErrorCode>{20, ErrorCode::kNone});
  o.complete_txn("g", 200, /*commit=*/false);
  CHECK(o.fetch("g", "t", 1, true) == std::pair<std::int64_t, ErrorCode>{-1, ErrorCode::kNone});
  o.complete_txn("g", 300, true);        // nothing pending: answered at once
  o.complete_txn("unknown", 100, true);  // no such group: the same

  o.restart();
  CHECK(o.fetch("g", "t", 0, true) == std::pair<std::int64_t, ErrorCode>{20, ErrorCode::kNone});
  CHECK(o.fetch("g", "t", 1, true) == std::pair<std::int64_t, ErrorCode>{-1, ErrorCode::kNone});
}

TEST_CASE("offsets: OffsetDelete, deleted topics and DeleteGroups") {
  Fixture f;
  Offsets o(f);
  REQUIRE(o.commit("g", {part("a", 0, 1), part("b", 0, 2), part("c", 0, 3)}).size() == 3);
  REQUIRE(o.commit("h", {part("a", 0, 4)}).size() == 1);

  auto delete_offsets = [&](std::vector<std::pair<std::string, std::int32_t>> parts) {
    std::optional<std::pair<ErrorCode, std::vector<ErrorCode>>> result;
    o.manager->delete_offsets("g", std::move(parts), [&](ErrorCode e, std::vector<ErrorCode> es) {
      result.emplace(e, std::move(es));
    });
    f.run_until([&] { return result.has_value(); });
    return *result;
  };
  o.membership.delete_answer = ErrorCode::kNonEmptyGroup;
  CHECK(delete_offsets({{"a", 0}}).first == ErrorCode::kNonEmptyGroup);
  CHECK(o.fetch("g", "a", 0).first == 1);

  o.membership.delete_answer = ErrorCode::kNone;
  o.membership.subscribed_topics = {"b"};
  auto [group_error, errors] = delete_offsets({{"a", 0}, {"b", 0}, {"x", 0}});
  CHECK(group_error == ErrorCode::kNone);
  CHECK(errors == std::vector<ErrorCode>{ErrorCode::kNone, ErrorCode::kGroupSubscribedToTopic,
                                         ErrorCode::kNone});
  CHECK(o.fetch("g", "a", 0).first == -1);
  CHECK(o.fetch("g", "b", 0).first == 2);

  o.manager->on_topic_deleted("b");
  CHECK(o.fetch("g", "b", 0).first == -1);
  CHECK(o.fetch("g", "c", 0).first == 3);

  std::optional<std::vector<ErrorCode>> deleted;
  o.manager->delete_groups({"g", "nope"},
                           [&](std::vector<ErrorCode> e) { deleted = std::move(e); });
  f.run_until([&] { return deleted.has_value(); });
  CHECK(*deleted == std::vector<ErrorCode>{ErrorCode::kNone, ErrorCode::kGroupIdNotFound});
  CHECK(o.manager->fetch_offsets("g", std::nullopt, false).partitions.empty());
  CHECK(o.fetch("h", "a", 0).first == 4);

  f.run_until([] { return true; });
  o.restart();
  CHECK(o.manager->fetch_offsets("g", std::nullopt, false).partitions.empty());
  CHECK(o.membership.known.count("g") == 0);
  CHECK(o.fetch("h", "a", 0).first == 4);
}
