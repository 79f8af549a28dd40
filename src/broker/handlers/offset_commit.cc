// OffsetCommit (key 8): store a group's positions. Partitions of unknown
// topics get UNKNOWN_TOPIC_OR_PARTITION and the rest is committed; the
// coordinator answers for the group (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
// REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID) and per partition
// (OFFSET_METADATA_TOO_LARGE). Generation -1 with no member id is a
// "simple" commit (kcat, admin tools, assign()-only consumers), allowed
// while the group has no members. The answer goes out once the offsets are
// durable.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"
#include "storage/store.h"

namespace kgw {

void handle_offset_commit(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<OffsetCommitRequest>();
  if (!ctx.decode(*req, *body)) return;
  const std::int16_t version = req->version();
  CommitArgs args;
  args.group_id = body->group_id;
  args.generation_id = body->generation_id_or_member_epoch;
  args.member_id = body->member_id;
  if (body->group_instance_id) args.group_instance_id = std::string(*body->group_instance_id);
  args.retention_time_ms = body->retention_time_ms;

  // Where each committed partition's answer goes: (topic, partition) index
  // in the response, or a guard's error.
  auto resp = std::make_shared<OffsetCommitResponse>();
  std::vector<std::pair<std::size_t, std::size_t>> slots;
  resp->topics.resize(body->topics.size());
  for (std::size_t ti = 0; ti < body->topics.size(); ++ti) {
    const auto& t = body->topics[ti];
    auto& tout = resp->topics[ti];
    tout.name = t.name;
    const TopicInfo* topic = ctx.store().find_topic(t.name);
    tout.partitions.resize(t.partitions.size());
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      tout.partitions[pi].partition_index = p.partition_index;
      if (topic == nullptr || p.partition_index < 0 || p.partition_index >= topic->partitions) {
        tout.partitions[pi].error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      CommitPartition cp;
      cp.topic = t.name;
      cp.partition = p.partition_index;
      cp.offset = p.committed_offset;
      cp.leader_epoch = p.committed_leader_epoch;
      if (p.committed_metadata) cp.metadata = std::string(*p.committed_metadata);
      if (version == 1) cp.commit_timestamp = p.commit_timestamp;
      args.partitions.push_back(std::move(cp));
      slots.emplace_back(ti, pi);
    }
  }
  if (args.partitions.empty()) {
    ctx.respond(*req, *resp);
    return;
  }
  ctx.offsets().commit_offsets(std::move(args), [&ctx, req, body, resp, slots = std::move(slots)](
                                                    std::vector<ErrorCode> errors) {
    for (std::size_t i = 0; i < slots.size() && i < errors.size(); ++i) {
      resp->topics[slots[i].first].partitions[slots[i].second].error_code = code(errors[i]);
    }
    ctx.respond(*req, *resp);
  });
}

}  // namespace kgw
