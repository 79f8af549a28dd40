// OffsetDelete (key 47): drop a group's committed offsets for partitions it
// no longer consumes. GROUP_ID_NOT_FOUND for an unknown group,
// NON_EMPTY_GROUP for an active group of another protocol type,
// GROUP_SUBSCRIBED_TO_TOPIC per partition of a topic the active consumers
// subscribe to, UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/offset_partitions.h"
#include "src/proxy/group_forward.h"

namespace kgw {

void handle_offset_delete(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<OffsetDeleteRequest>();
  if (!ctx.decode(*req, *body)) return;
  if (group_upstream(ctx, body->group_id)) {
    forward_to_group_coordinator<OffsetDeleteRequest, OffsetDeleteResponse>(
        *ctx.upstream(), body->group_id, *body, OffsetDeleteRequest::min_version, req->version(),
        [&ctx, req](ErrorCode e, const OffsetDeleteResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          OffsetDeleteResponse only;
          only.error_code = code(e);
          ctx.respond(*req, only);
        });
    return;
  }
  if (const ErrorCode guard = group_coordinator_error(ctx, body->group_id);
      guard != ErrorCode::kNone) {
    OffsetDeleteResponse only;
    only.error_code = code(guard);
    ctx.respond(*req, only);
    return;
  }
  auto resp = std::make_shared<OffsetDeleteResponse>();
  std::vector<std::pair<std::string, std::int32_t>> partitions;
  PartitionSlots slots =
      for_each_existing_partition(ctx.resolver(), body->topics, resp->topics, ErrorCode::kNone,
                                  [&](std::string_view topic, const auto& p) {
                                    partitions.emplace_back(std::string(topic), p.partition_index);
                                  });
  ctx.offsets().delete_offsets(std::string(body->group_id), std::move(partitions),
                               [&ctx, req, body, resp, slots = std::move(slots)](
                                   ErrorCode group_error, std::vector<ErrorCode> errors) {
                                 if (group_error != ErrorCode::kNone) {
                                   // A group-level error answers alone, as Kafka's does.
                                   OffsetDeleteResponse only;
                                   only.error_code = code(group_error);
                                   ctx.respond(*req, only);
                                   return;
                                 }
                                 slots.fill(resp->topics, errors);
                                 ctx.respond(*req, *resp);
                               });
}

}  // namespace kgw
