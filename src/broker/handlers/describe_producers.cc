// DescribeProducers (key 61): the active idempotent/transactional producers
// of partitions, with the start of their open transaction (what
// kafka-transactions.sh uses to find hanging transactions). Partitions go
// through the PartitionResolver, as Kafka asks the leader: an unknown topic
// or partition is UNKNOWN_TOPIC_OR_PARTITION, another node's partition
// NOT_LEADER_OR_FOLLOWER.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/producer_state_manager.h"

namespace kgw {

namespace {

// Topics by name; partitions are bare indexes in `partition_indexes`.
struct DescribeProducersShape : NamedTopicsShape {
  const auto& in_partitions(const auto& t) const { return t.partition_indexes; }
  std::int32_t index(std::int32_t p) const { return p; }
  void start(std::int32_t p, auto& out) const { out.partition_index = p; }
};

}  // namespace

void handle_describe_producers(HandlerContext& ctx, RequestPtr req) {
  DescribeProducersRequest body;
  if (!ctx.decode(*req, body)) return;
  DescribeProducersResponse resp;
  for_each_partition(
      ctx.resolver(), DescribeProducersShape{}, body.topics, resp.topics, NoGuard{},
      [&ctx](std::size_t, std::size_t, std::int32_t, auto& pout, const LocalPartition& local) {
        for (const auto& a : ctx.producers().active(local.topic->id, local.partition)) {
          auto& ps = pout.active_producers.emplace_back();
          ps.producer_id = a.producer_id;
          ps.producer_epoch = a.epoch;
          ps.last_sequence = a.last_sequence;
          ps.last_timestamp = a.last_timestamp;
          ps.coordinator_epoch = a.coordinator_epoch;
          ps.current_txn_start_offset = a.current_txn_start_offset;
        }
        return ErrorCode::kNone;
      });
  ctx.respond(*req, resp);
}

}  // namespace kgw
