#include "src/proxy/forward.h"

#include <utility>

#include "all_messages.h"
#include "protocol/wire/reader.h"
#include "src/proxy/upstream.h"

namespace kgw {

std::map<std::int32_t, std::vector<UpstreamSlot>> split_by_leader(
    const std::vector<UpstreamSlot>& slots,
    const std::function<std::int32_t(const UpstreamSlot&)>& leader) {
  std::map<std::int32_t, std::vector<UpstreamSlot>> out;
  for (const UpstreamSlot& s : slots) out[leader(s)].push_back(s);
  return out;
}

ListOffsetsRequest latest_offsets_request(std::string_view topic,
                                          const std::vector<std::int32_t>& partitions,
                                          std::int8_t isolation) {
  ListOffsetsRequest req;
  req.replica_id = -1;
  req.isolation_level = isolation;
  auto& rt = req.topics.emplace_back();
  rt.name = topic;
  for (std::int32_t p : partitions) {
    auto& rp = rt.partitions.emplace_back();
    rp.partition_index = p;
    rp.current_leader_epoch = -1;
    rp.timestamp = -1;  // LATEST
  }
  return req;
}

ErrorCode forward_error(CallError e) {
  switch (e) {
    case CallError::kNone:
      return ErrorCode::kNone;
    case CallError::kTimedOut:
      return ErrorCode::kRequestTimedOut;
    case CallError::kUnsupportedVersion:
      return ErrorCode::kUnsupportedVersion;
    case CallError::kDecodeFailed:
      return ErrorCode::kUnknownServerError;
    case CallError::kConnectFailed:
    case CallError::kDisconnected:
    case CallError::kUnknownBroker:
    case CallError::kClosed:
      return ErrorCode::kNotLeaderOrFollower;
  }
  return ErrorCode::kUnknownServerError;
}

namespace {

// Errors after which the legacy metadata is worth asking again.
bool stale(std::int16_t error) {
  return error == code(ErrorCode::kNotLeaderOrFollower) ||
         error == code(ErrorCode::kUnknownTopicOrPartition) ||
         error == code(ErrorCode::kLeaderNotAvailable) ||
         error == code(ErrorCode::kFencedLeaderEpoch) ||
         error == code(ErrorCode::kUnknownLeaderEpoch) || error == code(ErrorCode::kUnknownTopicId);
}

std::string_view own(ForwardStorage& st, std::string_view s) {
  return st.strings.emplace_back(s);
}

// Counts the groups still out; the last one runs `done`.
struct Join {
  int pending = 1;
  std::shared_ptr<void> keep;
  std::function<void()> done;
  void one() {
    if (--pending != 0) return;
    auto d = std::move(done);
    auto k = std::move(keep);
    d();
  }
};

// What forward() needs to know of one API (the three below).
//   in_topics(req), in_parts(topic), in_name(topic), in_index(part)
//   out_part(resp, slot) -> the client's response partition at slot
//   resp_topics(resp), resp_parts(topic), resp_index(part)
//   copy(from, to, storage): a legacy answer's partition into the client's
//   fail(to, error)
template <typename Req, typename Resp, typename Api>
void forward(Upstream& upstream, std::shared_ptr<void> keep, const Req& req,
             std::int16_t min_version, std::int16_t max_version, std::int32_t channel,
             const std::vector<UpstreamSlot>& slots, Resp& resp, ForwardStorage& storage,
             std::function<void()> done, Api api) {
  auto join = std::make_shared<Join>();
  join->keep = std::move(keep);
  join->done = std::move(done);
  const auto& in = api.in_topics(req);
  auto groups = split_by_leader(slots, [&](const UpstreamSlot& s) {
    const auto& t = in[s.ti];
    return upstream.leader(api.in_name(t), api.in_index(api.in_parts(t)[s.pi]));
  });
  for (auto& [leader, group] : groups) {
    BrokerConnection* conn = leader >= 0 ? upstream.broker(leader, channel) : nullptr;
    if (conn == nullptr || min_version > max_version) {
      const ErrorCode e = min_version > max_version ? ErrorCode::kUnsupportedVersion
                                                    : ErrorCode::kNotLeaderOrFollower;
      for (const UpstreamSlot& s : group) api.fail(api.out_part(resp, s), e);
      if (e == ErrorCode::kNotLeaderOrFollower) upstream.refresh_soon();
      continue;
    }
    Req sub = req;
    api.in_topics(sub) = select(
        in, group, [&](auto& t) -> auto& { return api.in_parts(t); });
    ++join->pending;
    conn->send(
        Req::api_key, min_version, max_version,
        [sub = std::move(sub)](Writer& w, std::int16_t v) { sub.encode(w, v); },
        [&upstream, &resp, &storage, api, join, group = std::move(group)](
            CallError e, std::int16_t version, Bytes body) {
          Resp answer;
          if (e == CallError::kNone) {
            Reader r(body);
            if (!answer.decode(r, version)) e = CallError::kDecodeFailed;
          }
          if (e != CallError::kNone) {
            for (const UpstreamSlot& s : group) api.fail(api.out_part(resp, s), forward_error(e));
            if (forward_error(e) == ErrorCode::kNotLeaderOrFollower) upstream.refresh_soon();
            join->one();
            return;
          }
          // The answer names the partitions asked, in the order asked.
          std::size_t next = 0;
          bool refresh = false;
          for (const auto& t : api.resp_topics(answer)) {
            for (const auto& p : api.resp_parts(t)) {
              if (next >= group.size()) break;
              auto& to = api.out_part(resp, group[next]);
              if (api.resp_index(p) != api.out_index(to)) break;
              api.copy(p, to, storage);
              refresh = refresh || stale(api.error_of(to));
              ++next;
            }
          }
          for (; next < group.size(); ++next) {
            api.fail(api.out_part(resp, group[next]), ErrorCode::kUnknownServerError);
          }
          if (refresh) upstream.refresh_soon();
          join->one();
        });
  }
  join->one();
}

struct ProduceApi {
  auto& in_topics(ProduceRequest& r) const { return r.topic_data; }
  const auto& in_topics(const ProduceRequest& r) const { return r.topic_data; }
  auto& in_parts(auto& t) const { return t.partition_data; }
  std::string_view in_name(const auto& t) const { return t.name; }
  std::int32_t in_index(const auto& p) const { return p.index; }
  auto& out_part(ProduceResponse& r, const UpstreamSlot& s) const {
    return r.responses[s.ti].partition_responses[s.pi];
  }
  std::int32_t out_index(const auto& p) const { return p.index; }
  std::int16_t error_of(const auto& p) const { return p.error_code; }
  const auto& resp_topics(const ProduceResponse& r) const { return r.responses; }
  const auto& resp_parts(const auto& t) const { return t.partition_responses; }
  std::int32_t resp_index(const auto& p) const { return p.index; }
  void copy(const ProduceResponse::PartitionProduceResponse& from,
            ProduceResponse::PartitionProduceResponse& to, ForwardStorage& st) const {
    to.error_code = from.error_code;
    to.base_offset = from.base_offset;
    to.log_append_time_ms = from.log_append_time_ms;
    to.log_start_offset = from.log_start_offset;
    to.record_errors.clear();
    for (const auto& re : from.record_errors) {
      auto& e = to.record_errors.emplace_back();
      e.batch_index = re.batch_index;
      if (re.batch_index_error_message) {
        e.batch_index_error_message = own(st, *re.batch_index_error_message);
      }
    }
    if (from.error_message) to.error_message = own(st, *from.error_message);
    // current_leader stays empty: a legacy node id means nothing here.
  }
  void fail(ProduceResponse::PartitionProduceResponse& to, ErrorCode e) const {
    to.error_code = code(e);
    to.base_offset = -1;
  }
};

struct FetchApi {
  auto& in_topics(FetchRequest& r) const { return r.topics; }
  const auto& in_topics(const FetchRequest& r) const { return r.topics; }
  auto& in_parts(auto& t) const { return t.partitions; }
  std::string_view in_name(const auto& t) const { return t.topic; }
  std::int32_t in_index(const auto& p) const { return p.partition; }
  auto& out_part(FetchResponse& r, const UpstreamSlot& s) const {
    return r.responses[s.ti].partitions[s.pi];
  }
  std::int32_t out_index(const auto& p) const { return p.partition_index; }
  std::int16_t error_of(const auto& p) const { return p.error_code; }
  const auto& resp_topics(const FetchResponse& r) const { return r.responses; }
  const auto& resp_parts(const auto& t) const { return t.partitions; }
  std::int32_t resp_index(const auto& p) const { return p.partition_index; }
  void copy(const FetchResponse::PartitionData& from, FetchResponse::PartitionData& to,
            ForwardStorage& st) const {
    to.error_code = from.error_code;
    to.high_watermark = from.high_watermark;
    to.last_stable_offset = from.last_stable_offset;
    to.log_start_offset = from.log_start_offset;
    to.diverging_epoch = from.diverging_epoch;
    to.diverging_epoch.unknown_tags = {};
    to.snapshot_id = from.snapshot_id;
    to.snapshot_id.unknown_tags = {};
    to.aborted_transactions = from.aborted_transactions;
    if (to.aborted_transactions) {
      for (auto& a : *to.aborted_transactions) a.unknown_tags = {};
    }
    // preferred_read_replica and current_leader stay unset: legacy node ids.
    if (from.records) {
      auto& b = st.bytes.emplace_back(from.records->begin(), from.records->end());
      to.records = Bytes(b.data(), b.size());
    } else {
      to.records = std::nullopt;
    }
  }
  void fail(FetchResponse::PartitionData& to, ErrorCode e) const {
    to.error_code = code(e);
    to.high_watermark = -1;
    to.records = std::nullopt;
  }
};

struct ListOffsetsApi {
  auto& in_topics(ListOffsetsRequest& r) const { return r.topics; }
  const auto& in_topics(const ListOffsetsRequest& r) const { return r.topics; }
  auto& in_parts(auto& t) const { return t.partitions; }
  std::string_view in_name(const auto& t) const { return t.name; }
  std::int32_t in_index(const auto& p) const { return p.partition_index; }
  auto& out_part(ListOffsetsResponse& r, const UpstreamSlot& s) const {
    return r.topics[s.ti].partitions[s.pi];
  }
  std::int32_t out_index(const auto& p) const { return p.partition_index; }
  std::int16_t error_of(const auto& p) const { return p.error_code; }
  const auto& resp_topics(const ListOffsetsResponse& r) const { return r.topics; }
  const auto& resp_parts(const auto& t) const { return t.partitions; }
  std::int32_t resp_index(const auto& p) const { return p.partition_index; }
  void copy(const ListOffsetsResponse::ListOffsetsPartitionResponse& from,
            ListOffsetsResponse::ListOffsetsPartitionResponse& to, ForwardStorage&) const {
    to.error_code = from.error_code;
    to.old_style_offsets = from.old_style_offsets;
    to.timestamp = from.timestamp;
    to.offset = from.offset;
    to.leader_epoch = from.leader_epoch;
  }
  void fail(ListOffsetsResponse::ListOffsetsPartitionResponse& to, ErrorCode e) const {
    to.error_code = code(e);
    to.offset = -1;
    to.timestamp = -1;
  }
};

struct EpochApi {
  auto& in_topics(OffsetForLeaderEpochRequest& r) const { return r.topics; }
  const auto& in_topics(const OffsetForLeaderEpochRequest& r) const { return r.topics; }
  auto& in_parts(auto& t) const { return t.partitions; }
  std::string_view in_name(const auto& t) const { return t.topic; }
  std::int32_t in_index(const auto& p) const { return p.partition; }
  auto& out_part(OffsetForLeaderEpochResponse& r, const UpstreamSlot& s) const {
    return r.topics[s.ti].partitions[s.pi];
  }
  std::int32_t out_index(const auto& p) const { return p.partition; }
  std::int16_t error_of(const auto& p) const { return p.error_code; }
  const auto& resp_topics(const OffsetForLeaderEpochResponse& r) const { return r.topics; }
  const auto& resp_parts(const auto& t) const { return t.partitions; }
  std::int32_t resp_index(const auto& p) const { return p.partition; }
  void copy(const OffsetForLeaderEpochResponse::EpochEndOffset& from,
            OffsetForLeaderEpochResponse::EpochEndOffset& to, ForwardStorage&) const {
    to.error_code = from.error_code;
    to.leader_epoch = from.leader_epoch;
    to.end_offset = from.end_offset;
  }
  void fail(OffsetForLeaderEpochResponse::EpochEndOffset& to, ErrorCode e) const {
    to.error_code = code(e);
    to.leader_epoch = -1;
    to.end_offset = -1;
  }
};

}  // namespace

void forward_produce(Upstream& upstream, std::shared_ptr<void> keep, const ProduceRequest& req,
                     std::int16_t client_version, const std::vector<UpstreamSlot>& slots,
                     ProduceResponse& resp, ForwardStorage& storage, std::function<void()> done) {
  // Record batches (magic 2) need v3; older clients' message sets go as they are.
  const std::int16_t min_version = client_version >= 3 ? 3 : ProduceRequest::min_version;
  // Counted per topic until answered: a cutover starts only when none of
  // its topic's writes is still on its way to the legacy cluster.
  std::vector<std::string> topics;
  for (const UpstreamSlot& s : slots) {
    std::string name(req.topic_data[s.ti].name);
    if (topics.empty() || topics.back() != name) topics.push_back(std::move(name));
  }
  for (const std::string& t : topics) upstream.produce_sent(t);
  forward(
      upstream, std::move(keep), req, min_version, client_version, 0, slots, resp, storage,
      [&upstream, topics = std::move(topics), done = std::move(done)] {
        for (const std::string& t : topics) upstream.produce_answered(t);
        done();
      },
      ProduceApi{});
}

void forward_fetch(Upstream& upstream, std::shared_ptr<void> keep, const FetchRequest& req,
                   std::int16_t client_version, const std::vector<UpstreamSlot>& slots,
                   FetchResponse& resp, ForwardStorage& storage, std::function<void()> done) {
  // Each forwarded fetch is a full one, outside any fetch session (the
  // client's session is this node's), as a consumer (replica -1). The
  // legacy side needs names below v13 and ids from it: both are filled.
  FetchRequest full = req;
  full.replica_id = -1;
  full.replica_state = {};
  full.session_id = 0;
  full.session_epoch = -1;
  full.forgotten_topics_data.clear();
  full.cluster_id = std::nullopt;
  for (auto& t : full.topics) {
    const UpstreamTopic* u = nullptr;
    if (t.topic.empty()) {
      for (const auto& [name, topic] : upstream.topics()) {
        if (topic.id == t.topic_id) u = &topic;
      }
    } else {
      u = upstream.topic(t.topic);
    }
    if (u != nullptr) {
      t.topic = own(storage, u->name);  // the Upstream's may go at its next refresh
      t.topic_id = u->id;
      // Rolled back after its cutover: the client's epoch is kgw's.
      if (upstream.epoch_floor(u->name) > 0) {
        for (auto& p : t.partitions) p.current_leader_epoch = -1;
      }
    }
  }
  // Record batches (magic 2) need v4.
  const std::int16_t min_version = client_version >= 4 ? 4 : FetchRequest::min_version;
  // Channel 1: a long poll does not hold produce calls behind it (a Kafka
  // broker answers one connection's requests in order).
  forward(upstream, std::move(keep), full, min_version, client_version, 1, slots, resp, storage,
          std::move(done), FetchApi{});
}

void forward_list_offsets(Upstream& upstream, std::shared_ptr<void> keep,
                          const ListOffsetsRequest& req, std::int16_t client_version,
                          const std::vector<UpstreamSlot>& slots, ListOffsetsResponse& resp,
                          ForwardStorage& storage, std::function<void()> done) {
  ListOffsetsRequest consumer = req;
  consumer.replica_id = -1;
  for (auto& t : consumer.topics) {
    // Rolled back after its cutover: the client's epoch is kgw's.
    if (upstream.epoch_floor(t.name) > 0) {
      for (auto& p : t.partitions) p.current_leader_epoch = -1;
    }
  }
  forward(upstream, std::move(keep), consumer, ListOffsetsRequest::min_version, client_version, 0,
          slots, resp, storage, std::move(done), ListOffsetsApi{});
}

}  // namespace kgw

namespace kgw {

void forward_offset_for_leader_epoch(Upstream& upstream, std::shared_ptr<void> keep,
                                     const OffsetForLeaderEpochRequest& req,
                                     std::int16_t client_version,
                                     const std::vector<UpstreamSlot>& slots,
                                     OffsetForLeaderEpochResponse& resp, ForwardStorage& storage,
                                     std::function<void()> done) {
  // A consumer's question (replica -1, v3+); the client's current epoch
  // checks need v2.
  OffsetForLeaderEpochRequest consumer = req;
  consumer.replica_id = -1;
  for (auto& t : consumer.topics) {
    // Rolled back after its cutover: the client's epoch is kgw's.
    if (upstream.epoch_floor(t.topic) > 0) {
      for (auto& p : t.partitions) p.current_leader_epoch = -1;
    }
  }
  const std::int16_t min_version =
      client_version >= 2 ? 2 : OffsetForLeaderEpochRequest::min_version;
  forward(upstream, std::move(keep), consumer, min_version, client_version, 0, slots, resp, storage,
          std::move(done), EpochApi{});
}

}  // namespace kgw
