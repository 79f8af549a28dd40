// The pure parts of proxy forwarding: split_by_leader() keeps each legacy
// leader's partitions in request order, select() builds a sub-request's
// topics from slots (a topic's own fields kept, only the slots'
// partitions), forward_error() maps a failed call to a retriable Kafka
// error, and parse_upstream_servers() reads HOST:PORT lists.
#include "src/proxy/forward.h"

#include <doctest/doctest.h>

#include "all_messages.h"
#include "src/proxy/upstream.h"

namespace kgw {
namespace {

std::vector<std::pair<std::size_t, std::size_t>> pairs(const std::vector<UpstreamSlot>& v) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const auto& s : v) out.emplace_back(s.ti, s.pi);
  return out;
}

TEST_CASE("split_by_leader groups slots per leader in request order") {
  const std::vector<UpstreamSlot> slots{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}};
  // Leader: (ti + pi) % 3, and -1 for (1, 1).
  auto groups = split_by_leader(slots, [](const UpstreamSlot& s) {
    if (s.ti == 1 && s.pi == 1) return -1;
    return static_cast<std::int32_t>((s.ti + s.pi) % 3);
  });
  REQUIRE(groups.size() == 4);
  CHECK(pairs(groups[0]) == std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}});
  CHECK(pairs(groups[1]) == std::vector<std::pair<std::size_t, std::size_t>>{{0, 1}, {1, 0}});
  CHECK(pairs(groups[2]) == std::vector<std::pair<std::size_t, std::size_t>>{{0, 2}});
  CHECK(pairs(groups[-1]) == std::vector<std::pair<std::size_t, std::size_t>>{{1, 1}});
}

TEST_CASE("select keeps a topic's fields and only the slots' partitions") {
  ProduceRequest req;
  req.topic_data.resize(3);
  req.topic_data[0].name = "a";
  req.topic_data[1].name = "b";
  req.topic_data[2].name = "c";
  for (auto& t : req.topic_data) {
    for (std::int32_t i = 0; i < 4; ++i) t.partition_data.emplace_back().index = i * 10;
  }
  auto parts = [](auto& t) -> auto& {
    return t.partition_data;
  };
  auto out = select(req.topic_data, {{0, 1}, {0, 3}, {2, 0}}, parts);
  REQUIRE(out.size() == 2);
  CHECK(out[0].name == "a");
  REQUIRE(out[0].partition_data.size() == 2);
  CHECK(out[0].partition_data[0].index == 10);
  CHECK(out[0].partition_data[1].index == 30);
  CHECK(out[1].name == "c");
  REQUIRE(out[1].partition_data.size() == 1);
  CHECK(out[1].partition_data[0].index == 0);
  // The request itself is untouched.
  CHECK(req.topic_data[0].partition_data.size() == 4);
  CHECK(select(req.topic_data, {}, parts).empty());
}

TEST_CASE("a failed call to a legacy broker is a retriable error, not a crash") {
  CHECK(forward_error(CallError::kConnectFailed) == ErrorCode::kNotLeaderOrFollower);
  CHECK(forward_error(CallError::kDisconnected) == ErrorCode::kNotLeaderOrFollower);
  CHECK(forward_error(CallError::kClosed) == ErrorCode::kNotLeaderOrFollower);
  CHECK(forward_error(CallError::kUnknownBroker) == ErrorCode::kNotLeaderOrFollower);
  CHECK(forward_error(CallError::kTimedOut) == ErrorCode::kRequestTimedOut);
  CHECK(forward_error(CallError::kUnsupportedVersion) == ErrorCode::kUnsupportedVersion);
  CHECK(forward_error(CallError::kDecodeFailed) == ErrorCode::kUnknownServerError);
  CHECK(forward_error(CallError::kNone) == ErrorCode::kNone);
}

TEST_CASE("parse_upstream_servers reads HOST:PORT lists") {
  std::vector<UpstreamAddress> out;
  std::string error;
  REQUIRE(parse_upstream_servers("127.0.0.1:9092, legacy-2:19092", out, error));
  REQUIRE(out.size() == 2);
  CHECK(out[0].host == "127.0.0.1");
  CHECK(out[0].port == 9092);
  CHECK(out[1].host == "legacy-2");
  CHECK(out[1].port == 19092);
  CHECK_FALSE(parse_upstream_servers("legacy", out, error));
  CHECK(error.find("not HOST:PORT") != std::string::npos);
  CHECK_FALSE(parse_upstream_servers("legacy:0", out, error));
  CHECK_FALSE(parse_upstream_servers("legacy:99999", out, error));
  CHECK_FALSE(parse_upstream_servers("a:1,", out, error));
}

}  // namespace
}  // namespace kgw
