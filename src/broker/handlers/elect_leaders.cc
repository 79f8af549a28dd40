// ElectLeaders (key 43): on one node every partition's only replica is
// already its leader and its preferred leader, so an election is never
// needed: ELECTION_NOT_NEEDED for each partition named, as Kafka answers
// when the preferred leader leads; UNKNOWN_TOPIC_OR_PARTITION for those
// that do not exist. With no partitions named (all of them), Kafka lists
// only the partitions it elected: none.
#include <deque>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

void handle_elect_leaders(HandlerContext& ctx, RequestPtr req) {
  ElectLeadersRequest body;
  if (!ctx.decode(*req, body)) return;
  ElectLeadersResponse resp;
  resp.error_code = 0;
  if (req->version() >= 1 && body.election_type != 0 && body.election_type != 1) {
    resp.error_code = code(ErrorCode::kInvalidRequest);
    ctx.respond(*req, resp);
    return;
  }
  if (body.topic_partitions) {
    for (const auto& want : *body.topic_partitions) {
      auto& out = resp.replica_election_results.emplace_back();
      out.topic = want.topic;
      const TopicInfo* t = ctx.resolver().topic(TopicKey::by_name(want.topic));
      for (std::int32_t p : want.partitions) {
        auto& r = out.partition_result.emplace_back();
        r.partition_id = p;
        if (PartitionResolver::exists(t, p) != ErrorCode::kNone) {
          r.error_code = code(ErrorCode::kUnknownTopicOrPartition);
          r.error_message = "The partition does not exist.";
        } else {
          r.error_code = code(ErrorCode::kElectionNotNeeded);
          r.error_message = "Leader election not needed for topic partition.";
        }
      }
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
