// OffsetFetch (key 9): a group's committed offsets; -1 where nothing is
// committed. v0-7 ask about one group (v2+: topics null means every
// committed partition); v8+ about several groups at once.
#include <map>

#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"
#include "src/proxy/group_forward.h"

namespace kgw {

namespace {

using TopicQuery = std::optional<std::vector<std::pair<std::string, std::vector<std::int32_t>>>>;

template <typename Topics>
TopicQuery to_query(const std::optional<Topics>& topics) {
  if (!topics) return std::nullopt;
  TopicQuery q;
  q.emplace();
  for (const auto& t : *topics) q->emplace_back(std::string(t.name), t.partition_indexes);
  return q;
}

// Groups results by topic, in the order topics first appear.
template <typename TopicOut>
void fill_topics(const FetchOffsetsResult& r, std::vector<TopicOut>& out) {
  std::map<std::string_view, std::size_t> index;
  for (const auto& p : r.partitions) {
    auto [it, fresh] = index.emplace(p.topic, out.size());
    if (fresh) out.emplace_back().name = p.topic;
    auto& part = out[it->second].partitions.emplace_back();
    part.partition_index = p.partition;
    part.committed_offset = p.offset;
    part.committed_leader_epoch = p.leader_epoch;
    part.metadata = p.metadata;
    part.error_code = code(p.error);
  }
}

// Another broker's group: the group error, and (v0-1, which have no group
// error field) NOT_COORDINATOR on each partition asked for, as Kafka.
template <typename Topics>
FetchOffsetsResult not_coordinator_result(std::int16_t version, const std::optional<Topics>& topics,
                                          ErrorCode guard) {
  FetchOffsetsResult r;
  r.error = guard;
  if (version >= 2 || !topics) return r;
  for (const auto& t : *topics) {
    for (std::int32_t p : t.partition_indexes) {
      auto& out = r.partitions.emplace_back();
      out.topic = std::string(t.name);
      out.partition = p;
      out.offset = -1;
      out.error = guard;
    }
  }
  return r;
}

// The legacy answer's topics (either shape) into a v8+ group, owning
// their strings.
template <typename From>
void copy_topics(const From& from, OffsetFetchResponse::OffsetFetchResponseGroup& to,
                 ForwardStorage& st) {
  for (const auto& t : from) {
    auto& tout = to.topics.emplace_back();
    tout.name = st.strings.emplace_back(t.name);
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      pout.committed_offset = p.committed_offset;
      pout.committed_leader_epoch = p.committed_leader_epoch;
      if (p.metadata)
        pout.metadata = st.strings.emplace_back(*p.metadata);
      else
        pout.metadata = std::nullopt;
      pout.error_code = p.error_code;
    }
  }
}

// The version a one-group fetch needs: v2 for "every partition".
// require_stable (v7+) is dropped below v7, as librdkafka does with an
// older broker: such a broker never shows offsets of an open transaction
// anyway (it answers the last committed offset rather than
// UNSTABLE_OFFSET_COMMIT).
std::int16_t min_fetch_version(bool all_topics) {
  return all_topics ? 2 : OffsetFetchRequest::min_version;
}

// v8+: one group of the request forwarded upstream, its answer put at
// `call->resp.groups[i]`.
struct FetchCall {
  std::vector<FetchOffsetsResult> results;  // the local groups' (resp points into them)
  OffsetFetchResponse resp;
  ForwardStorage storage;
  GroupJoin join;
};

void forward_group_fetch(HandlerContext& ctx, const RequestPtr& req, const OffsetFetchRequest& body,
                         std::size_t i, const std::shared_ptr<FetchCall>& call) {
  const auto& g = body.groups[i];
  OffsetFetchRequest sub;
  sub.group_id = g.group_id;
  sub.require_stable = body.require_stable;
  if (g.topics) {
    sub.topics.emplace();
    for (const auto& t : *g.topics) {
      auto& tout = sub.topics->emplace_back();
      tout.name = t.name;
      tout.partition_indexes = t.partition_indexes;
    }
  } else {
    sub.topics = std::nullopt;
  }
  sub.groups.push_back(g);
  ++call->join.pending;
  forward_to_group_coordinator<OffsetFetchRequest, OffsetFetchResponse>(
      *ctx.upstream(), g.group_id, std::move(sub), min_fetch_version(!g.topics), req->version(),
      [req, call, i](ErrorCode e, const OffsetFetchResponse& r) {
        auto& out = call->resp.groups[i];
        if (e != ErrorCode::kNone) {
          out.error_code = code(e);
        } else if (!r.groups.empty()) {
          out.error_code = r.groups.front().error_code;
          copy_topics(r.groups.front().topics, out, call->storage);
        } else {
          out.error_code = r.error_code;
          copy_topics(r.topics, out, call->storage);
        }
        call->resp.throttle_time_ms = std::max(call->resp.throttle_time_ms, r.throttle_time_ms);
        call->join.one();
      });
}

}  // namespace

void handle_offset_fetch(HandlerContext& ctx, RequestPtr req) {
  OffsetFetchRequest body;
  if (!ctx.decode(*req, body)) return;
  OffsetFetchResponse resp;
  const OffsetManager& offsets = ctx.offsets();
  if (req->version() < 8 && group_upstream(ctx, body.group_id)) {
    forward_to_group_coordinator<OffsetFetchRequest, OffsetFetchResponse>(
        *ctx.upstream(), body.group_id, body, min_fetch_version(!body.topics), req->version(),
        [&ctx, req, body](ErrorCode e, const OffsetFetchResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          OffsetFetchResponse resp;
          FetchOffsetsResult failed = not_coordinator_result(req->version(), body.topics, e);
          fill_topics(failed, resp.topics);
          resp.error_code = code(e);
          ctx.respond(*req, resp);
        });
    return;
  }
  if (req->version() < 8) {
    const ErrorCode guard = group_coordinator_error(ctx, body.group_id);
    FetchOffsetsResult r = guard != ErrorCode::kNone
                               ? not_coordinator_result(req->version(), body.topics, guard)
                               : offsets.fetch_offsets(std::string(body.group_id),
                                                       to_query(body.topics), body.require_stable);
    fill_topics(r, resp.topics);
    resp.error_code = code(r.error);
    ctx.respond(*req, resp);
    return;
  }
  std::vector<FetchOffsetsResult> results;
  results.reserve(body.groups.size());
  std::vector<std::size_t> upstream;
  for (const auto& g : body.groups) {
    if (group_upstream(ctx, g.group_id)) {
      upstream.push_back(results.size());
      results.emplace_back();
      continue;
    }
    if (const ErrorCode guard = group_coordinator_error(ctx, g.group_id);
        guard != ErrorCode::kNone) {
      FetchOffsetsResult r;
      r.error = guard;
      results.push_back(std::move(r));
      continue;
    }
    results.push_back(
        offsets.fetch_offsets(std::string(g.group_id), to_query(g.topics), body.require_stable));
  }
  for (std::size_t i = 0; i < body.groups.size(); ++i) {
    auto& gout = resp.groups.emplace_back();
    gout.group_id = body.groups[i].group_id;
    gout.error_code = code(results[i].error);
    fill_topics(results[i], gout.topics);
  }
  if (upstream.empty()) {
    ctx.respond(*req, resp);
    return;
  }
  // Proxy mode: the legacy cluster's groups, one call each, answered at
  // their places.
  auto call = std::make_shared<FetchCall>();
  call->resp = std::move(resp);
  call->results = std::move(results);
  call->join.done = [&ctx, req, call] { ctx.respond(*req, call->resp); };
  for (std::size_t i : upstream) forward_group_fetch(ctx, req, body, i, call);
  call->join.one();
}

}  // namespace kgw
