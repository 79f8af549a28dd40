// OffsetFetch (key 9): a group's committed offsets; -1 where nothing is
// committed. v0-7 ask about one group (v2+: topics null means every
// committed partition); v8+ about several groups at once.
#include <map>

#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"

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

}  // namespace

void handle_offset_fetch(HandlerContext& ctx, RequestPtr req) {
  OffsetFetchRequest body;
  if (!ctx.decode(*req, body)) return;
  OffsetFetchResponse resp;
  const OffsetManager& offsets = ctx.offsets();
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
  for (const auto& g : body.groups) {
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
  ctx.respond(*req, resp);
}

}  // namespace kgw
