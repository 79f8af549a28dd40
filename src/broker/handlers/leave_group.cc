// LeaveGroup (key 13): members leave at once instead of waiting out their
// session timeout. v0-2 name one member; v3+ a batch, each with its own
// result (static members may be named by instance id alone).
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"
#include "src/proxy/group_forward.h"

namespace kgw {

namespace {

// An upstream group's LeaveGroup. A batch (v3+) of one member without an
// instance id also goes to a legacy broker that speaks only v0-2 (as that
// member's own leave); its answer's error is then the member's.
void forward_leave(HandlerContext& ctx, const RequestPtr& req, LeaveGroupRequest body) {
  const std::int16_t version = req->version();
  const bool batched = version >= 3;
  const bool single = !batched || (body.members.size() == 1 && !body.members[0].group_instance_id);
  if (batched && single) body.member_id = body.members[0].member_id;
  const std::int16_t min_version = single ? LeaveGroupRequest::min_version : 3;
  forward_to_group_coordinator<LeaveGroupRequest, LeaveGroupResponse>(
      *ctx.upstream(), body.group_id, body, min_version, version,
      [&ctx, req, body, batched](ErrorCode e, const LeaveGroupResponse& r) {
        if (e == ErrorCode::kNone && (!batched || !r.members.empty() || r.error_code != 0)) {
          return ctx.respond(*req, r);
        }
        LeaveGroupResponse resp;
        resp.throttle_time_ms = r.throttle_time_ms;
        if (e != ErrorCode::kNone) {
          resp.error_code = code(e);
        } else {
          // A v0-2 answer to a v3+ client: the one member's result.
          auto& out = resp.members.emplace_back();
          out.member_id = body.members[0].member_id;
          out.group_instance_id = std::nullopt;
          out.error_code = r.error_code;
        }
        ctx.respond(*req, resp);
      });
}

}  // namespace

void handle_leave_group(HandlerContext& ctx, RequestPtr req) {
  LeaveGroupRequest body;
  if (!ctx.decode(*req, body)) return;
  if (group_upstream(ctx, body.group_id)) {
    forward_leave(ctx, req, body);
    return;
  }
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
