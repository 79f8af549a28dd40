// AlterPartitionReassignments (key 45): on one node the only replica set a
// partition can have is this broker, so "reassigning" to it is a no-op
// that completes at once (as Kafka answers a reassignment to the current
// replicas); any other broker id is INVALID_REPLICA_ASSIGNMENT, as Kafka
// answers for a broker that is not registered; cancelling (null replicas)
// is NO_REASSIGNMENT_IN_PROGRESS.
#include <algorithm>
#include <deque>
#include <set>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

void handle_alter_partition_reassignments(HandlerContext& ctx, RequestPtr req) {
  AlterPartitionReassignmentsRequest body;
  if (!ctx.decode(*req, body)) return;
  AlterPartitionReassignmentsResponse resp;
  resp.error_message = std::nullopt;
  std::deque<std::string> strings;
  const std::int32_t node = ctx.identity().node_id;
  for (const auto& want : body.topics) {
    auto& out = resp.responses.emplace_back();
    out.name = want.name;
    const TopicInfo* t = ctx.resolver().topic(TopicKey::by_name(want.name));
    for (const auto& p : want.partitions) {
      auto& r = out.partitions.emplace_back();
      r.partition_index = p.partition_index;
      r.error_message = std::nullopt;
      auto fail = [&](ErrorCode e, std::string message) {
        r.error_code = code(e);
        r.error_message = strings.emplace_back(std::move(message));
      };
      if (PartitionResolver::exists(t, p.partition_index) != ErrorCode::kNone) {
        fail(ErrorCode::kUnknownTopicOrPartition, "The partition does not exist.");
        continue;
      }
      if (!p.replicas) {
        fail(ErrorCode::kNoReassignmentInProgress, "No ongoing reassignment for partition " +
                                                       std::string(want.name) + "-" +
                                                       std::to_string(p.partition_index) + ".");
        continue;
      }
      if (p.replicas->empty()) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             "The manual partition assignment includes an empty replica list.");
        continue;
      }
      std::set<std::int32_t> ids(p.replicas->begin(), p.replicas->end());
      if (ids.size() != p.replicas->size()) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             "The manual partition assignment includes a duplicate broker id.");
        continue;
      }
      auto other =
          std::find_if(ids.begin(), ids.end(), [&](std::int32_t id) { return id != node; });
      if (other != ids.end()) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             "The manual partition assignment includes broker " + std::to_string(*other) +
                 ", but no such broker is registered.");
        continue;
      }
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
