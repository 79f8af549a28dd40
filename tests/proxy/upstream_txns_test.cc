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
  txns.added_here("t1", 7);
  CHECK(txns.has_here("t1", 7));
  CHECK_FALSE(txns.has_here("t1", 8));  // another producer took the id
  txns.ended("t1");
  CHECK_FALSE(txns.has_here("t1", 7));
}

}  // namespace
}  // namespace kgw
