#include "src/proxy/mirror.h"

#include <algorithm>
#include <deque>
#include <span>
#include <vector>

#include "all_messages.h"
#include "common/clock.h"
#include "common/log.h"
#include "protocol/records/record_batch.h"
#include "protocol/wire/error_code.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr const char* kLog = "mirror";
// Apart from the proxy's produce (0) and fetch (1) connections: a mirror
// long poll holds no client request back.
constexpr std::int32_t kChannel = 2;

bool mirrored(const TopicImage& t) {
  // Also while a cutover catches up (src/proxy/cutover.h).
  const std::string_view state = PartitionResolver::migration_state(t.configs);
  return state == PartitionResolver::kMirroring || state == PartitionResolver::kCutover;
}

std::string describe(const std::string& name, std::int32_t partition) {
  return name + "-" + std::to_string(partition);
}

}  // namespace

Mirror::Mirror(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
               const MetadataLog& metadata, Upstream& upstream, MirrorOptions options)
    : store_(store),
      producers_(producers),
      metadata_(metadata),
      upstream_(upstream),
      options_(options),
      timers_(loop) {}

Mirror::~Mirror() {
  stop();
}

void Mirror::start() {
  timer_ = timers_.schedule(0, [this] { scan(); });
}

void Mirror::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  timer_ = timers_.reset(timer_);
  timers_.stop();
}

void Mirror::scan() {
  timer_ = 0;
  if (stopped_) return;
  const std::uint64_t now = timers_.now();
  // By legacy leader: the partitions ready for a Fetch, with their names.
  std::map<std::int32_t, std::map<PartitionKey, std::string>> by_leader;
  std::map<PartitionKey, Partition> seen;
  if (upstream_.ready()) {
    for (const TopicPtr& t : metadata_.image()->topics()) {
      if (!mirrored(*t)) continue;
      for (std::int32_t p = 0; p < t->partition_count(); ++p) {
        const PartitionKey key{t->id, p};
        auto it = partitions_.find(key);
        Partition part = it != partitions_.end() ? it->second : Partition{};
        seen[key] = part;
        if (part.store_ops > 0 || part.delayed_until > now) continue;
        if (store_.partition(t->id, p) == nullptr) continue;
        const std::int32_t leader = upstream_.leader(t->name, p);
        if (leader < 0) continue;
        by_leader[leader][key] = t->name;
      }
    }
  }
  // Partitions no longer mirrored are forgotten, unless store work of
  // theirs is still going.
  for (const auto& [key, p] : partitions_) {
    if (p.store_ops > 0) seen.emplace(key, p);
  }
  partitions_ = std::move(seen);
  for (const auto& [leader, parts] : by_leader) {
    Leader& l = leaders_[leader];
    if (l.in_flight || l.backoff_until > now) continue;
    fetch_from(leader, parts);
  }
  timer_ = timers_.schedule(options_.scan_interval_ms, [this] { scan(); });
}

void Mirror::fetch_from(std::int32_t leader, const std::map<PartitionKey, std::string>& parts) {
  BrokerConnection* conn = upstream_.broker(leader, kChannel);
  if (conn == nullptr) {
    upstream_.refresh_soon();
    leaders_[leader].backoff_until = timers_.now() + options_.backoff_ms;
    return;
  }
  auto names = std::make_shared<std::deque<std::string>>();
  FetchRequest req;
  req.replica_id = -1;  // a consumer of the legacy cluster
  req.max_wait_ms = options_.max_wait_ms;
  req.min_bytes = 1;
  req.max_bytes = options_.max_bytes;
  req.isolation_level = 0;  // READ_UNCOMMITTED: aborted data and markers too
  req.session_id = 0;
  req.session_epoch = -1;
  for (const auto& [key, name] : parts) {
    const PartitionState* st = store_.partition(key.first, key.second);
    if (st == nullptr) continue;
    if (req.topics.empty() || req.topics.back().topic != name) {
      names->push_back(name);
      auto& t = req.topics.emplace_back();
      t.topic = names->back();  // before v13
      const UpstreamTopic* u = upstream_.topic(name);
      t.topic_id = u != nullptr ? u->id : key.first;  // v13+
    }
    auto& part = req.topics.back().partitions.emplace_back();
    part.partition = key.second;
    part.current_leader_epoch = -1;
    part.fetch_offset = st->log_end_offset;
    part.last_fetched_epoch = -1;
    part.log_start_offset = -1;
    part.partition_max_bytes = options_.partition_max_bytes;
  }
  if (req.topics.empty()) return;
  leaders_[leader].in_flight = true;
  auto request = std::make_shared<Request>();
  request->leader = leader;
  std::weak_ptr<bool> alive = alive_;
  conn->call<FetchRequest, FetchResponse>(
      req, [this, alive, leader, names, parts, request](CallError e, const FetchResponse& resp) {
        if (alive.expired() || stopped_) return;
        if (e != CallError::kNone || resp.error_code != 0) {
          LOG_WARN(kLog, "Fetch from legacy broker %d: %s; retrying in %llu ms", leader,
                   e != CallError::kNone ? call_error_name(e)
                                         : error_name(static_cast<ErrorCode>(resp.error_code)),
                   static_cast<unsigned long long>(options_.backoff_ms));
          leaders_[leader].backoff_until = timers_.now() + options_.backoff_ms;
          upstream_.refresh_soon();
        } else {
          on_answer(resp, parts, request);
        }
        done_one(request);
      });
}

void Mirror::on_answer(const FetchResponse& resp, const std::map<PartitionKey, std::string>& asked,
                       const RequestPtr& request) {
  const std::int32_t leader = request->leader;
  for (const auto& t : resp.responses) {
    std::string name(t.topic);
    if (name.empty()) name = std::string(upstream_.name_of(t.topic_id));  // v13+
    const TopicPtr local = metadata_.image()->topic(name);
    if (local == nullptr) continue;
    for (const auto& r : t.partitions) {
      const PartitionKey key{local->id, r.partition_index};
      if (asked.count(key) == 0 || partitions_.count(key) == 0) continue;
      const auto ec = static_cast<ErrorCode>(r.error_code);
      if (ec == ErrorCode::kOffsetOutOfRange) {
        const PartitionState* st = store_.partition(key.first, key.second);
        if (st != nullptr && r.log_start_offset > st->log_end_offset) {
          reset(key, name, r.log_start_offset, request);
          continue;
        }
        // Kafka's answer to an out-of-range fetch carries no log start:
        // ask for it (ListOffsets EARLIEST).
        BrokerConnection* conn = upstream_.broker(leader, kChannel);
        if (conn == nullptr || st == nullptr) {
          delay(key);
          continue;
        }
        // The request may be encoded later (the connection's ApiVersions
        // first): its name lives with the callback.
        auto owned = std::make_shared<std::string>(name);
        ListOffsetsRequest lo;
        lo.replica_id = -1;
        auto& lt = lo.topics.emplace_back();
        lt.name = *owned;
        auto& lp = lt.partitions.emplace_back();
        lp.partition_index = key.second;
        lp.current_leader_epoch = -1;
        lp.timestamp = -2;  // EARLIEST
        ++request->pending;
        const std::int64_t local_end = st->log_end_offset;
        std::weak_ptr<bool> alive = alive_;
        conn->call<ListOffsetsRequest, ListOffsetsResponse>(
            lo, [this, alive, key, owned, local_end, request](CallError e,
                                                              const ListOffsetsResponse& answer) {
              if (alive.expired() || stopped_) return;
              std::int64_t start = -1;
              if (e == CallError::kNone && answer.topics.size() == 1 &&
                  answer.topics[0].partitions.size() == 1 &&
                  answer.topics[0].partitions[0].error_code == 0) {
                start = answer.topics[0].partitions[0].offset;
              }
              const std::string& name = *owned;
              if (start > local_end) {
                reset(key, name, start, request);
              } else {
                LOG_ERROR(kLog,
                          "%s: the local copy ends at %lld, outside the legacy log (starts at "
                          "%lld): the logs diverged; not mirroring it (retrying in %llu ms)",
                          describe(name, key.second).c_str(), static_cast<long long>(local_end),
                          static_cast<long long>(start),
                          static_cast<unsigned long long>(options_.backoff_ms));
                delay(key);
              }
              done_one(request);
            });
        continue;
      }
      if (ec != ErrorCode::kNone) {
        LOG_INFO(kLog, "%s: Fetch from legacy broker %d: %s; retrying in %llu ms",
                 describe(name, key.second).c_str(), leader, error_name(ec),
                 static_cast<unsigned long long>(options_.backoff_ms));
        upstream_.refresh_soon();
        delay(key);
        continue;
      }
      if (r.records && !r.records->empty()) {
        // The answer's bytes live as long as the callback: the store gets
        // its own copy, kept until the append is written.
        auto data =
            std::make_shared<std::vector<std::uint8_t>>(r.records->begin(), r.records->end());
        append(key, name, std::move(data), r.log_start_offset, request);
      } else {
        move_log_start(key, r.log_start_offset);
      }
    }
  }
}

void Mirror::append(const PartitionKey& key, const std::string& name,
                    std::shared_ptr<std::vector<std::uint8_t>> data, std::int64_t legacy_log_start,
                    const RequestPtr& request) {
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr) return;
  // The answer may end with a partial batch (max bytes): it comes whole
  // next time.
  std::vector<Bytes> views;
  std::size_t tail = 0;
  RecordError err = split_record_batches(Bytes(*data), views, &tail);
  std::vector<std::span<std::uint8_t>> batches;
  std::vector<std::span<const std::uint8_t>> kept;
  std::int64_t end = st->log_end_offset;
  for (const Bytes& v : views) {
    if (err != RecordError::kNone) break;
    RecordBatchHeader h;
    err = validate_record_batch(v, h);
    if (err != RecordError::kNone) break;
    if (h.last_offset() < end) continue;  // already here (a fetch from inside a batch)
    if (batches.empty() && h.base_offset < end && st->log_start_offset == end &&
        h.base_offset >= 0) {
      // The copy is empty and starts at the legacy log start, which is
      // inside this batch (records deleted up to the middle of it, as
      // Kafka allows): start the copy at the batch's base offset, append
      // it whole, and move the log start up to the legacy one's after.
      ++partitions_[key].store_ops;
      ++request->pending;
      std::weak_ptr<bool> alive = alive_;
      store_.reset_log(
          key.first, key.second, h.base_offset,
          [this, alive, key, name, data, legacy_log_start, request](std::string error) {
            if (alive.expired() || stopped_) return;
            auto it = partitions_.find(key);
            if (it != partitions_.end()) --it->second.store_ops;
            if (!error.empty()) {
              LOG_ERROR(kLog, "%s: starting the copy failed: %s",
                        describe(name, key.second).c_str(), error.c_str());
              delay(key);
            } else {
              append(key, name, data, legacy_log_start, request);
            }
            done_one(request);
          },
          producers_.reset(key.first, key.second));
      return;
    }
    // Batches follow each other (a compacted legacy log has gaps between
    // them, never overlaps).
    if (h.base_offset < end) {
      err = RecordError::kBadLength;
      break;
    }
    const std::size_t at = static_cast<std::size_t>(v.data() - data->data());
    batches.emplace_back(data->data() + at, v.size());
    kept.emplace_back(v.data(), v.size());
    end = h.last_offset() + 1;
  }
  if (err != RecordError::kNone) {
    LOG_ERROR(kLog,
              "%s: the legacy cluster sent a batch that does not follow the copy (%s); "
              "retrying in %llu ms",
              describe(name, key.second).c_str(), record_error_name(err),
              static_cast<unsigned long long>(options_.backoff_ms));
    delay(key);
    return;
  }
  if (batches.empty()) {
    move_log_start(key, legacy_log_start);
    return;
  }
  std::vector<RecordWrite> writes =
      producers_.apply_replicated(key.first, key.second, kept, wall_ms());
  ++partitions_[key].store_ops;
  ++request->pending;
  std::weak_ptr<bool> alive = alive_;
  store_.append_replica(
      key.first, key.second, std::move(batches), data,
      [this, alive, key, name, legacy_log_start, request](AppendResult r) {
        if (alive.expired() || stopped_) return;
        auto it = partitions_.find(key);
        if (it != partitions_.end()) --it->second.store_ops;
        if (!r.error.empty()) {
          LOG_ERROR(kLog, "%s: appending mirrored batches failed: %s",
                    describe(name, key.second).c_str(), r.error.c_str());
          delay(key);
        } else {
          move_log_start(key, legacy_log_start);
        }
        done_one(request);
      },
      std::move(writes));
}

void Mirror::reset(const PartitionKey& key, const std::string& name, std::int64_t start,
                   const RequestPtr& request) {
  LOG_INFO(kLog, "%s: the legacy log starts at %lld; the copy starts there",
           describe(name, key.second).c_str(), static_cast<long long>(start));
  ++partitions_[key].store_ops;
  ++request->pending;
  std::weak_ptr<bool> alive = alive_;
  store_.reset_log(
      key.first, key.second, start,
      [this, alive, key, name, request](std::string error) {
        if (alive.expired() || stopped_) return;
        auto it = partitions_.find(key);
        if (it != partitions_.end()) --it->second.store_ops;
        if (!error.empty()) {
          LOG_ERROR(kLog, "%s: starting the copy failed: %s", describe(name, key.second).c_str(),
                    error.c_str());
          delay(key);
        }
        done_one(request);
      },
      producers_.reset(key.first, key.second));
}

void Mirror::move_log_start(const PartitionKey& key, std::int64_t legacy_log_start) {
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr || legacy_log_start <= st->log_start_offset) return;
  // Retention or DeleteRecords on the legacy cluster: follow it, within
  // what is written here.
  if (!st->log_start_offset_allowed(legacy_log_start)) return;
  producers_.on_log_start(key.first, key.second, legacy_log_start);
  store_.set_log_start_offset(
      key.first, key.second, legacy_log_start, [](const std::string& error) {
        if (!error.empty()) {
          LOG_WARN(kLog, "moving a mirrored log start failed: %s", error.c_str());
        }
      });
}

void Mirror::delay(const PartitionKey& key) {
  partitions_[key].delayed_until = timers_.now() + options_.backoff_ms;
}

void Mirror::done_one(const RequestPtr& request) {
  if (--request->pending > 0) return;
  leaders_[request->leader].in_flight = false;
  if (stopped_) return;
  // The next Fetch at once.
  timer_ = timers_.reset(timer_);
  timer_ = timers_.schedule(0, [this] { scan(); });
}

}  // namespace kgw
