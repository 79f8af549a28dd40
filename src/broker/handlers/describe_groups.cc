// DescribeGroups (key 15): state, protocol and members of classic groups.
// Metadata and assignments are shown only for Stable groups, as Kafka
// does; an unknown group is described as Dead with no error.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"

namespace kgw {

void handle_describe_groups(HandlerContext& ctx, RequestPtr req) {
  DescribeGroupsRequest body;
  if (!ctx.decode(*req, body)) return;
  std::vector<GroupDescription> described;
  described.reserve(body.groups.size());
  for (std::string_view g : body.groups) {
    if (const ErrorCode guard = group_coordinator_error(ctx, g); guard != ErrorCode::kNone) {
      GroupDescription d;
      d.error = guard;
      d.group_id = std::string(g);
      described.push_back(std::move(d));
      continue;
    }
    described.push_back(ctx.groups().describe(std::string(g)));
  }
  DescribeGroupsResponse resp;
  for (const auto& d : described) {
    auto& out = resp.groups.emplace_back();
    out.error_code = code(d.error);
    out.group_id = d.group_id;
    out.group_state = d.state;
    out.protocol_type = d.protocol_type;
    out.protocol_data = d.protocol;
    for (const auto& m : d.members) {
      auto& mo = out.members.emplace_back();
      mo.member_id = m.member_id;
      if (m.group_instance_id) mo.group_instance_id = *m.group_instance_id;
      mo.client_id = m.client_id;
      mo.client_host = m.client_host;
      mo.member_metadata = Bytes(m.metadata);
      mo.member_assignment = Bytes(m.assignment);
    }
    // No ACLs yet: every group operation is allowed. Kafka's AclOperation
    // bits: READ(3) DELETE(6) DESCRIBE(8).
    if (body.include_authorized_operations)
      out.authorized_operations = (1 << 3) | (1 << 6) | (1 << 8);
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
