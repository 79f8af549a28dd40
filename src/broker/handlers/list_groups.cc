// ListGroups (key 16): every group, optionally only those in the given
// states (v4+) or of the given types (v5+: every group here is "classic").
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"
#include "src/proxy/group_forward.h"

namespace kgw {

void handle_list_groups(HandlerContext& ctx, RequestPtr req) {
  ListGroupsRequest body;
  if (!ctx.decode(*req, body)) return;
  std::vector<std::string> states(body.states_filter.begin(), body.states_filter.end());
  bool classic_wanted = body.types_filter.empty();
  for (std::string_view t : body.types_filter) {
    if (t.size() == 7 && std::equal(t.begin(), t.end(), "classic", [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      classic_wanted = true;
    }
  }
  struct Call {
    std::vector<GroupListing> groups;  // resp points into them
    ListGroupsResponse resp;
    ForwardStorage storage;
  };
  auto call = std::make_shared<Call>();
  if (classic_wanted) call->groups = ctx.groups().list(states);
  for (const auto& g : call->groups) {
    auto& out = call->resp.groups.emplace_back();
    out.group_id = g.group_id;
    out.protocol_type = g.protocol_type;
    out.group_state = g.state;
    out.group_type = "classic";
  }
  if (ctx.upstream() == nullptr) {
    ctx.respond(*req, call->resp);
    return;
  }
  // Proxy mode: every legacy broker's groups too (this node's first; a
  // group both have is listed once). A legacy broker's error passes through.
  list_upstream_groups(*ctx.upstream(), body, req->version(), call->storage,
                       [&ctx, req, call](std::int16_t error, ListGroupsResponse legacy) {
                         merge_listed_groups(call->resp.groups, legacy.groups);
                         call->resp.error_code = error;
                         call->resp.throttle_time_ms = legacy.throttle_time_ms;
                         ctx.respond(*req, call->resp);
                       });
}

}  // namespace kgw
