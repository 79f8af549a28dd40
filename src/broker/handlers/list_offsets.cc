// ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3),
// earliest local (-4) or the first offset at or after a timestamp.
//
// Who asks matters, as in Kafka (ReplicaManager.fetchOffset): a consumer
// (replica id -1) asks the leader and reads latest as the high watermark
// (or, read_committed, the last stable offset); anyone else (a broker id,
// or Kafka's debugging replica id -2) gets the log end offset, with no
// isolation level. The debugging id is also answered by a follower, from
// its own log: how an operator, or tools/bench/replication_bench.py, reads
// each replica's log end and so a follower's lag behind its leader.
#include <memory>
#include <set>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/proxy/forward.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr std::int64_t kLatest = -1;
constexpr std::int64_t kEarliest = -2;
constexpr std::int64_t kMaxTimestamp = -3;
constexpr std::int64_t kEarliestLocal = -4;
constexpr std::int64_t kLatestTiered = -5;

// The request's replica_id: a client, or Kafka's DEBUGGING_REPLICA_ID.
constexpr std::int32_t kConsumerReplicaId = -1;
constexpr std::int32_t kDebuggingReplicaId = -2;

// Topics by name; the debugging replica id is served by any replica.
struct ListOffsetsShape : NamedTopicsShape {
  Serving serving = Serving::kLeader;
  std::vector<UpstreamSlot>* upstream = nullptr;
};

struct ListCall : PendingCall<ListOffsetsRequest, ListOffsetsResponse> {
  // Proxy mode: the partitions asked of the legacy cluster.
  std::vector<UpstreamSlot> upstream;
  ForwardStorage forwarded;
};

void set_offset(std::int16_t version, ListOffsetsResponse::ListOffsetsPartitionResponse& out,
                std::int64_t offset, std::int64_t timestamp, std::int32_t leader_epoch) {
  if (version == 0) {
    out.old_style_offsets = {offset};
  } else {
    out.offset = offset;
    out.timestamp = timestamp;
  }
  out.leader_epoch = leader_epoch;
}

}  // namespace

void handle_list_offsets(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<ListCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  const std::int16_t version = req->version();
  Store& store = ctx.store();
  std::set<std::pair<std::string_view, std::int32_t>> seen;
  const bool from_client = call->body.replica_id == kConsumerReplicaId;
  // Kafka's isolation level 1: READ_COMMITTED (a client's only).
  const bool read_committed = from_client && call->body.isolation_level == 1;
  ListOffsetsShape shape;
  // Kafka's debugging replica reads this node's own copy, also of a topic
  // being mirrored (issue 17: kgw-admin migrate status).
  if (call->body.replica_id == kDebuggingReplicaId) shape.serving = Serving::kOwnCopy;
  if (ctx.upstream() != nullptr) shape.upstream = &call->upstream;
  for_each_partition(
      ctx.resolver(), shape, call->body.topics, call->resp.topics,
      [&](std::size_t ti, std::size_t, const auto& p) {
        // Asked twice: checked before the topic is.
        return seen.insert({call->body.topics[ti].name, p.partition_index}).second
                   ? ErrorCode::kNone
                   : ErrorCode::kInvalidRequest;
      },
      [&](std::size_t ti, std::size_t pi, const auto& p, auto& out,
          const LocalPartition& local) -> ErrorCode {
        const TopicInfo* topic = local.topic;
        const PartitionState* st = local.state;
        ReplicaManager& replicas = ctx.replicas();
        const std::int32_t epoch = replicas.leader_epoch(topic->id, local.partition);
        // A client that knows of a later epoch than ours.
        if (p.current_leader_epoch > epoch) return ErrorCode::kUnknownLeaderEpoch;
        // Latest: a client's is the high watermark; anyone else's the log
        // end (the store's written end), not only what the ISR holds.
        const std::int64_t latest =
            from_client ? replicas.high_watermark(topic->id, local.partition) : st->high_watermark;
        switch (p.timestamp) {
          case kLatest:
          case kLatestTiered:
            // read_committed stops at the last stable offset: the first
            // offset of the first open transaction, else the high watermark.
            set_offset(version, out,
                       read_committed ? ctx.producers().last_stable_offset(
                                            topic->id, p.partition_index, latest)
                                      : latest,
                       -1, epoch);
            return ErrorCode::kNone;
          case kEarliest:
          case kEarliestLocal:
            set_offset(version, out, st->log_start_offset, -1, epoch);
            return ErrorCode::kNone;
          default:
            break;
        }
        if (p.timestamp < 0 && p.timestamp != kMaxTimestamp) return ErrorCode::kInvalidRequest;
        if (p.timestamp == kMaxTimestamp && latest == st->log_start_offset) {
          set_offset(version, out, -1, -1, epoch);
          return ErrorCode::kNone;
        }
        const std::int64_t target = p.timestamp == kMaxTimestamp ? st->max_timestamp : p.timestamp;
        ++call->pending;
        store.offset_for_timestamp(topic->id, p.partition_index, target,
                                   [&ctx, call, ti, pi, version, epoch](
                                       std::int64_t offset, std::int64_t ts, std::string error) {
                                     auto& o = call->resp.topics[ti].partitions[pi];
                                     if (!error.empty()) {
                                       o.error_code = code(ErrorCode::kKafkaStorageError);
                                     } else if (offset < 0) {
                                       set_offset(version, o, -1, -1, epoch);
                                     } else {
                                       set_offset(version, o, offset, ts, epoch);
                                     }
                                     finish_one(ctx, *call);
                                   });
        return ErrorCode::kNone;
      });
  if (!call->upstream.empty()) {
    // Proxy mode: asked of the legacy leaders, as a consumer.
    ++call->pending;
    forward_list_offsets(*ctx.upstream(), call, call->body, version, call->upstream, call->resp,
                         call->forwarded, [&ctx, call] { finish_one(ctx, *call); });
  }
  finish_one(ctx, *call);
}

}  // namespace kgw
