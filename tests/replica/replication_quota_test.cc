// Replication throttles (src/replica/replication_quota.h): the measured
// rate over the window, and which replicas a throttled-replicas list names.
#include "src/replica/replication_quota.h"

#include <doctest/doctest.h>

#include <limits>

using namespace kgw;

TEST_CASE("the rate is the window's bytes over at least all windows but the current one") {
  ReplicationQuota q(11, 1000);
  CHECK(q.rate(0) == 0);
  CHECK_FALSE(q.exceeded(1, 0));
  // 10 MB at once: spread over 10 s, 1 MB/s, as Kafka's Rate measures a
  // young sample.
  q.record(10'000'000, 5'000);
  CHECK(q.rate(5'000) == doctest::Approx(1'000'000));
  CHECK(q.exceeded(999'999, 5'000));
  CHECK_FALSE(q.exceeded(1'000'000, 5'000));
  // No limit: never exceeded.
  CHECK_FALSE(q.exceeded(std::numeric_limits<std::int64_t>::max(), 5'000));
  // The sample leaves the window 11 s after its window began.
  CHECK(q.rate(15'999) > 0);
  CHECK(q.rate(16'000) == 0);
}

TEST_CASE("a steady flow measures as its rate once the window is full") {
  ReplicationQuota q(11, 1000);
  // 200 kB every 100 ms for 30 s: 2 MB/s.
  for (std::uint64_t t = 0; t < 30'000; t += 100) q.record(200'000, t);
  CHECK(q.rate(30'000) == doctest::Approx(2'000'000).epsilon(0.1));
  CHECK(q.exceeded(1'500'000, 30'000));
  CHECK_FALSE(q.exceeded(2'500'000, 30'000));
}

TEST_CASE("throttled replicas: *, PARTITION:BROKER lists, nothing else") {
  CHECK(throttled_replica("*", 7, 3));
  CHECK(throttled_replica(" * ", 0, 1));
  CHECK_FALSE(throttled_replica("", 0, 1));
  CHECK(throttled_replica("0:1,1:2", 0, 1));
  CHECK(throttled_replica("0:1, 1:2", 1, 2));
  CHECK_FALSE(throttled_replica("0:1,1:2", 1, 1));
  CHECK_FALSE(throttled_replica("0:1,1:2", 2, 2));
  CHECK_FALSE(throttled_replica("0x:1", 0, 1));
  CHECK_FALSE(throttled_replica("0", 0, 1));
}
