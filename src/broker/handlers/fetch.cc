// Fetch (key 1): read record batches, long-polling until min_bytes are
// available or max_wait_ms passes.
//
// The happy path is: look up every partition -> read them from the store
// in parallel (off the loop thread), each for no more than the response's
// byte budget still unclaimed -> if partitions were left out for want of
// budget and the reads came back smaller than claimed, read those with
// what is left -> if fewer than min_bytes came back and no partition had an
// error, wait until a produce to one of them (or the timer) wakes us and
// read again -> cut the answer to max_bytes, keeping at least the first
// non-empty partition's first batch whole (KIP-74) -> respond. Possible
// failure modes, per partition: unknown topic or partition, an offset
// outside [log start, log end] (OFFSET_OUT_OF_RANGE), a leader epoch from
// the future (UNKNOWN_LEADER_EPOCH), a store error (KAFKA_STORAGE_ERROR), a
// partition led by another broker (NOT_LEADER_OR_FOLLOWER, with its current
// leader from v12 and, from v16, the leader's address: KIP-951). Fetch sessions (KIP-227)
// are refused the way Kafka refuses them when its session cache is full: we answer session_id 0,
// and a request for an incremental session we never created gets FETCH_SESSION_ID_NOT_FOUND.
//
// Replication throttles (replication_quota.h): a follower's fetch of a
// partition the topic's leader.replication.throttled.replicas names on this
// broker counts against leader.replication.throttled.rate; while that is
// exceeded, a follower out of the ISR gets no records for it.
//
// Memory: the budget is min(the request's max_bytes, the broker's
// fetch.max.bytes), as in Kafka, and only the first partition read while
// nothing is held may exceed it (by its first batch). The budget is
// reserved on the connection while the response is produced, so a client
// pipelining fetches without reading the answers stops being read instead
// of piling them up.
#include <uv.h>

#include <algorithm>
#include <memory>

#include "all_messages.h"
#include "protocol/records/record_batch.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/forward.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "src/replica/replication_quota.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

struct PartitionRead {
  std::size_t topic_index = 0;
  std::size_t partition_index = 0;
  Uuid topic_id;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int32_t max_bytes = 0;
  bool read = false;   // false: answered without reading (error or nothing new)
  bool tried = false;  // read (or found nothing to read) in this attempt
  std::vector<std::uint8_t> data;
  // read_committed: where the read stopped (the last stable offset).
  std::int64_t stable = -1;
  // A follower's fetch of a partition the topic's
  // leader.replication.throttled.replicas names on this leader: its bytes
  // count against the leader's replication quota; `held` when, the
  // follower being out of the ISR and the quota exceeded, it gets none
  // this time (replication_quota.h).
  bool throttled = false;
  bool held = false;
};

struct FetchCall {
  RequestPtr req;
  FetchRequest body;
  FetchResponse resp;
  // Holds the leaders' addresses node_endpoints points into.
  ImagePtr image;
  std::vector<PartitionRead> reads;
  std::uint64_t deadline_ms = 0;
  // Response bytes allowed: min(request max_bytes, fetch.max.bytes).
  std::int64_t budget = INT32_MAX;
  // A partition with data was left unread because the budget was claimed.
  bool deferred = false;
  bool any_error = false;
  bool read_committed = false;
  // A follower's fetch (replica id >= 0): reads up to the log end, not
  // the high watermark, and reports the follower's position.
  bool from_replica = false;
  std::int32_t replica = -1;
  // leader.replication.throttled.rate when some partition is throttled,
  // else -1.
  std::int64_t leader_rate = -1;
  int pending = 0;
  // Proxy mode: the partitions forwarded to the legacy cluster, what their
  // answers point into, and whether they are still out (the local part's
  // answer then waits for them).
  std::vector<UpstreamSlot> upstream;
  ForwardStorage forwarded;
  bool upstream_pending = false;
  bool local_done = false;
};

void run(HandlerContext& ctx, const std::shared_ptr<FetchCall>& call);

// The request's and response's field names for for_each_partition().
struct FetchShape {
  bool by_id = false;  // v13+: topics by id
  bool read_committed = false;
  // A consumer's fetch v11+ may be served by a follower (KIP-392).
  Serving serving = Serving::kLeader;
  std::vector<UpstreamSlot>* upstream = nullptr;

  TopicKey topic(const auto& in, auto& out) const {
    out.topic = in.topic;
    out.topic_id = in.topic_id;
    return by_id ? TopicKey::by_id(in.topic_id) : TopicKey::by_name(in.topic);
  }
  const auto& in_partitions(const auto& t) const { return t.partitions; }
  auto& out_partitions(auto& t) const { return t.partitions; }
  std::int32_t index(const auto& p) const { return p.partition; }
  void start(const auto& in, auto& out) const {
    out.partition_index = in.partition;
    out.high_watermark = -1;
    out.records = Bytes();
    if (read_committed)
      out.aborted_transactions.emplace();
    else
      out.aborted_transactions.reset();
  }
};

// Applies the response-wide max_bytes in partition order: the first
// partition with data keeps everything it read (at least one whole batch),
// later ones keep the whole batches that still fit.
void apply_max_bytes(FetchCall& call) {
  std::int64_t budget = call.budget;
  bool first = true;
  for (auto& pr : call.reads) {
    if (!pr.read || pr.data.empty()) continue;
    if (first) {
      first = false;
      budget -= static_cast<std::int64_t>(pr.data.size());
      continue;
    }
    if (static_cast<std::int64_t>(pr.data.size()) <= budget) {
      budget -= static_cast<std::int64_t>(pr.data.size());
      continue;
    }
    std::vector<Bytes> batches;
    std::size_t tail = 0;
    split_record_batches(Bytes(pr.data), batches, &tail);
    std::size_t keep = 0;
    for (const Bytes& b : batches) {
      if (static_cast<std::int64_t>(keep + b.size()) > budget) break;
      keep += b.size();
    }
    pr.data.resize(keep);
    budget -= static_cast<std::int64_t>(keep);
  }
}

std::size_t total_bytes(const FetchCall& call) {
  std::size_t n = 0;
  for (const auto& pr : call.reads) n += pr.data.size();
  return n;
}

void respond(HandlerContext& ctx, FetchCall& call) {
  if (call.upstream_pending) {
    // Proxy mode: the legacy cluster's part answers it.
    call.local_done = true;
    return;
  }
  apply_max_bytes(call);
  std::uint64_t throttled_bytes = 0;
  for (auto& pr : call.reads) {
    if (!pr.read) continue;
    if (pr.throttled) throttled_bytes += pr.data.size();
    auto& out = call.resp.responses[pr.topic_index].partitions[pr.partition_index];
    out.records = Bytes(pr.data);
    if (call.read_committed && !pr.data.empty()) {
      // The aborted transactions the consumer must drop from these batches.
      for (const auto& a :
           ctx.producers().aborted(pr.topic_id, pr.partition, pr.offset, pr.stable)) {
        auto& at = out.aborted_transactions->emplace_back();
        at.producer_id = a.producer_id;
        at.first_offset = a.first_offset;
      }
    }
  }
  if (throttled_bytes != 0)
    ctx.replicas().leader_quota().record(throttled_bytes, uv_now(ctx.loop()));
  ctx.respond(*call.req, call.resp);
}

void reads_done(HandlerContext& ctx, const std::shared_ptr<FetchCall>& call) {
  FetchCall& c = *call;
  if (c.deferred && static_cast<std::int64_t>(total_bytes(c)) < c.budget) {
    // Reads came back under what they claimed: give the rest to the
    // partitions left out. Each round reads at least one more partition.
    run(ctx, call);
    return;
  }
  const std::uint64_t now = uv_now(ctx.loop());
  const bool enough = static_cast<std::int64_t>(total_bytes(c)) >= c.body.min_bytes;
  if (enough || c.any_error || now >= c.deadline_ms) {
    respond(ctx, c);
    return;
  }
  std::vector<ReplicaManager::PartitionKey> keys;
  for (const auto& pr : c.reads) keys.emplace_back(pr.topic_id, pr.partition);
  ctx.replicas().wait_for_data(c.req->frame.connection, keys,
                               static_cast<std::uint32_t>(c.deadline_ms - now),
                               [&ctx, call](bool timed_out) {
                                 if (timed_out) call->deadline_ms = 0;
                                 for (auto& pr : call->reads) pr.tried = false;
                                 run(ctx, call);
                               });
}

void run(HandlerContext& ctx, const std::shared_ptr<FetchCall>& call) {
  FetchCall& c = *call;
  Store& store = ctx.store();
  c.pending = 1;
  c.deferred = false;
  // What this round may still claim; the first partition read while
  // nothing is held gets at least one whole batch (Kafka's minOneMessage).
  std::int64_t left = c.budget - static_cast<std::int64_t>(total_bytes(c));
  bool first = total_bytes(c) == 0;
  for (auto& pr : c.reads) {
    auto& out = c.resp.responses[pr.topic_index].partitions[pr.partition_index];
    if (out.error_code != 0 || pr.tried) continue;
    const PartitionState* st = store.partition(pr.topic_id, pr.partition);
    if (st == nullptr) {  // deleted while we waited
      out.error_code = code(ErrorCode::kUnknownTopicOrPartition);
      c.any_error = true;
      continue;
    }
    const std::int64_t high_watermark = ctx.replicas().high_watermark(pr.topic_id, pr.partition);
    out.high_watermark = high_watermark;
    out.last_stable_offset =
        ctx.producers().last_stable_offset(pr.topic_id, pr.partition, high_watermark);
    out.log_start_offset = st->log_start_offset;
    // A follower may read everything written; a consumer what the ISR has.
    // An offset between the two is valid for both: a consumer gets nothing
    // yet (Kafka: out of range only past the log end).
    const std::int64_t readable = c.from_replica ? st->high_watermark : high_watermark;
    if (pr.offset < st->log_start_offset || pr.offset > st->high_watermark) {
      out.error_code = code(ErrorCode::kOffsetOutOfRange);
      c.any_error = true;
      continue;
    }
    pr.read = true;
    // read_committed stops at the last stable offset: nothing of an open
    // transaction (nor anything after it) is handed out yet.
    const std::int64_t upper = c.read_committed ? out.last_stable_offset : readable;
    pr.stable = upper;
    // A throttled follower out of the ISR, over the quota: nothing this
    // round (it asks again after the long poll).
    pr.held = pr.throttled && c.from_replica && c.leader_rate >= 0 &&
              ctx.replicas().leader_quota().exceeded(c.leader_rate, uv_now(ctx.loop())) &&
              !ctx.replicas().in_isr(pr.topic_id, pr.partition, c.replica);
    if (pr.offset >= upper || !pr.data.empty() || pr.held) {
      pr.tried = true;
      continue;
    }
    if (!first && left <= 0) {
      c.deferred = true;  // maybe in the next round, if reads come back short
      continue;
    }
    const std::int32_t max_bytes =
        first ? pr.max_bytes
              : static_cast<std::int32_t>(std::min<std::int64_t>(pr.max_bytes, left));
    const bool min_one = first;
    first = false;
    left -= max_bytes;
    pr.tried = true;
    ++c.pending;
    store.read(
        pr.topic_id, pr.partition, pr.offset, max_bytes,
        [&ctx, call, &pr](ReadResult r) {
          auto& o = call->resp.responses[pr.topic_index].partitions[pr.partition_index];
          if (!r.error.empty()) {
            o.error_code = code(ErrorCode::kKafkaStorageError);
            pr.read = false;
            call->any_error = true;
          } else {
            pr.data = std::move(r.data);
            o.log_start_offset = r.log_start_offset;
          }
          if (--call->pending == 0) reads_done(ctx, call);
        },
        c.read_committed || !c.from_replica ? upper : -1, min_one);
  }
  if (--c.pending == 0) reads_done(ctx, call);
}

// A follower's fetch of one partition this node leads (Kafka's
// Partition.fetchRecords for a replica): a stale epoch is fenced; a log
// that diverged from ours (its last fetched epoch ends earlier here, or is
// not ours) is told where ours ends (diverging_epoch, v12+) and gets no
// records; otherwise the leader records the follower's position (which
// moves the high watermark and the ISR).
ErrorCode follower_fetch(HandlerContext& ctx, std::int16_t version, std::int32_t replica,
                         std::int64_t replica_epoch, std::int32_t epoch, const auto& p, auto& out,
                         const LocalPartition& local) {
  const Uuid& topic = local.topic->id;
  if (p.current_leader_epoch >= 0 && p.current_leader_epoch < epoch) {
    return ErrorCode::kFencedLeaderEpoch;
  }
  if (!ctx.replicas().leads(topic, local.partition)) return ErrorCode::kNotLeaderOrFollower;
  if (version >= 12 && p.last_fetched_epoch >= 0) {
    const Store::EpochEnd end =
        ctx.store().end_offset_for_epoch(topic, local.partition, p.last_fetched_epoch);
    if (end.epoch != p.last_fetched_epoch || end.end_offset < p.fetch_offset) {
      out.diverging_epoch.epoch = end.epoch;
      out.diverging_epoch.end_offset = end.end_offset;
      out.high_watermark = ctx.replicas().high_watermark(topic, local.partition);
      const PartitionState* st = ctx.store().partition(topic, local.partition);
      if (st != nullptr) out.log_start_offset = st->log_start_offset;
      return ErrorCode::kNone;
    }
  }
  return ctx.replicas().on_follower_fetch(topic, local.partition, replica, replica_epoch,
                                          p.fetch_offset);
}

// KIP-392's RackAwareReplicaSelector, when replica.selector.class names
// it: for a consumer with a rack, the in-sync follower in that rack that
// holds the fetch offset (the one furthest ahead), unless this leader is
// in the rack itself; -1 for "read from the leader".
std::int32_t preferred_read_replica(HandlerContext& ctx, std::string_view rack, const Uuid& topic,
                                    std::int32_t partition, std::int64_t fetch_offset) {
  const std::optional<std::string> selector = ctx.config().get("replica.selector.class");
  if (rack.empty() || !selector ||
      selector->find("RackAwareReplicaSelector") == std::string::npos) {
    return -1;
  }
  const ImagePtr image = ctx.metadata().image();
  const BrokerImage* self = image->broker(ctx.identity().node_id);
  if (self != nullptr && self->rack && *self->rack == rack) return -1;
  const TopicPtr t = image->topic(topic);
  const PartitionImage* p = t != nullptr ? t->partition(partition) : nullptr;
  if (p == nullptr) return -1;
  std::int32_t best = -1;
  std::int64_t best_end = -1;
  for (std::int32_t id : p->isr) {
    const BrokerImage* b = image->broker(id);
    if (id == ctx.identity().node_id || b == nullptr || b->fenced || !b->rack || *b->rack != rack) {
      continue;
    }
    const std::int64_t end = ctx.replicas().follower_end(topic, partition, id);
    if (end >= fetch_offset && end > best_end) {
      best = id;
      best_end = end;
    }
  }
  return best;
}

}  // namespace

void handle_fetch(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<FetchCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  const auto& body = call->body;
  auto& resp = call->resp;
  resp.session_id = 0;
  if (body.session_id != 0) {
    resp.error_code = code(ErrorCode::kFetchSessionIdNotFound);
    ctx.respond(*req, resp);
    return;
  }
  if (body.session_epoch > 0) {
    resp.error_code = code(ErrorCode::kInvalidFetchSessionEpoch);
    ctx.respond(*req, resp);
    return;
  }
  const bool by_id = req->version() >= 13;
  const bool read_committed = body.isolation_level == 1;
  call->read_committed = read_committed;
  // Followers name themselves: replica_id before v15, ReplicaState (with
  // their broker epoch, KIP-903) from v15.
  const std::int32_t replica =
      req->version() >= 15 ? body.replica_state.replica_id : body.replica_id;
  const std::int64_t replica_epoch = req->version() >= 15 ? body.replica_state.replica_epoch : -1;
  call->from_replica = replica >= 0;
  call->replica = replica;
  // Kafka: min(request max_bytes, fetch.max.bytes); before v3 the request
  // has no max_bytes.
  call->budget = ctx.config().get_long("fetch.max.bytes");
  if (req->version() >= 3)
    call->budget = std::min<std::int64_t>(call->budget, std::max(body.max_bytes, 0));
  std::int64_t claimed = 0;
  // Partitions answered without a read (diverged, or sent to another
  // replica): the response goes at once, whatever min_bytes says.
  bool answer_now = false;
  std::size_t wanted = 0;
  for (const auto& t : body.topics) wanted += t.partitions.size();
  call->reads.reserve(wanted);
  FetchShape shape{
      by_id, read_committed,
      call->from_replica || req->version() < 11 ? Serving::kLeader : Serving::kAnyReplica};
  // Proxy mode: a consumer's partitions of the legacy cluster's topics.
  if (ctx.upstream() != nullptr && !call->from_replica) shape.upstream = &call->upstream;
  const std::size_t errors = for_each_partition(
      ctx.resolver(), shape, body.topics, resp.responses, NoGuard{},
      [&](std::size_t ti, std::size_t pi, const auto& p, auto& out,
          const LocalPartition& local) -> ErrorCode {
        const std::int32_t epoch = ctx.replicas().leader_epoch(local.topic->id, local.partition);
        // A client that knows of a later epoch than ours.
        if (p.current_leader_epoch > epoch) return ErrorCode::kUnknownLeaderEpoch;
        if (call->from_replica) {
          ErrorCode e =
              follower_fetch(ctx, req->version(), replica, replica_epoch, epoch, p, out, local);
          // A diverged log is answered at once: it has nothing to wait for.
          answer_now |= out.diverging_epoch.epoch >= 0;
          if (e != ErrorCode::kNone || out.diverging_epoch.epoch >= 0) return e;
        } else if (req->version() >= 11 && ctx.replicas().leads(local.topic->id, local.partition)) {
          // A consumer in another rack than this leader is sent to a
          // follower in its own (KIP-392): no records, the replica to ask.
          const std::int32_t preferred = preferred_read_replica(ctx, body.rack_id, local.topic->id,
                                                                local.partition, p.fetch_offset);
          if (preferred >= 0) {
            out.preferred_read_replica = preferred;
            out.high_watermark = ctx.replicas().high_watermark(local.topic->id, local.partition);
            out.log_start_offset = local.state->log_start_offset;
            answer_now = true;
            return ErrorCode::kNone;
          }
        }
        PartitionRead pr;
        pr.topic_index = ti;
        pr.partition_index = pi;
        pr.topic_id = local.topic->id;
        pr.partition = p.partition;
        pr.offset = p.fetch_offset;
        pr.max_bytes = std::max<std::int32_t>(p.partition_max_bytes, 0);
        pr.max_bytes =
            static_cast<std::int32_t>(std::min<std::int64_t>(pr.max_bytes, call->budget));
        if (call->from_replica) {
          pr.throttled =
              throttled_replica(local.topic->configs, "leader.replication.throttled.replicas",
                                p.partition, ctx.identity().node_id);
          if (pr.throttled && call->leader_rate < 0) {
            call->leader_rate = ctx.config().get_long("leader.replication.throttled.rate");
          }
        }
        claimed += pr.max_bytes;
        call->reads.push_back(std::move(pr));
        return ErrorCode::kNone;
      });
  call->any_error = errors != 0 || answer_now;
  if (errors != 0) {
    call->image = ctx.metadata().image();
    const ImagePtr& image = call->image;
    fill_current_leaders(
        ctx, *req, *image, resp.responses, resp.node_endpoints,
        [&](const auto& t) {
          return (by_id ? image->topic(t.topic_id) : image->topic(t.topic)).get();
        },
        [](auto& t) -> auto& { return t.partitions; },
        [](const auto& p) { return p.partition_index; });
  }
  // Until answered, the response counts against the connection's queued
  // bytes: at most the budget plus one oversized first batch, usually far
  // less, but what the reads may bring is what memory must allow for.
  ctx.reserve_response(*req, static_cast<std::size_t>(std::min(claimed, call->budget)));
  call->deadline_ms =
      uv_now(ctx.loop()) + static_cast<std::uint64_t>(std::max(body.max_wait_ms, 0));
  if (!call->upstream.empty()) {
    // Proxy mode: forwarded with the client's max_wait_ms and min_bytes,
    // so the legacy broker holds the long poll. With no local partition
    // the answer goes when the legacy ones are in; with some, when both
    // are (the local part still waits out its own max_wait_ms).
    call->upstream_pending = true;
    call->local_done = call->reads.empty() && errors == 0;
    forward_fetch(*ctx.upstream(), call, call->body, req->version(), call->upstream, resp,
                  call->forwarded, [&ctx, call] {
                    call->upstream_pending = false;
                    if (call->local_done) respond(ctx, *call);
                  });
    if (call->local_done) return;
  }
  run(ctx, call);
}

}  // namespace kgw
