// SyncGroup (key 14): members fetch their assignment; the leader's request
// carries everyone's. Followers wait until the leader's arrives and is
// stored. The coordinator answers UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL
// (v5: protocol type or name differ from the group's).
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"
#include "src/proxy/group_forward.h"

namespace kgw {

void handle_sync_group(HandlerContext& ctx, RequestPtr req) {
  SyncGroupRequest body;
  if (!ctx.decode(*req, body)) return;
  if (group_upstream(ctx, body.group_id)) {
    const std::int16_t min_version = body.group_instance_id ? 3 : SyncGroupRequest::min_version;
    forward_to_group_coordinator<SyncGroupRequest, SyncGroupResponse>(
        *ctx.upstream(), body.group_id, body, min_version, req->version(),
        [&ctx, req](ErrorCode e, const SyncGroupResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          SyncGroupResponse resp;
          resp.error_code = code(e);
          ctx.respond(*req, resp);
        });
    return;
  }
  if (const ErrorCode guard = group_coordinator_error(ctx, body.group_id);
      guard != ErrorCode::kNone) {
    SyncGroupResponse resp;
    resp.error_code = code(guard);
    ctx.respond(*req, resp);
    return;
  }
  SyncArgs args;
  args.group_id = body.group_id;
  args.generation_id = body.generation_id;
  args.member_id = body.member_id;
  if (body.group_instance_id) args.group_instance_id = std::string(*body.group_instance_id);
  if (body.protocol_type) args.protocol_type = std::string(*body.protocol_type);
  if (body.protocol_name) args.protocol_name = std::string(*body.protocol_name);
  args.assignments.reserve(body.assignments.size());
  for (const auto& a : body.assignments) {
    args.assignments.emplace_back(
        std::string(a.member_id),
        std::string(reinterpret_cast<const char*>(a.assignment.data()), a.assignment.size()));
  }
  ctx.groups().sync(std::move(args), [&ctx, req](SyncResult r) {
    SyncGroupResponse resp;
    resp.error_code = code(r.error);
    if (r.protocol_type) resp.protocol_type = *r.protocol_type;
    if (r.protocol_name) resp.protocol_name = *r.protocol_name;
    resp.assignment = Bytes(r.assignment);
    ctx.respond(*req, resp);
  });
}

}  // namespace kgw
