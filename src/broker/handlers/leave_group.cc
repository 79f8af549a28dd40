// LeaveGroup (key 13): members leave at once instead of waiting out their
// session timeout. v0-2 name one member; v3+ a batch, each with its own
// result (static members may be named by instance id alone).
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"

namespace kgw {

void handle_leave_group(HandlerContext& ctx, RequestPtr req) {
  LeaveGroupRequest body;
  if (!ctx.decode(*req, body)) return;
  if (const ErrorCode guard = group_coordinator_error(ctx, body.group_id);
      guard != ErrorCode::kNone) {
    LeaveGroupResponse resp;
    resp.error_code = code(guard);
    ctx.respond(*req, resp);
    return;
  }
  const bool batched = req->version() >= 3;
  std::vector<LeaveMember> members;
  if (batched) {
    for (const auto& m : body.members) {
      LeaveMember lm;
      lm.member_id = m.member_id;
      if (m.group_instance_id) lm.group_instance_id = std::string(*m.group_instance_id);
      if (m.reason) lm.reason = std::string(*m.reason);
      members.push_back(std::move(lm));
    }
  } else {
    members.push_back(LeaveMember{std::string(body.member_id), std::nullopt, ""});
  }
  LeaveResult r = ctx.groups().leave(std::string(body.group_id), members);
  LeaveGroupResponse resp;
  resp.error_code = code(r.error);
  if (batched) {
    for (std::size_t i = 0; i < r.members.size(); ++i) {
      auto& out = resp.members.emplace_back();
      out.member_id = members[i].member_id;
      // The schema's default is "", but Kafka echoes the request: null here.
      out.group_instance_id = members[i].group_instance_id
                                  ? std::optional<std::string_view>(*members[i].group_instance_id)
                                  : std::nullopt;
      out.error_code = code(r.members[i]);
    }
  } else if (r.error == ErrorCode::kNone && !r.members.empty()) {
    // One member, no per-member list: its result is the answer's.
    resp.error_code = code(r.members.front());
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
