// OffsetForLeaderEpoch (key 23): where a leader epoch of a partition's log
// ends, from the log's leader-epoch cache (Store::end_offset_for_epoch).
// Consumers ask it after a leader change to find whether the log they read
// was truncated below their position (KIP-320); followers will ask it to
// truncate a diverging log (Cluster II). In proxy mode the legacy
// cluster's partitions are forwarded to their legacy leaders
// (src/proxy/forward.h).
#include <memory>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/proxy/forward.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

struct EpochCall : PendingCall<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> {
  // Proxy mode: the partitions asked of the legacy cluster.
  std::vector<UpstreamSlot> upstream;
  ForwardStorage forwarded;
};

// This API names its topics `topic` and its partitions `partition`.
struct EpochTopicsShape {
  std::vector<UpstreamSlot>* upstream = nullptr;
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
  EpochTopicsShape shape;
  if (ctx.upstream() != nullptr) shape.upstream = &call->upstream;
  for_each_partition(
      ctx.resolver(), shape, call->body.topics, call->resp.topics,
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
  if (!call->upstream.empty()) {
    // A topic rolled back after its cutover: an epoch of kgw's (at or
    // above the floor) is one the legacy cluster never had; kgw's copy,
    // kept as it was at the switch, says where it ends.
    Upstream& upstream = *ctx.upstream();
    std::vector<UpstreamSlot> legacy;
    for (const UpstreamSlot& s : call->upstream) {
      const auto& t = call->body.topics[s.ti];
      const auto& p = t.partitions[s.pi];
      const std::int32_t floor = upstream.epoch_floor(t.topic);
      const TopicInfo* local = ctx.resolver().topic(TopicKey::by_name(t.topic));
      if (floor > 0 && p.leader_epoch >= floor && local != nullptr) {
        const Store::EpochEnd end =
            ctx.store().end_offset_for_epoch(local->id, p.partition, p.leader_epoch);
        auto& out = call->resp.topics[s.ti].partitions[s.pi];
        out.leader_epoch = end.epoch;
        out.end_offset = end.end_offset;
        continue;
      }
      legacy.push_back(s);
    }
    if (!legacy.empty()) {
      ++call->pending;
      forward_offset_for_leader_epoch(upstream, call, call->body, req->version(), legacy,
                                      call->resp, call->forwarded,
                                      [&ctx, call] { finish_one(ctx, *call); });
    }
  }
  finish_one(ctx, *call);
}

}  // namespace kgw
