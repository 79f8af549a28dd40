// UpstreamTxns (src/proxy/upstream_txns.h): which legacy-coordinated
// transactions a cutover must wait for, with a hand-driven clock.
#include "src/proxy/upstream_txns.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

namespace kgw {
namespace {

struct Clock {
  std::uint64_t now = 1000;
};

TEST_CASE("a transaction counts on the topics it added until it ends, then for the grace") {
  Clock clock;
  UpstreamTxns txns([&clock] { return clock.now; });
  CHECK_FALSE(txns.open_on("out"));
  txns.added("t1", 7, {"out"});
  std::string who;
  CHECK(txns.open_on("out", &who));
  CHECK(who == "t1");
  CHECK_FALSE(txns.open_on("other"));
  CHECK(txns.producer_open_on(7, "out"));
  CHECK_FALSE(txns.producer_open_on(8, "out"));

  txns.ended("t1");
  // Its writes no longer pass a fence, but a marker may still be on its
  // way to the legacy log.
  CHECK_FALSE(txns.producer_open_on(7, "out"));
  CHECK(txns.open_on("out"));
  clock.now += UpstreamTxns::kMarkerGraceMs;
  CHECK_FALSE(txns.open_on("out"));
}

TEST_CASE("the next transaction of the id starts afresh") {
  Clock clock;
  UpstreamTxns txns([&clock] { return clock.now; });
  txns.added("t1", 7, {"a"});
  txns.ended("t1");
  clock.now += UpstreamTxns::kMarkerGraceMs;
  txns.added("t1", 7, {"b"});
  CHECK_FALSE(txns.open_on("a"));
  CHECK(txns.open_on("b"));
  // More partitions of the same open transaction add up.
  txns.added("t1", 7, {"c"});
  CHECK(txns.open_on("b"));
  CHECK(txns.open_on("c"));
}

TEST_CASE("a transaction never ended stops counting after its timeout") {
  Clock clock;
  UpstreamTxns txns([&clock] { return clock.now; });
  txns.timeout("t1", 5000);
  txns.added("t1", 7, {"out"});
  clock.now += 5000 + UpstreamTxns::kMarkerGraceMs - 1;
  CHECK(txns.open_on("out"));
  clock.now += 1;
  CHECK_FALSE(txns.open_on("out"));
  CHECK_FALSE(txns.producer_open_on(7, "out"));
  // Without an InitProducerId seen: Kafka clients' default, 60 s.
  txns.added("t2", 9, {"out"});
  clock.now += UpstreamTxns::kDefaultTimeoutMs;
  CHECK(txns.open_on("out"));
  clock.now += UpstreamTxns::kMarkerGraceMs;
  CHECK_FALSE(txns.open_on("out"));
}

TEST_CASE("kgw's own partitions in a transaction are remembered until it ends") {
  Clock clock;
  UpstreamTxns txns([&clock] { return clock.now; });
  CHECK_FALSE(txns.has_here("t1", 7));
  txns.added_here("t1", 7, 0);
  CHECK(txns.has_here("t1", 7));
  CHECK_FALSE(txns.has_here("t1", 8));  // another producer took the id
  txns.ended("t1");
  CHECK_FALSE(txns.has_here("t1", 7));
  // Held back by kgw (a cutover): remembered for the producer until it ends.
  txns.held_back("t1", 7);
  CHECK(txns.was_held_back("t1", 7));
  CHECK_FALSE(txns.was_held_back("t1", 8));
  txns.ended("t1");
  CHECK_FALSE(txns.was_held_back("t1", 7));
}

TEST_CASE("a transaction with kgw's partitions open past its timeout is overdue") {
  Clock clock;
  clock.now = 1000;
  UpstreamTxns txns([&clock] { return clock.now; });
  txns.timeout("t1", 5000);
  txns.added_here("t1", 7, 3);
  clock.now += 3000;
  txns.added_here("t1", 7, 3);  // more partitions: the same transaction
  clock.now += 2000 + UpstreamTxns::kOrphanGraceMs - 1;
  CHECK(txns.overdue_here().empty());
  clock.now += 1;
  auto overdue = txns.overdue_here();
  REQUIRE(overdue.size() == 1);
  CHECK(overdue[0].txn_id == "t1");
  CHECK(overdue[0].producer_id == 7);
  CHECK(overdue[0].epoch == 3);
  // Asked about: not listed again until answered.
  txns.checking("t1", true);
  CHECK(txns.overdue_here().empty());
  txns.checking("t1", false);
  CHECK(txns.overdue_here().size() == 1);
  // Ended (the EndTxn came through kgw after all): gone.
  txns.ended("t1");
  CHECK(txns.overdue_here().empty());
  // Without an InitProducerId seen: Kafka clients' default, 60 s.
  txns.added_here("t2", 9, 0);
  clock.now += UpstreamTxns::kDefaultTimeoutMs + UpstreamTxns::kOrphanGraceMs - 1;
  CHECK(txns.overdue_here().empty());
  clock.now += 1;
  CHECK(txns.overdue_here().size() == 1);
  // A new epoch (the producer bumped it) starts a new transaction.
  txns.added_here("t2", 9, 1);
  CHECK(txns.overdue_here().empty());
}

}  // namespace
}  // namespace kgw
