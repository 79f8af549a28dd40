// The pure parts of the proxy's group forwarding: split_groups() keeps the
// local and the legacy groups of a batched request in request order,
// merge_listed_groups() lists a group both sides have once,
// group_answer_error() finds the group-level error of each answer's shape,
// and a call that cannot go anywhere is a retriable error (no legacy broker
// known: COORDINATOR_NOT_AVAILABLE) or UNSUPPORTED_VERSION (no version can
// carry it), never a crash. The forwarding itself is tested against real
// legacy clusters: tests/integration/test_proxy_groups.py.
#include "src/proxy/group_forward.h"

#include <doctest/doctest.h>
#include <uv.h>

#include "all_messages.h"
#include "src/proxy/upstream.h"

namespace kgw {
namespace {

TEST_CASE("split_groups keeps request order on both sides") {
  const std::vector<std::string_view> names{"a", "up1", "b", "up2", "up3"};
  const GroupSplit s =
      split_groups(names, [](std::string_view n) { return n.substr(0, 2) == "up"; });
  CHECK(s.local == std::vector<std::size_t>{0, 2});
  CHECK(s.upstream == std::vector<std::size_t>{1, 3, 4});
}

TEST_CASE("merge_listed_groups lists a group once, local first") {
  std::vector<ListGroupsResponse::ListedGroup> into(2);
  into[0].group_id = "local";
  into[1].group_id = "both";
  into[1].group_state = "Stable";
  std::vector<ListGroupsResponse::ListedGroup> from(3);
  from[0].group_id = "legacy1";
  from[1].group_id = "both";
  from[1].group_state = "Empty";
  from[2].group_id = "legacy2";
  merge_listed_groups(into, from);
  REQUIRE(into.size() == 4);
  CHECK(into[0].group_id == "local");
  CHECK(into[1].group_id == "both");
  CHECK(into[1].group_state == "Stable");
  CHECK(into[2].group_id == "legacy1");
  CHECK(into[3].group_id == "legacy2");
}

TEST_CASE("group_answer_error reads each answer's group-level error") {
  HeartbeatResponse hb;
  hb.error_code = 16;
  CHECK(group_answer_error(hb) == 16);
  DescribeGroupsResponse dg;
  CHECK(group_answer_error(dg) == 0);
  dg.groups.emplace_back().error_code = 15;
  CHECK(group_answer_error(dg) == 15);
  DeleteGroupsResponse del;
  del.results.emplace_back().error_code = 16;
  CHECK(group_answer_error(del) == 16);
  OffsetFetchResponse v7;
  v7.error_code = 15;
  CHECK(group_answer_error(v7) == 15);
  OffsetFetchResponse v8;
  v8.groups.emplace_back().error_code = 16;
  CHECK(group_answer_error(v8) == 16);
}

TEST_CASE("a call with no legacy broker known or no version is answered, not thrown") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    UpstreamOptions o;
    o.bootstrap.push_back(UpstreamAddress{"127.0.0.1", 1});
    Upstream up(&loop, o);
    std::vector<ErrorCode> got;
    HeartbeatRequest hb;
    hb.group_id = "g";
    forward_to_group_coordinator<HeartbeatRequest, HeartbeatResponse>(
        up, "g", hb, 0, 4, [&](ErrorCode e, const HeartbeatResponse&) { got.push_back(e); });
    // min above max: the client's request needs more than it speaks.
    forward_to_group_coordinator<HeartbeatRequest, HeartbeatResponse>(
        up, "g", hb, 3, 2, [&](ErrorCode e, const HeartbeatResponse&) { got.push_back(e); });
    CHECK(got == std::vector<ErrorCode>{ErrorCode::kCoordinatorNotAvailable,
                                        ErrorCode::kUnsupportedVersion});
    CHECK(up.group_coordinators().empty());
    up.stop();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace
}  // namespace kgw
