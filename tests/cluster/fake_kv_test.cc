// The test double of etcd behaves as the units written against KvApi
// expect etcd to: revisions, compares, leases, watches, compaction.
#include "tests/cluster/fake_kv.h"

#include <doctest/doctest.h>
#include <uv.h>

using namespace kgw::etcd;

namespace {

void run(uv_loop_t* loop) {
  while (uv_run(loop, UV_RUN_NOWAIT) != 0) {
  }
}

}  // namespace

TEST_CASE("a txn's compares decide, and its writes share one revision") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    FakeKv kv(&loop);
    std::vector<std::pair<std::int64_t, std::size_t>> seen;
    kv.watch(
        "/p/", prefix_end("/p/"), 1,
        [&](std::int64_t rev, std::vector<Event> events) { seen.emplace_back(rev, events.size()); },
        [](Status) {});
    TxnRequest create;
    create.compare.push_back(Compare{"/p/a", Compare::kCreate, Compare::kEqual, 0, ""});
    create.success.push_back(Op{Op::kPut, "/p/a", "", "1", 0});
    create.success.push_back(Op{Op::kPut, "/p/b", "", "2", 0});
    bool first = false;
    bool second = true;
    kv.txn(create, [&](Status s, TxnResult r) { first = s.ok() && r.succeeded; });
    kv.txn(create, [&](Status s, TxnResult r) { second = s.ok() && r.succeeded; });
    CHECK_FALSE(first);  // not inside the call
    run(&loop);
    CHECK(first);
    CHECK_FALSE(second);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].second == 2);
    CHECK(kv.data().at("/p/a").create_revision == kv.data().at("/p/b").create_revision);
  }
  run(&loop);
  uv_loop_close(&loop);
}

TEST_CASE("an expired lease deletes its keys; a watch replays from its start revision") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    FakeKv kv(&loop);
    std::int64_t lease = 0;
    kv.lease_grant(5, [&](Status, std::int64_t id, std::int64_t) { lease = id; });
    run(&loop);
    kv.put("/b/1", "x", lease, [](Status, std::int64_t) {});
    kv.put("/c", "y", 0, [](Status, std::int64_t) {});
    run(&loop);
    const std::int64_t before = kv.revision();
    kv.expire_lease(lease);
    CHECK(kv.data().count("/b/1") == 0);
    CHECK(kv.data().count("/c") == 1);
    std::vector<Event> replay;
    kv.watch(
        "/b/", prefix_end("/b/"), before + 1,
        [&](std::int64_t, std::vector<Event> events) { replay = std::move(events); },
        [](Status) {});
    run(&loop);
    REQUIRE(replay.size() == 1);
    CHECK(replay[0].type == Event::kDelete);
    kv.compact(kv.revision());
    Status ended;
    kv.watch(
        "/b/", prefix_end("/b/"), 2, [](std::int64_t, std::vector<Event>) {},
        [&](Status s) { ended = s; });
    run(&loop);
    CHECK(ended.code == Status::kCompacted);
  }
  run(&loop);
  uv_loop_close(&loop);
}
