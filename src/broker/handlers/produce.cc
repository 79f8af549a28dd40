// Produce (key 0): decode -> guards -> resolve each partition -> the
// ReplicaManager's checked, ordered append -> respond.
//
// Guards, per partition, as Kafka answers them: acks other than 0, 1, -1
// (INVALID_REQUIRED_ACKS, before anything else), unknown topic or partition
// (UNKNOWN_TOPIC_OR_PARTITION); the rest is the ReplicaManager's
// (src/replica/replica_manager.h): the records' framing, CRC, sizes and
// contents, acks=all against the ISR, idempotence and transactions, the
// order of the partition's appends, and the write. Produce v0-v2 carry
// legacy message sets (magic 0/1), up-converted there. Valid partitions
// are appended even when others in the same request fail. acks=0 gets no
// response at all. A partition led by another broker is
// NOT_LEADER_OR_FOLLOWER with, from v10 (KIP-951), its current leader and
// that leader's address, so the client goes there without a Metadata round.
// In proxy mode the partitions of the legacy cluster's topics are
// forwarded to their leaders there (src/proxy/forward.h) and their answers
// merged in at their places.
//
// Pipelined successors (kgw's, not Kafka's): an idempotent producer with
// several requests in flight to one broker can see the first refused,
// unwritten, with a retriable error (NOT_LEADER_OR_FOLLOWER,
// NOT_ENOUGH_REPLICAS, ...) and the next one, which the broker took after
// its state changed (it became leader, the ISR grew back), refused
// OUT_OF_ORDER_SEQUENCE_NUMBER for the gap the first one left. Kafka
// answers exactly that; librdkafka (up to its latest release) then bumps
// the producer's epoch and renumbers every queued message, on every
// partition, so that a message possibly written before (a send cut off by
// a disconnection) is written again under the new epoch: a duplicate
// (librdkafka issue 4953). Kafka's Java client retries without a bump. So
// kgw remembers, per connection (Session::refused_batches), the lowest
// base sequence refused unwritten for each (topic, partition, producer id,
// epoch) since its last written batch, and answers a later batch of that
// producer whose sequence gap starts there with the first refusal's error
// instead: every client retries it in order, after its predecessor.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "all_messages.h"
#include "protocol/records/record_batch.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/forward.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"

namespace kgw {

namespace {

// Bound on what all of one request's legacy compressed wrappers may
// inflate to.
constexpr std::size_t kMaxLegacyDecompressed = 64u << 20;

struct ProduceCall {
  RequestPtr req;
  ProduceRequest body;
  ProduceResponse resp;
  std::deque<std::string> strings;  // backing storage of error messages
  // Proxy mode: the partitions routed to the legacy cluster, and what
  // their answers point into.
  std::vector<UpstreamSlot> upstream;
  ForwardStorage forwarded;
  bool acks_zero = false;
  // A cutover's fence lets it through (fenced_by_cutover).
  bool open_txn_pass = false;
  int pending = 1;
};

// The request's and response's field names for for_each_partition().
struct ProduceShape {
  std::vector<UpstreamSlot>* upstream = nullptr;
  // A write: fenced during a migration's cutover (partition_resolver.h).
  Serving serving = Serving::kWrite;
  TopicKey topic(const auto& in, auto& out) const {
    out.name = in.name;
    return TopicKey::by_name(in.name);
  }
  const auto& in_partitions(const auto& t) const { return t.partition_data; }
  auto& out_partitions(auto& t) const { return t.partition_responses; }
  std::int32_t index(const auto& p) const { return p.index; }
  void start(const auto& in, auto& out) const {
    out.index = in.index;
    out.base_offset = -1;
  }
};

// How long a refused batch explains a successor's gap, and how many a
// connection remembers (past that the memory starts again).
constexpr std::uint64_t kRefusalMemoryMs = 30000;
constexpr std::size_t kMaxRefusals = 4096;

// Errors a partition is refused with before anything is written, which a
// producer retries.
bool refused_unwritten(std::int16_t error) {
  return error == code(ErrorCode::kNotLeaderOrFollower) ||
         error == code(ErrorCode::kNotEnoughReplicas) ||
         error == code(ErrorCode::kLeaderNotAvailable) ||
         error == code(ErrorCode::kUnknownTopicOrPartition);
}

// "Pipelined successors" above: notes this request's refusals and answers
// a gap that one of this connection's refusals explains with its error.
void explain_sequence_gaps(ProduceCall& call, Session& session, std::uint64_t now) {
  auto& refused = session.refused_batches;
  for (std::size_t ti = 0; ti < call.body.topic_data.size(); ++ti) {
    const auto& t = call.body.topic_data[ti];
    if (ti >= call.resp.responses.size()) break;
    auto& outs = call.resp.responses[ti].partition_responses;
    for (std::size_t pi = 0; pi < t.partition_data.size() && pi < outs.size(); ++pi) {
      auto& out = outs[pi];
      // The usual case costs nothing: written, and no refusal to forget.
      if (out.error_code == code(ErrorCode::kNone) && refused.empty()) continue;
      const auto& pd = t.partition_data[pi];
      RecordBatchHeader h;
      if (!pd.records || parse_record_batch_header(*pd.records, h) != RecordError::kNone ||
          h.producer_id < 0) {
        continue;
      }
      const auto key = std::make_tuple(std::string(t.name), pd.index, h.producer_id);
      auto it = refused.find(key);
      if (out.error_code == code(ErrorCode::kNone) ||
          out.error_code == code(ErrorCode::kDuplicateSequenceNumber)) {
        if (it != refused.end()) refused.erase(it);
      } else if (out.error_code == code(ErrorCode::kOutOfOrderSequenceNumber)) {
        if (it == refused.end() || it->second.epoch != h.producer_epoch ||
            it->second.base_sequence >= h.base_sequence ||
            now - it->second.at_ms > kRefusalMemoryMs) {
          continue;
        }
        const RefusedBatch& r = it->second;
        out.error_code = r.error;
        out.error_message = call.strings.emplace_back(
            "base sequence " + std::to_string(h.base_sequence) + " of producer " +
            std::to_string(h.producer_id) + " follows base sequence " +
            std::to_string(r.base_sequence) + ", refused on this connection with " +
            error_name(static_cast<ErrorCode>(r.error)) + ": send that batch again first");
      } else if (refused_unwritten(out.error_code)) {
        if (it == refused.end()) {
          if (refused.size() >= kMaxRefusals) refused.clear();
          refused[key] = RefusedBatch{h.producer_epoch, h.base_sequence, out.error_code, now};
        } else if (it->second.epoch != h.producer_epoch ||
                   h.base_sequence <= it->second.base_sequence) {
          it->second = RefusedBatch{h.producer_epoch, h.base_sequence, out.error_code, now};
        } else {
          it->second.at_ms = now;
        }
      }
    }
  }
}

void finish_one(HandlerContext& ctx, const std::shared_ptr<ProduceCall>& call) {
  if (--call->pending != 0) return;
  ctx.produce_finished(*call->req);
  // acks=0 frees its place in the connection's line only now, once its
  // writes are done: until then it counts against the connection's
  // in-flight limit like any request, so a flood of acks=0 requests cannot
  // queue more than that (and queued.max.request.bytes) in memory.
  if (call->acks_zero) {
    ctx.skip(*call->req);
    return;
  }
  explain_sequence_gaps(*call, call->req->session(), uv_now(ctx.loop()));
  // The endpoints point into the image: it lives until respond() encoded.
  const ImagePtr image = ctx.metadata().image();
  fill_current_leaders(
      ctx, *call->req, *image, call->resp.responses, call->resp.node_endpoints,
      [&](const auto& t) { return image->topic(t.name).get(); },
      [](auto& t) -> auto& { return t.partition_responses; },
      [](const auto& p) { return p.index; });
  ctx.respond(*call->req, call->resp);
}

// How often requests held by a migration's cutover look again.
constexpr std::uint64_t kCutoverPollMs = 2;

// Whether every batch for the topic is transactional, of a producer whose
// transaction has the topic open on the legacy cluster.
bool open_transaction_writes(const Upstream& upstream,
                             const ProduceRequest::TopicProduceData& topic) {
  for (const auto& p : topic.partition_data) {
    if (!p.records || p.records->empty()) return false;
    std::vector<Bytes> batches;
    if (split_record_batches(*p.records, batches) != RecordError::kNone || batches.empty()) {
      return false;
    }
    for (const Bytes& b : batches) {
      RecordBatchHeader h;
      if (parse_record_batch_header(b, h) != RecordError::kNone || !h.is_transactional() ||
          h.is_control() || !upstream.txns().producer_open_on(h.producer_id, topic.name)) {
        return false;
      }
    }
  }
  return true;
}

// Proxy mode: whether the request names a topic in a migration's cutover
// (src/proxy/cutover.h) or a rollback's switch (src/proxy/copy_back.h),
// whose produce is fenced.
// The fence lets through the writes of a transaction already open on the
// topic on the legacy cluster, so that it can end (src/proxy/upstream_txns.h):
// then `pass` is set, and the request runs as a leader's write.
bool fenced_by_cutover(HandlerContext& ctx, const ProduceRequest& body, bool* pass = nullptr) {
  if (pass != nullptr) *pass = false;
  if (ctx.upstream() == nullptr) return false;
  const ImagePtr image = ctx.metadata().image();
  bool open_txn = false;
  for (const auto& t : body.topic_data) {
    const TopicPtr topic = image->topic(t.name);
    if (topic == nullptr) continue;
    const std::string_view state = PartitionResolver::migration_state(topic->configs);
    if (state == PartitionResolver::kRollback && ctx.upstream()->writes_fenced(t.name)) {
      return true;
    }
    if (state != PartitionResolver::kCutover) continue;
    if (!open_transaction_writes(*ctx.upstream(), t)) return true;
    open_txn = true;
  }
  if (pass != nullptr) *pass = open_txn;
  return false;
}

void run_produce(HandlerContext& ctx, const std::shared_ptr<ProduceCall>& call);

// Proxy mode: a migrated topic not finalized yet, which a rollback may
// hand back to the legacy cluster.
bool may_roll_back(const TopicImage& t) {
  auto f = t.configs.find(std::string(PartitionResolver::kMigrationFinalized));
  return f != t.configs.end() && f->second == "false";
}

// The requests a cutover holds, in arrival order: they run in that order
// (an idempotent producer's pipelined requests must reach the log in
// sequence), and a request that comes while any is held waits behind them.
struct HeldProduce {
  std::deque<std::pair<std::shared_ptr<ProduceCall>, std::uint64_t>> calls;  // and since when
};

HeldProduce& held_produce(HandlerContext& ctx) {
  static std::map<HandlerContext*, HeldProduce> held;
  return held[&ctx];
}

void release_held(HandlerContext& ctx);

// release_held() on the loop after kCutoverPollMs (a one-shot timer that
// closes itself: nothing outlives the loop).
void poll_held(HandlerContext& ctx) {
  auto* timer = new uv_timer_t;
  uv_timer_init(ctx.loop(), timer);
  timer->data = &ctx;
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        release_held(*static_cast<HandlerContext*>(t->data));
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      },
      kCutoverPollMs, 0);
}

void release_held(HandlerContext& ctx) {
  HeldProduce& h = held_produce(ctx);
  const std::uint64_t now = uv_now(ctx.loop());
  const auto limit =
      static_cast<std::uint64_t>(ctx.config().get_long("migration.cutover.max.pause.ms"));
  // Past the cutover's own limit a request runs anyway: the resolver then
  // answers NOT_LEADER_OR_FOLLOWER and the client retries.
  bool pass = false;
  while (!h.calls.empty() && (now - h.calls.front().second > limit ||
                              !fenced_by_cutover(ctx, h.calls.front().first->body, &pass))) {
    auto call = std::move(h.calls.front().first);
    h.calls.pop_front();
    call->open_txn_pass = pass;
    pass = false;
    run_produce(ctx, call);
  }
  if (!h.calls.empty()) poll_held(ctx);
}

// Holds the request if a cutover fences it, or if others are held.
bool hold_for_cutover(HandlerContext& ctx, const std::shared_ptr<ProduceCall>& call) {
  if (ctx.upstream() == nullptr) return false;
  HeldProduce& h = held_produce(ctx);
  bool pass = false;
  if (!fenced_by_cutover(ctx, call->body, &pass)) {
    // An open transaction's write waits only behind its own connection's.
    const bool behind_own =
        pass && std::any_of(h.calls.begin(), h.calls.end(), [&](const auto& held) {
          return held.first->req->frame.connection == call->req->frame.connection;
        });
    if (h.calls.empty() || (pass && !behind_own)) {
      call->open_txn_pass = pass;
      return false;
    }
  }
  h.calls.emplace_back(call, uv_now(ctx.loop()));
  if (h.calls.size() == 1) poll_held(ctx);
  return true;
}

}  // namespace

void handle_produce(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<ProduceCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  ctx.produce_started(*req);
  // A migration's cutover fences the topic's produce: the request waits
  // until the topic is kgw's (then it is appended here) or mirroring
  // again (then forwarded), as a producer waits out a leader change, but
  // without the client's retry backoff.
  if (hold_for_cutover(ctx, call)) return;
  run_produce(ctx, call);
}

namespace {

void run_produce(HandlerContext& ctx, const std::shared_ptr<ProduceCall>& call) {
  const RequestPtr& req = call->req;
  const auto& body = call->body;
  // Nothing goes back, not even errors (finish_one skips the response).
  call->acks_zero = body.acks == 0;
  const bool bad_acks = body.acks != 0 && body.acks != 1 && body.acks != -1;
  const bool legacy = req->version() < 3;
  auto legacy_budget =
      legacy ? std::make_shared<DecompressionBudget>(kMaxLegacyDecompressed) : nullptr;
  std::uint8_t* const frame = req->frame.bytes.data();
  ProduceShape shape;
  if (ctx.upstream() != nullptr) shape.upstream = &call->upstream;
  if (call->open_txn_pass) shape.serving = Serving::kLeader;
  for_each_partition(
      ctx.resolver(), shape, body.topic_data, call->resp.responses,
      [bad_acks](std::size_t, std::size_t, const auto&) {
        return bad_acks ? ErrorCode::kInvalidRequiredAcks : ErrorCode::kNone;
      },
      [&](std::size_t ti, std::size_t pi, const auto& pd, auto&,
          const LocalPartition& local) -> ErrorCode {
        AppendRequest r;
        r.partition = local;
        if (pd.records) {
          // The records are a view into the request frame, which is ours
          // to change.
          r.records =
              std::span<std::uint8_t>(frame + (pd.records->data() - frame), pd.records->size());
        }
        r.owner = req;
        r.legacy = legacy;
        r.acks = body.acks;
        r.timeout_ms = body.timeout_ms;
        r.legacy_budget = legacy_budget;
        r.peer = req->peer();
        ++call->pending;
        // A migrated topic that may be rolled back (not finalized): a
        // rollback's switch waits for this write's answer (an append may
        // wait for the threadpool before it takes its offsets;
        // src/proxy/copy_back.h).
        std::string rolling_back;
        if (Upstream* up = ctx.upstream(); up != nullptr) {
          const TopicPtr t = ctx.metadata().image()->topic(local.topic->id);
          if (t != nullptr && may_roll_back(*t)) {
            rolling_back = t->name;
            up->local_write_started(rolling_back);
          }
        }
        ctx.replicas().append(std::move(r), [&ctx, call, ti, pi, rolling_back](AppendOutcome o) {
          if (!rolling_back.empty() && ctx.upstream() != nullptr) {
            ctx.upstream()->local_write_answered(rolling_back);
          }
          auto& out = call->resp.responses[ti].partition_responses[pi];
          out.error_code = code(o.error);
          if (o.error == ErrorCode::kNone) {
            out.base_offset = o.base_offset;
            out.log_start_offset = o.log_start_offset;
            out.log_append_time_ms = o.log_append_time;
          }
          if (!o.message.empty()) out.error_message = call->strings.emplace_back(o.message);
          for (const RecordFault& f : o.faults) {
            auto& e = out.record_errors.emplace_back();
            e.batch_index = f.batch_index;
            e.batch_index_error_message = call->strings.emplace_back(f.message);
          }
          finish_one(ctx, call);
        });
        return ErrorCode::kNone;
      });
  if (!call->upstream.empty()) {
    // Proxy mode: the legacy cluster's partitions go to their leaders
    // there. acks=0 goes as acks=1 (a legacy broker would not answer, and
    // the call would wait out its timeout); the client still gets nothing.
    ++call->pending;
    ProduceRequest& forwarded = call->body;
    if (forwarded.acks == 0) forwarded.acks = 1;
    forward_produce(*ctx.upstream(), call, forwarded, req->version(), call->upstream, call->resp,
                    call->forwarded, [&ctx, call] { finish_one(ctx, call); });
  }
  finish_one(ctx, call);
}

}  // namespace

}  // namespace kgw
