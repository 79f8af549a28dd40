// OffsetDelete (key 47): drop a group's committed offsets for partitions it
// no longer consumes. GROUP_ID_NOT_FOUND for an unknown group,
// NON_EMPTY_GROUP for an active group of another protocol type,
// GROUP_SUBSCRIBED_TO_TOPIC per partition of a topic the active consumers
// subscribe to, UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"
#include "storage/store.h"

namespace kgw {

void handle_offset_delete(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<OffsetDeleteRequest>();
  if (!ctx.decode(*req, *body)) return;
  auto resp = std::make_shared<OffsetDeleteResponse>();
  std::vector<std::pair<std::string, std::int32_t>> partitions;
  std::vector<std::pair<std::size_t, std::size_t>> slots;
  for (std::size_t ti = 0; ti < body->topics.size(); ++ti) {
    const auto& t = body->topics[ti];
    auto& tout = resp->topics.emplace_back();
    tout.name = t.name;
    const TopicInfo* topic = ctx.store().find_topic(t.name);
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const std::int32_t p = t.partitions[pi].partition_index;
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p;
      if (topic == nullptr || p < 0 || p >= topic->partitions) {
        pout.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      partitions.emplace_back(std::string(t.name), p);
      slots.emplace_back(ti, pi);
    }
  }
  ctx.offsets().delete_offsets(
      std::string(body->group_id), std::move(partitions),
      [&ctx, req, body, resp, slots = std::move(slots)](ErrorCode group_error,
                                                        std::vector<ErrorCode> errors) {
        if (group_error != ErrorCode::kNone) {
          // A group-level error answers alone, as Kafka's does.
          OffsetDeleteResponse only;
          only.error_code = code(group_error);
          ctx.respond(*req, only);
          return;
        }
        for (std::size_t i = 0; i < slots.size() && i < errors.size(); ++i) {
          resp->topics[slots[i].first].partitions[slots[i].second].error_code = code(errors[i]);
        }
        ctx.respond(*req, *resp);
      });
}

}  // namespace kgw
