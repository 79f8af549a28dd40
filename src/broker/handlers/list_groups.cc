// ListGroups (key 16): every group, optionally only those in the given
// states (v4+) or of the given types (v5+: every group here is "classic").
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"

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
  std::vector<GroupListing> groups;
  if (classic_wanted) groups = ctx.groups().list(states);
  ListGroupsResponse resp;
  for (const auto& g : groups) {
    auto& out = resp.groups.emplace_back();
    out.group_id = g.group_id;
    out.protocol_type = g.protocol_type;
    out.group_state = g.state;
    out.group_type = "classic";
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
