// OffsetForLeaderEpoch (key 23): where a leader epoch of a partition's log
// ends, from the log's leader-epoch cache (Store::end_offset_for_epoch).
// Consumers ask it after a leader change to find whether the log they read
// was truncated below their position (KIP-320); followers will ask it to
// truncate a diverging log (Cluster II).
#include <memory>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

using EpochCall = PendingCall<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>;

// This API names its topics `topic` and its partitions `partition`.
struct EpochTopicsShape {
  TopicKey topic(const auto& in, auto& out) const {
    out.topic = in.topic;
    return TopicKey::by_name(in.topic);
  }
  const auto& in_partitions(const auto& t) const { return t.partitions; }
  auto& out_partitions(auto& t) const { return t.partitions; }
  std::int32_t index(const auto& p) const { return p.partition; }
  void start(const auto& in, auto& out) const { out.partition = in.partition; }
};

}  // namespace

void handle_offset_for_leader_epoch(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<EpochCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  // A partition asked twice is answered twice, as Kafka does.
  for_each_partition(
      ctx.resolver(), EpochTopicsShape{}, call->body.topics, call->resp.topics,
      [](std::size_t, std::size_t, const auto&) { return ErrorCode::kNone; },
      [&](std::size_t, std::size_t, const auto& p, auto& out,
          const LocalPartition& local) -> ErrorCode {
        const std::int32_t current = ctx.replicas().leader_epoch(local.topic->id, local.partition);
        // Kafka's fencing of a caller with other metadata than ours.
        if (p.current_leader_epoch >= 0 && p.current_leader_epoch < current) {
          return ErrorCode::kFencedLeaderEpoch;
        }
        if (p.current_leader_epoch > current) return ErrorCode::kUnknownLeaderEpoch;
        const Store::EpochEnd end =
            ctx.store().end_offset_for_epoch(local.topic->id, local.partition, p.leader_epoch);
        out.leader_epoch = end.epoch;
        out.end_offset = end.end_offset;
        return ErrorCode::kNone;
      });
  finish_one(ctx, *call);
}

}  // namespace kgw
