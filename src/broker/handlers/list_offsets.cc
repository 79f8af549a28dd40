// ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3),
// earliest local (-4) or the first offset at or after a timestamp.
#include <memory>
#include <set>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr std::int64_t kLatest = -1;
constexpr std::int64_t kEarliest = -2;
constexpr std::int64_t kMaxTimestamp = -3;
constexpr std::int64_t kEarliestLocal = -4;
constexpr std::int64_t kLatestTiered = -5;

struct ListCall {
  RequestPtr req;
  ListOffsetsRequest body;
  ListOffsetsResponse resp;
  int pending = 1;
};

void finish_one(Broker& broker, const std::shared_ptr<ListCall>& call) {
  if (--call->pending == 0) broker.respond(*call->req, call->resp);
}

void set_offset(std::int16_t version, ListOffsetsResponse::ListOffsetsPartitionResponse& out,
                std::int64_t offset, std::int64_t timestamp) {
  if (version == 0) {
    out.old_style_offsets = {offset};
  } else {
    out.offset = offset;
    out.timestamp = timestamp;
  }
  out.leader_epoch = 0;
}

}  // namespace

void handle_list_offsets(Broker& broker, RequestPtr req) {
  auto call = std::make_shared<ListCall>();
  call->req = req;
  if (!broker.decode(*req, call->body)) return;
  const std::int16_t version = req->version();
  Store& store = broker.store();
  std::set<std::pair<std::string_view, std::int32_t>> seen;
  // Kafka's isolation level 1: READ_COMMITTED.
  const bool read_committed = call->body.isolation_level == 1;
  call->resp.topics.resize(call->body.topics.size());
  for (std::size_t ti = 0; ti < call->body.topics.size(); ++ti) {
    const auto& t = call->body.topics[ti];
    auto& tout = call->resp.topics[ti];
    tout.name = t.name;
    const TopicInfo* topic = store.find_topic(t.name);
    tout.partitions.resize(t.partitions.size());
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      auto& out = tout.partitions[pi];
      out.partition_index = p.partition_index;
      if (!seen.insert({t.name, p.partition_index}).second) {
        out.error_code = code(ErrorCode::kInvalidRequest);  // asked twice
        continue;
      }
      const PartitionState* st = topic ? store.partition(topic->id, p.partition_index) : nullptr;
      if (st == nullptr) {
        out.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      if (p.current_leader_epoch > 0) {
        out.error_code = code(ErrorCode::kUnknownLeaderEpoch);
        continue;
      }
      switch (p.timestamp) {
        case kLatest:
        case kLatestTiered:
          // read_committed stops at the last stable offset: the first
          // offset of the first open transaction, else the high watermark.
          set_offset(version, out,
                     read_committed ? broker.producers().last_stable_offset(
                                          topic->id, p.partition_index, st->high_watermark)
                                    : st->high_watermark,
                     -1);
          continue;
        case kEarliest:
        case kEarliestLocal:
          set_offset(version, out, st->log_start_offset, -1);
          continue;
        default:
          break;
      }
      if (p.timestamp < 0 && p.timestamp != kMaxTimestamp) {
        out.error_code = code(ErrorCode::kInvalidRequest);
        continue;
      }
      if (p.timestamp == kMaxTimestamp && st->high_watermark == st->log_start_offset) {
        set_offset(version, out, -1, -1);
        continue;
      }
      const std::int64_t target = p.timestamp == kMaxTimestamp ? st->max_timestamp : p.timestamp;
      ++call->pending;
      store.offset_for_timestamp(topic->id, p.partition_index, target,
                                 [&broker, call, ti, pi, version](
                                     std::int64_t offset, std::int64_t ts, std::string error) {
                                   auto& o = call->resp.topics[ti].partitions[pi];
                                   if (!error.empty()) {
                                     o.error_code = code(ErrorCode::kKafkaStorageError);
                                   } else if (offset < 0) {
                                     set_offset(version, o, -1, -1);
                                   } else {
                                     set_offset(version, o, offset, ts);
                                   }
                                   finish_one(broker, call);
                                 });
    }
  }
  finish_one(broker, call);
}

}  // namespace kgw
