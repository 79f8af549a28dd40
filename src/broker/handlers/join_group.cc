// JoinGroup (key 11): a member joins a classic group and waits for the
// rebalance to complete; the leader's answer lists every member.
// The coordinator answers INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT,
// MEMBER_ID_REQUIRED (v4+, first join), UNKNOWN_MEMBER_ID,
// INCONSISTENT_GROUP_PROTOCOL, FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"
#include "src/proxy/group_forward.h"

namespace kgw {

void handle_join_group(HandlerContext& ctx, RequestPtr req) {
  JoinGroupRequest body;
  if (!ctx.decode(*req, body)) return;
  const std::int16_t version = req->version();
  // Kafka's answer to an error: the member id echoed, no generation, no protocol.
  auto fail = [&ctx, req, version, member_id = body.member_id](ErrorCode e) {
    JoinGroupResponse resp;
    resp.error_code = code(e);
    resp.member_id = member_id;
    resp.protocol_name = version >= 7 ? std::nullopt : std::optional<std::string_view>("");
    ctx.respond(*req, resp);
  };
  if (group_upstream(ctx, body.group_id)) {
    auto forward = [&ctx, req, fail, version](const JoinGroupRequest& body) {
      // Static membership needs v5 on the legacy side.
      const std::int16_t min_version = body.group_instance_id ? 5 : JoinGroupRequest::min_version;
      forward_to_group_coordinator<JoinGroupRequest, JoinGroupResponse>(
          *ctx.upstream(), body.group_id, body, min_version, version,
          [&ctx, req, fail](ErrorCode e, const JoinGroupResponse& r) {
            if (e != ErrorCode::kNone) return fail(e);
            ctx.respond(*req, r);
          });
    };
    if (auto topics = joins_to_kgw(ctx, body)) {
      // Its topics are all kgw's now: the group may move here; if it
      // does, this JoinGroup runs again, here.
      move_group(ctx, std::string(body.group_id), std::move(*topics),
                 [&ctx, req, fail, forward, body](ErrorCode e, bool moved) {
                   if (e != ErrorCode::kNone) return fail(e);
                   if (moved) return handle_join_group(ctx, req);
                   forward(body);
                 });
      return;
    }
    forward(body);
    return;
  }
  if (const ErrorCode guard = group_coordinator_error(ctx, body.group_id);
      guard != ErrorCode::kNone) {
    fail(guard);
    return;
  }
  JoinArgs args;
  args.group_id = body.group_id;
  args.member_id = body.member_id;
  if (body.group_instance_id) args.group_instance_id = std::string(*body.group_instance_id);
  args.client_id = std::string(req->header.client_id.value_or(""));
  args.client_host = client_host(*req);
  args.session_timeout_ms = body.session_timeout_ms;
  // v0 has no rebalance timeout: the session timeout serves as both.
  args.rebalance_timeout_ms = version == 0 ? body.session_timeout_ms : body.rebalance_timeout_ms;
  args.protocol_type = body.protocol_type;
  for (const auto& p : body.protocols) {
    args.protocols.emplace_back(
        std::string(p.name),
        std::string(reinterpret_cast<const char*>(p.metadata.data()), p.metadata.size()));
  }
  args.require_known_member_id = version >= 4;
  if (body.reason) args.reason = std::string(*body.reason);

  ctx.groups().join(std::move(args), [&ctx, req, version](JoinResult r) {
    JoinGroupResponse resp;
    resp.error_code = code(r.error);
    resp.generation_id = r.generation_id;
    resp.member_id = r.member_id;
    resp.leader = r.leader;
    resp.skip_assignment = r.skip_assignment;
    if (r.protocol_type) resp.protocol_type = *r.protocol_type;
    // Before v7 the protocol name is not nullable: "" stands for none.
    if (r.protocol_name) {
      resp.protocol_name = *r.protocol_name;
    } else {
      resp.protocol_name = version >= 7 ? std::nullopt : std::optional<std::string_view>("");
    }
    resp.members.reserve(r.members.size());
    for (const auto& m : r.members) {
      auto& out = resp.members.emplace_back();
      out.member_id = m.member_id;
      if (m.group_instance_id) out.group_instance_id = *m.group_instance_id;
      out.metadata = Bytes(m.metadata);
    }
    ctx.respond(*req, resp);
  });
}

}  // namespace kgw
