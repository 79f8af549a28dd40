#include "src/txn/txn_markers.h"

#include <algorithm>
#include <memory>
#include "common/log.h"
#include "protocol/records/control_record.h"
#include "protocol/records/record_batch_builder.h"
#include "src/group/offset_manager.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

// How long a partition whose marker could not be written waits before it
// is routed again (Kafka's retry.backoff.ms).
constexpr std::uint64_t kRetryBackoffMs = 100;
constexpr std::string_view kGroupOffsetsTopic = "__consumer_offsets";

bool retriable(ErrorCode e) {
  switch (e) {
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kNotEnoughReplicas:
    case ErrorCode::kNotEnoughReplicasAfterAppend:
    case ErrorCode::kRequestTimedOut:
    case ErrorCode::kNetworkException:
    case ErrorCode::kKafkaStorageError:
    case ErrorCode::kCoordinatorLoadInProgress:
    case ErrorCode::kCoordinatorNotAvailable:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct TxnMarkerChannel::Pending {
  TxnMarker marker;  // without partitions
  std::vector<std::string> groups;
  std::size_t remaining = 0;
  std::string first_error;
  std::function<void(const std::string&)> done;
};

TxnMarkerChannel::TxnMarkerChannel(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
                                   OffsetManager& offsets, std::function<std::int64_t()> clock)
    : store_(store),
      producers_(producers),
      offsets_(offsets),
      clock_(std::move(clock)),
      timers_(loop) {}

TxnMarkerChannel::~TxnMarkerChannel() {
  stop();
}

void TxnMarkerChannel::stop() {
  stopped_ = true;
  timers_.stop();
  pending_.clear();
}

void TxnMarkerChannel::write(const TxnMarker& marker, const std::vector<std::string>& groups,
                             bool only_open, std::function<void(const std::string&)> done) {
  const std::uint64_t id = next_id_++;
  Pending& p = pending_[id];
  p.marker = marker;
  p.marker.partitions.clear();
  p.groups = groups;
  p.remaining = 1;
  p.done = std::move(done);
  std::vector<std::pair<std::string, std::int32_t>> elsewhere;
  for (const auto& g : groups) {
    if (cluster_.group_route) {
      auto [where, partition] = cluster_.group_route(g);
      if (where.kind != MarkerRoute::Kind::kLocal) {
        // Its coordinator holds the pending offsets: the marker for the
        // group's __consumer_offsets partition completes them there.
        std::pair<std::string, std::int32_t> part{std::string(kGroupOffsetsTopic), partition};
        if (std::find(elsewhere.begin(), elsewhere.end(), part) == elsewhere.end()) {
          elsewhere.push_back(std::move(part));
        }
        continue;
      }
    }
    ++p.remaining;
    offsets_.complete_txn_offsets(g, marker.producer_id, marker.commit,
                                  [this, id](const std::string& e) { one_done(id, e); });
  }
  for (const auto& [topic, partition] : marker.partitions) {
    const MarkerRoute r =
        cluster_.route ? cluster_.route(topic, partition) : MarkerRoute{MarkerRoute::Kind::kLocal};
    if (r.kind == MarkerRoute::Kind::kGone) continue;
    if (r.kind != MarkerRoute::Kind::kLocal) {
      elsewhere.emplace_back(topic, partition);
      continue;
    }
    const TopicInfo* t = store_.find_topic(topic);
    if (t == nullptr || store_.partition(t->id, partition) == nullptr) continue;  // deleted
    if (only_open && !producers_.has_open_transaction(t->id, partition, marker.producer_id)) {
      continue;
    }
    ++pending_[id].remaining;
    append_local(t->id, partition, marker, [this, id](const std::string& e) { one_done(id, e); });
  }
  if (!elsewhere.empty()) route(id, std::move(elsewhere));
  one_done(id, "");
}

void TxnMarkerChannel::route(std::uint64_t id,
                             std::vector<std::pair<std::string, std::int32_t>> parts) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::map<std::int32_t, TxnMarker> by_leader;
  std::vector<std::pair<std::string, std::int32_t>> offline;
  for (auto& [topic, partition] : parts) {
    const MarkerRoute r = cluster_.route(topic, partition);
    switch (r.kind) {
      case MarkerRoute::Kind::kGone:
        break;  // deleted: nothing to mark
      case MarkerRoute::Kind::kOffline:
        offline.emplace_back(std::move(topic), partition);
        break;
      case MarkerRoute::Kind::kRemote: {
        TxnMarker& m = by_leader[r.node];
        if (m.partitions.empty()) {
          m = it->second.marker;
          m.partitions.clear();
        }
        m.partitions.emplace_back(std::move(topic), partition);
        break;
      }
      case MarkerRoute::Kind::kLocal: {
        // Leadership (or the group's coordinator) moved here meanwhile.
        if (topic == kGroupOffsetsTopic) {
          for (const auto& g : it->second.groups) {
            if (cluster_.group_route(g).second != partition) continue;
            ++it->second.remaining;
            offsets_.complete_txn_offsets(g, it->second.marker.producer_id,
                                          it->second.marker.commit,
                                          [this, id](const std::string& e) { one_done(id, e); });
          }
          break;
        }
        const TopicInfo* t = store_.find_topic(topic);
        if (t == nullptr || store_.partition(t->id, partition) == nullptr) break;
        ++it->second.remaining;
        append_local(t->id, partition, it->second.marker,
                     [this, id](const std::string& e) { one_done(id, e); });
        break;
      }
    }
  }
  if (!offline.empty()) retry_later(id, std::move(offline));
  for (auto& [node, m] : by_leader) send_remote(id, node, std::move(m));
}

void TxnMarkerChannel::send_remote(std::uint64_t id, std::int32_t node, TxnMarker marker) {
  auto it = pending_.find(id);
  if (it == pending_.end() || cluster_.transport == nullptr) return;
  ++it->second.remaining;
  auto parts = marker.partitions;
  cluster_.transport->send(
      node, marker, [this, id, node, parts = std::move(parts)](std::vector<ErrorCode> errors) {
        if (stopped_) return;
        std::vector<std::pair<std::string, std::int32_t>> again;
        for (std::size_t i = 0; i < parts.size(); ++i) {
          const ErrorCode e = i < errors.size() ? errors[i] : ErrorCode::kNetworkException;
          if (e == ErrorCode::kNone) continue;
          if (retriable(e)) {
            LOG_DEBUG("txn", "marker for %s-%d on broker %d: %s, retrying", parts[i].first.c_str(),
                      parts[i].second, node, error_name(e));
            again.push_back(parts[i]);
          } else {
            LOG_ERROR("txn", "marker for %s-%d refused by broker %d: %s; giving it up",
                      parts[i].first.c_str(), parts[i].second, node, error_name(e));
          }
        }
        if (!again.empty()) retry_later(id, std::move(again));
        one_done(id, "");
      });
}

void TxnMarkerChannel::retry_later(std::uint64_t id,
                                   std::vector<std::pair<std::string, std::int32_t>> parts) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  ++it->second.remaining;
  timers_.schedule(kRetryBackoffMs, [this, id, parts = std::move(parts)]() mutable {
    route(id, std::move(parts));
    one_done(id, "");
  });
}

void TxnMarkerChannel::one_done(std::uint64_t id, const std::string& error) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (!error.empty() && it->second.first_error.empty()) it->second.first_error = error;
  if (--it->second.remaining != 0) return;
  auto done = std::move(it->second.done);
  std::string first = std::move(it->second.first_error);
  pending_.erase(it);
  done(first);
}

void TxnMarkerChannel::append_local(const Uuid& topic_id, std::int32_t partition,
                                    const TxnMarker& marker,
                                    std::function<void(const std::string&)> done) {
  const PartitionState* ps = store_.partition(topic_id, partition);
  if (ps == nullptr) return done("");  // deleted meanwhile: nothing to mark
  const std::int64_t now = clock_();
  RecordBatchOptions o;
  o.control = true;
  o.transactional = true;
  o.producer_id = marker.producer_id;
  o.producer_epoch = marker.epoch;
  RecordBatchBuilder b(o);
  std::vector<std::uint8_t> key, value;
  encode_control_record_key(marker.commit ? ControlRecordType::kCommit : ControlRecordType::kAbort,
                            key);
  encode_end_txn_marker(marker.coordinator_epoch, value);
  std::vector<std::uint8_t> batch;
  if (b.add(now, Bytes(key), Bytes(value)) != RecordError::kNone ||
      b.build(batch) != RecordError::kNone) {
    return done("cannot build a transaction marker");
  }
  // The marker's offset is the partition's log end now: this call and
  // the append below run in the same loop turn.
  std::vector<RecordWrite> writes =
      producers_.on_marker(topic_id, partition, marker.producer_id, marker.epoch, marker.commit,
                           ps->log_end_offset, marker.coordinator_epoch, now);
  std::vector<std::vector<std::uint8_t>> batches;
  batches.push_back(std::move(batch));
  store_.append(
      topic_id, partition, std::move(batches),
      [done = std::move(done)](AppendResult r) { done(r.error); }, std::move(writes));
}

}  // namespace kgw
