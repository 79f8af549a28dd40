// OffsetCommit (key 8): store a group's positions. Partitions of unknown
// topics get UNKNOWN_TOPIC_OR_PARTITION and the rest is committed; the
// coordinator answers for the group (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
// REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID) and per partition
// (OFFSET_METADATA_TOO_LARGE). Generation -1 with no member id is a
// "simple" commit (kcat, admin tools, assign()-only consumers), allowed
// while the group has no members. The answer goes out once the offsets are
// durable.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/offset_partitions.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"

namespace kgw {

void handle_offset_commit(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<OffsetCommitRequest>();
  if (!ctx.decode(*req, *body)) return;
  const std::int16_t version = req->version();
  if (group_upstream(ctx, body->group_id)) {
    // Static membership needs v7 on the legacy side.
    const std::int16_t min_version = body->group_instance_id ? 7 : OffsetCommitRequest::min_version;
    // A move of the group to kgw waits for this answer (group_move.h).
    ctx.upstream()->group_moves().commit_sent(std::string(body->group_id));
    forward_to_group_coordinator<OffsetCommitRequest, OffsetCommitResponse>(
        *ctx.upstream(), body->group_id, *body, min_version, version,
        [&ctx, req, body](ErrorCode e, const OffsetCommitResponse& r) {
          ctx.upstream()->group_moves().commit_answered(std::string(body->group_id));
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          // No group-level error field: every partition gets it.
          OffsetCommitResponse resp;
          for (const auto& t : body->topics) {
            auto& to = resp.topics.emplace_back();
            to.name = t.name;
            for (const auto& p : t.partitions) {
              auto& po = to.partitions.emplace_back();
              po.partition_index = p.partition_index;
              po.error_code = code(e);
            }
          }
          ctx.respond(*req, resp);
        });
    return;
  }
  CommitArgs args;
  args.group_id = body->group_id;
  args.generation_id = body->generation_id_or_member_epoch;
  args.member_id = body->member_id;
  if (body->group_instance_id) args.group_instance_id = std::string(*body->group_instance_id);
  args.retention_time_ms = body->retention_time_ms;

  auto resp = std::make_shared<OffsetCommitResponse>();
  // Another broker's group: every partition NOT_COORDINATOR, as Kafka.
  const ErrorCode guard = group_coordinator_error(ctx, body->group_id);
  PartitionSlots slots =
      for_each_existing_partition(ctx.resolver(), body->topics, resp->topics, guard,
                                  [&](std::string_view topic, const auto& p) {
                                    CommitPartition cp = commit_partition(topic, p);
                                    if (version == 1) cp.commit_timestamp = p.commit_timestamp;
                                    args.partitions.push_back(std::move(cp));
                                  });
  if (args.partitions.empty()) {
    ctx.respond(*req, *resp);
    return;
  }
  ctx.offsets().commit_offsets(std::move(args),
                               answer_commit(ctx, req, body, resp, std::move(slots)));
}

}  // namespace kgw
