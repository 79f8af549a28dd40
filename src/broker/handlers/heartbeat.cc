// Heartbeat (key 12): a member is alive; the answer tells it to rejoin
// (REBALANCE_IN_PROGRESS) or that it is no longer a member
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID).
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"
#include "src/proxy/group_forward.h"

namespace kgw {

void handle_heartbeat(HandlerContext& ctx, RequestPtr req) {
  HeartbeatRequest body;
  if (!ctx.decode(*req, body)) return;
  if (group_upstream(ctx, body.group_id)) {
    const std::int16_t min_version = body.group_instance_id ? 3 : HeartbeatRequest::min_version;
    forward_to_group_coordinator<HeartbeatRequest, HeartbeatResponse>(
        *ctx.upstream(), body.group_id, body, min_version, req->version(),
        [&ctx, req](ErrorCode e, const HeartbeatResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          HeartbeatResponse resp;
          resp.error_code = code(e);
          ctx.respond(*req, resp);
        });
    return;
  }
  if (const ErrorCode guard = group_coordinator_error(ctx, body.group_id);
      guard != ErrorCode::kNone) {
    HeartbeatResponse resp;
    resp.error_code = code(guard);
    ctx.respond(*req, resp);
    return;
  }
  std::optional<std::string> instance_id;
  if (body.group_instance_id) instance_id = std::string(*body.group_instance_id);
  HeartbeatResponse resp;
  resp.error_code = code(ctx.groups().heartbeat(std::string(body.group_id), body.generation_id,
                                                std::string(body.member_id), instance_id));
  ctx.respond(*req, resp);
}

}  // namespace kgw
