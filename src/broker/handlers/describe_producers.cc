// DescribeProducers (key 61): the active idempotent/transactional producers
// of partitions, with the start of their open transaction (what
// kafka-transactions.sh uses to find hanging transactions).
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/producer_state_manager.h"

namespace kgw {

void handle_describe_producers(HandlerContext& ctx, RequestPtr req) {
  DescribeProducersRequest body;
  if (!ctx.decode(*req, body)) return;
  DescribeProducersResponse resp;
  for (const auto& t : body.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const TopicInfo* topic = ctx.resolver().topic(TopicKey::by_name(t.name));
    for (std::int32_t p : t.partition_indexes) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p;
      // Only the leader knows a partition's producers (Kafka asks it:
      // NOT_LEADER_OR_FOLLOWER elsewhere).
      if (const Resolved r = ctx.resolver().resolve(TopicKey::by_name(t.name), topic, p); !r.ok()) {
        pout.error_code = code(r.error);
        continue;
      }
      for (const auto& a : ctx.producers().active(topic->id, p)) {
        auto& ps = pout.active_producers.emplace_back();
        ps.producer_id = a.producer_id;
        ps.producer_epoch = a.epoch;
        ps.last_sequence = a.last_sequence;
        ps.last_timestamp = a.last_timestamp;
        ps.coordinator_epoch = a.coordinator_epoch;
        ps.current_txn_start_offset = a.current_txn_start_offset;
      }
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
