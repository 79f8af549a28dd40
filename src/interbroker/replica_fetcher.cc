#include "src/interbroker/replica_fetcher.h"

#include <algorithm>
#include <deque>

#include "all_messages.h"
#include "common/clock.h"
#include "common/log.h"
#include "protocol/records/record_batch.h"
#include "protocol/wire/error_code.h"
#include "src/interbroker/inter_broker_client.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr const char* kLog = "replica-fetcher";

// The connection a fetcher uses: channel 0 is everyone else's.
std::int32_t channel_of(std::int32_t fetcher_index) {
  return fetcher_index + 1;
}

}  // namespace

ReplicaFetchers::ReplicaFetchers(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
                                 InterBrokerClient& client, std::int32_t node_id,
                                 ReplicaFetcherOptions options, ReplicaFetcherHooks hooks)
    : loop_(loop),
      store_(store),
      producers_(producers),
      client_(client),
      node_id_(node_id),
      options_(options),
      hooks_(std::move(hooks)),
      timers_(loop),
      quota_(options.quota_windows, options.quota_window_ms) {
  options_.num_replica_fetchers = std::max(options_.num_replica_fetchers, 1);
}

ReplicaFetchers::~ReplicaFetchers() {
  stop();
}

void ReplicaFetchers::stop() {
  if (stopped_) return;
  stopped_ = true;
  partitions_.clear();
  fetchers_.clear();
  timers_.stop();
}

std::size_t ReplicaFetchers::fetcher_count() const {
  std::size_t n = 0;
  for (const auto& [fk, f] : fetchers_) n += f.partitions.empty() ? 0 : 1;
  return n;
}

std::optional<ReplicaFetchers::PartitionStatus> ReplicaFetchers::status(
    const Uuid& topic, std::int32_t partition) const {
  auto it = partitions_.find({topic, partition});
  if (it == partitions_.end()) return std::nullopt;
  const Partition& p = it->second;
  return PartitionStatus{p.leader, p.leader_epoch, p.state, p.delayed_until > timers_.now()};
}

ReplicaFetchers::FetcherKey ReplicaFetchers::fetcher_key(const PartitionKey& key,
                                                         std::int32_t leader) const {
  // Kafka spreads partitions as abs(31 * topic.hashCode + partition) % n.
  std::uint32_t h = 0;
  for (std::uint8_t b : key.first.bytes) h = h * 31 + b;
  h = h * 31 + static_cast<std::uint32_t>(key.second);
  return {leader,
          static_cast<std::int32_t>(h % static_cast<std::uint32_t>(options_.num_replica_fetchers))};
}

std::string ReplicaFetchers::describe(const PartitionKey& key) const {
  const TopicInfo* t = store_.find_topic(key.first);
  return (t != nullptr ? t->name : std::string("?")) + "-" + std::to_string(key.second);
}

void ReplicaFetchers::follow(const Uuid& topic, std::int32_t partition, std::int32_t leader,
                             std::int32_t leader_epoch) {
  if (stopped_) return;
  if (leader < 0 || leader == node_id_) {
    // No leader (offline), or this node leads: nothing to fetch from.
    unfollow(topic, partition);
    return;
  }
  const PartitionKey key{topic, partition};
  auto it = partitions_.find(key);
  if (it != partitions_.end()) {
    if (it->second.leader == leader && it->second.leader_epoch == leader_epoch) return;
    detach(key, it->second);
  } else {
    it = partitions_.emplace(key, Partition{}).first;
    it->second.incarnation = next_generation_++;
  }
  Partition& p = it->second;
  p.leader = leader;
  p.leader_epoch = leader_epoch;
  p.generation = next_generation_++;
  p.state = State::kTruncating;
  p.delayed_until = 0;
  LOG_INFO(kLog, "following %s from broker %d at leader epoch %d", describe(key).c_str(), leader,
           leader_epoch);
  const FetcherKey fk = fetcher_key(key, leader);
  fetchers_[fk].partitions.insert(key);
  pump(fk);
}

void ReplicaFetchers::unfollow(const Uuid& topic, std::int32_t partition) {
  auto it = partitions_.find({topic, partition});
  if (it == partitions_.end()) return;
  detach(it->first, it->second);
  partitions_.erase(it);
}

void ReplicaFetchers::unfollow_topic(const Uuid& topic) {
  for (auto it = partitions_.lower_bound({topic, INT32_MIN});
       it != partitions_.end() && it->first.first == topic;) {
    detach(it->first, it->second);
    it = partitions_.erase(it);
  }
}

void ReplicaFetchers::detach(const PartitionKey& key, const Partition& p) {
  const FetcherKey fk = fetcher_key(key, p.leader);
  auto it = fetchers_.find(fk);
  if (it == fetchers_.end()) return;
  it->second.partitions.erase(key);
  // A fetcher with a request out is erased when its answer is done.
  if (it->second.partitions.empty() && !it->second.in_flight) {
    timers_.cancel(it->second.timer);
    fetchers_.erase(it);
  }
}

ReplicaFetchers::Partition* ReplicaFetchers::current(const PartitionKey& key,
                                                     std::uint64_t generation) {
  auto it = partitions_.find(key);
  if (it == partitions_.end() || it->second.generation != generation) return nullptr;
  return &it->second;
}

void ReplicaFetchers::delay(const PartitionKey&, Partition& p) {
  p.delayed_until = timers_.now() + options_.fetch_backoff_ms;
}

std::int32_t ReplicaFetchers::latest_epoch(const PartitionKey& key) const {
  const auto epochs = store_.leader_epochs(key.first, key.second);
  return epochs.empty() ? -1 : epochs.rbegin()->first;
}

std::int64_t ReplicaFetchers::follower_high_watermark(const PartitionKey& key) const {
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr) return 0;
  std::int64_t hw = hooks_.high_watermark ? hooks_.high_watermark(key.first, key.second) : -1;
  if (hw < 0) hw = st->log_start_offset;
  return std::min(hw, st->log_end_offset);
}

std::int64_t ReplicaFetchers::truncation_offset(const PartitionKey& key, std::int32_t leader_epoch,
                                                std::int64_t leader_end, bool& complete) const {
  complete = true;
  const PartitionState* st = store_.partition(key.first, key.second);
  const std::int64_t local_end = st != nullptr ? st->log_end_offset : 0;
  // The leader cannot place our epoch (it has no epochs, or ours is above
  // all of its own): Kafka falls back on the follower's high watermark,
  // everything below which the leader is known to have.
  if (leader_end < 0) return follower_high_watermark(key);
  // A leader that answers an offset without an epoch (OffsetForLeaderEpoch
  // v0): its end offset is all we know.
  if (leader_epoch < 0) return std::min(leader_end, local_end);
  const Store::EpochEnd mine = store_.end_offset_for_epoch(key.first, key.second, leader_epoch);
  // We track no epoch at or below the leader's: its end offset it is.
  if (mine.epoch < 0 || mine.end_offset < 0) return std::min(leader_end, local_end);
  if (mine.epoch != leader_epoch) {
    // We never had the leader's epoch: cut back to the end of our largest
    // epoch below it and ask again with that one (KIP-279). If that cuts
    // nothing the next round would ask the same: stop here.
    const std::int64_t offset = std::min(mine.end_offset, local_end);
    complete = offset >= local_end;
    return offset;
  }
  return std::min({mine.end_offset, leader_end, local_end});
}

// --- Requests.

void ReplicaFetchers::pump_later(const FetcherKey& fk, std::uint64_t delay_ms) {
  auto it = fetchers_.find(fk);
  if (it == fetchers_.end()) return;
  timers_.cancel(it->second.timer);
  it->second.timer = timers_.schedule(delay_ms, [this, fk] {
    auto f = fetchers_.find(fk);
    if (f == fetchers_.end()) return;
    f->second.timer = 0;
    pump(fk);
  });
}

void ReplicaFetchers::pump(const FetcherKey& fk) {
  if (stopped_) return;
  auto it = fetchers_.find(fk);
  if (it == fetchers_.end()) return;
  Fetcher& f = it->second;
  if (f.in_flight) return;
  if (f.partitions.empty()) {
    timers_.cancel(f.timer);
    fetchers_.erase(it);
    return;
  }
  const std::uint64_t now = timers_.now();
  if (f.backoff_until > now) {
    pump_later(fk, f.backoff_until - now);
    return;
  }
  std::vector<PartitionKey> truncating;
  std::vector<PartitionKey> fetching;
  std::uint64_t wake = 0;
  for (const PartitionKey& key : f.partitions) {
    const Partition& p = partitions_.at(key);
    // A partition with store work still queued (from an answer of another
    // fetcher, before it moved here) waits for it: its log end is not
    // settled. Its completion pumps us.
    if (p.store_ops > 0 || p.state == State::kFenced) continue;
    if (p.delayed_until > now) {
      wake = wake == 0 ? p.delayed_until : std::min(wake, p.delayed_until);
      continue;
    }
    if (p.state != State::kTruncating && throttled(key) && held_back(key, now)) {
      // Over follower.replication.throttled.rate and out of the ISR: left
      // out until the measured rate is back under it.
      const std::uint64_t again = now + std::max<std::uint64_t>(options_.quota_window_ms / 10, 1);
      wake = wake == 0 ? again : std::min(wake, again);
      continue;
    }
    (p.state == State::kTruncating ? truncating : fetching).push_back(key);
  }
  // As Kafka's fetcher thread: truncation first, then fetches.
  if (!truncating.empty()) {
    send_epochs(fk, std::move(truncating));
  } else if (!fetching.empty()) {
    const std::size_t first = f.rotation++ % fetching.size();
    std::rotate(fetching.begin(), fetching.begin() + static_cast<std::ptrdiff_t>(first),
                fetching.end());
    send_fetch(fk, std::move(fetching));
  } else if (wake != 0) {
    pump_later(fk, wake - now);
  }
}

bool ReplicaFetchers::throttled(const PartitionKey& key) const {
  return hooks_.throttled && hooks_.throttle_rate && hooks_.throttled(key.first, key.second);
}

bool ReplicaFetchers::held_back(const PartitionKey& key, std::uint64_t now) const {
  if (hooks_.in_isr && hooks_.in_isr(key.first, key.second)) return false;
  return quota_.exceeded(hooks_.throttle_rate(), now);
}

void ReplicaFetchers::request_failed(const FetcherKey& fk, const char* what, const char* why) {
  auto it = fetchers_.find(fk);
  if (it == fetchers_.end()) return;
  LOG_WARN(kLog, "%s to broker %d failed (%s); retrying in %llu ms", what, fk.first, why,
           static_cast<unsigned long long>(options_.fetch_backoff_ms));
  it->second.backoff_until = timers_.now() + options_.fetch_backoff_ms;
}

void ReplicaFetchers::op_done(const std::shared_ptr<int>& pending, const FetcherKey& fk) {
  if (--*pending == 0) request_done(fk);
}

void ReplicaFetchers::request_done(const FetcherKey& fk) {
  if (stopped_) return;
  auto it = fetchers_.find(fk);
  if (it == fetchers_.end()) return;
  it->second.in_flight = false;
  pump(fk);
}

ReplicaFetchers::Request ReplicaFetchers::begin_request(const FetcherKey& fk) {
  fetchers_.at(fk).in_flight = true;
  // One count for the request itself, one per store operation its answer
  // starts; the next request leaves when all are done.
  return {std::make_shared<int>(1), std::make_shared<std::deque<std::string>>(),
          std::make_shared<Asked>()};
}

void ReplicaFetchers::delay_unanswered(const Asked& asked, const std::set<PartitionKey>& answered) {
  for (const auto& [key, generation] : asked) {
    Partition* p = current(key, generation);
    if (p != nullptr && answered.count(key) == 0) delay(key, *p);
  }
}

void ReplicaFetchers::send_epochs(const FetcherKey& fk, std::vector<PartitionKey> keys) {
  // Plain locals, not a structured binding: the lambdas below capture
  // them, which clang before 16 (the fuzz build's) refuses for bindings.
  Request request = begin_request(fk);
  const std::shared_ptr<int> pending = std::move(request.pending);
  const std::shared_ptr<std::deque<std::string>> names = std::move(request.names);
  const std::shared_ptr<Asked> asked = std::move(request.asked);
  OffsetForLeaderEpochRequest req;
  req.replica_id = node_id_;
  for (const PartitionKey& key : keys) {
    Partition& p = partitions_.at(key);
    const TopicInfo* topic = store_.find_topic(key.first);
    if (topic == nullptr || store_.partition(key.first, key.second) == nullptr) {
      delay(key, p);  // the local topic is not there (yet)
      continue;
    }
    const std::int32_t epoch = latest_epoch(key);
    if (epoch < 0) {
      // No epochs here: Kafka truncates to the high watermark.
      truncate(key, p.generation, follower_high_watermark(key), pending, fk,
               [](Partition& q) { q.state = State::kFetching; });
      continue;
    }
    if (names->empty() || names->back() != topic->name) {
      names->push_back(topic->name);
      req.topics.emplace_back().topic = names->back();
    }
    auto& part = req.topics.back().partitions.emplace_back();
    part.partition = key.second;
    part.current_leader_epoch = p.leader_epoch;
    part.leader_epoch = epoch;
    (*asked)[key] = p.generation;
  }
  if (asked->empty()) {
    op_done(pending, fk);
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  client_.call_on<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>(
      fk.first, channel_of(fk.second), req,
      [this, alive, fk, pending, names, asked](CallError e,
                                               const OffsetForLeaderEpochResponse& resp) {
        if (alive.expired() || stopped_) return;
        if (e != CallError::kNone) {
          request_failed(fk, "OffsetForLeaderEpoch", call_error_name(e));
          op_done(pending, fk);
          return;
        }
        std::set<PartitionKey> answered;
        for (const auto& t : resp.topics) {
          const TopicInfo* topic = store_.find_topic(t.topic);
          if (topic == nullptr) continue;
          for (const auto& r : t.partitions) {
            const PartitionKey key{topic->id, r.partition};
            auto a = asked->find(key);
            if (a == asked->end()) continue;
            Partition* p = current(key, a->second);
            if (p == nullptr) continue;
            answered.insert(key);
            const auto ec = static_cast<ErrorCode>(r.error_code);
            if (ec != ErrorCode::kNone) {
              partition_error(key, *p, ec, "OffsetForLeaderEpoch");
              continue;
            }
            bool complete = true;
            const std::int64_t offset =
                truncation_offset(key, r.leader_epoch, r.end_offset, complete);
            const PartitionState* st = store_.partition(key.first, key.second);
            if (st != nullptr && offset < st->log_end_offset) {
              LOG_INFO(kLog, "%s: leader %d has epoch %d ending at %lld; truncating to %lld%s",
                       describe(key).c_str(), fk.first, r.leader_epoch,
                       static_cast<long long>(r.end_offset), static_cast<long long>(offset),
                       complete ? "" : " and asking again");
            }
            truncate(key, a->second, offset, pending, fk, [complete](Partition& q) {
              if (complete) q.state = State::kFetching;
            });
          }
        }
        delay_unanswered(*asked, answered);
        op_done(pending, fk);
      });
}

void ReplicaFetchers::send_fetch(const FetcherKey& fk, std::vector<PartitionKey> keys) {
  // Plain locals, not a structured binding: the lambdas below capture
  // them, which clang before 16 (the fuzz build's) refuses for bindings.
  Request request = begin_request(fk);
  const std::shared_ptr<int> pending = std::move(request.pending);
  const std::shared_ptr<std::deque<std::string>> names = std::move(request.names);
  const std::shared_ptr<Asked> asked = std::move(request.asked);
  FetchRequest req;
  req.replica_id = node_id_;
  req.replica_state.replica_id = node_id_;
  req.replica_state.replica_epoch = hooks_.broker_epoch ? hooks_.broker_epoch() : -1;
  req.max_wait_ms = options_.fetch_wait_max_ms;
  req.min_bytes = options_.fetch_min_bytes;
  req.max_bytes = options_.fetch_response_max_bytes;
  req.isolation_level = 0;
  // No fetch session (KIP-227): every request is a full one.
  req.session_id = 0;
  req.session_epoch = -1;
  for (const PartitionKey& key : keys) {
    Partition& p = partitions_.at(key);
    const TopicInfo* topic = store_.find_topic(key.first);
    const PartitionState* st = store_.partition(key.first, key.second);
    if (topic == nullptr || st == nullptr) {
      delay(key, p);
      continue;
    }
    if (req.topics.empty() || req.topics.back().topic_id != key.first) {
      names->push_back(topic->name);
      auto& t = req.topics.emplace_back();
      t.topic = names->back();  // before v13
      t.topic_id = key.first;   // v13+
    }
    auto& part = req.topics.back().partitions.emplace_back();
    part.partition = key.second;
    part.current_leader_epoch = p.leader_epoch;
    part.fetch_offset = st->log_end_offset;
    part.last_fetched_epoch = latest_epoch(key);
    part.log_start_offset = st->log_start_offset;
    part.partition_max_bytes = options_.fetch_max_bytes;
    (*asked)[key] = p.generation;
  }
  if (asked->empty()) {
    op_done(pending, fk);
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  client_.call_on<FetchRequest, FetchResponse>(
      fk.first, channel_of(fk.second), req,
      [this, alive, fk, pending, names, asked](CallError e, const FetchResponse& resp) {
        if (alive.expired() || stopped_) return;
        if (e != CallError::kNone) {
          request_failed(fk, "Fetch", call_error_name(e));
        } else if (resp.error_code != 0) {
          request_failed(fk, "Fetch", error_name(static_cast<ErrorCode>(resp.error_code)));
        } else {
          on_fetch_answer(fk, resp, *asked, pending);
        }
        op_done(pending, fk);
      });
}

void ReplicaFetchers::on_fetch_answer(const FetcherKey& fk, const FetchResponse& resp,
                                      const Asked& asked, const std::shared_ptr<int>& pending) {
  std::set<PartitionKey> answered;
  for (const auto& t : resp.responses) {
    Uuid id = t.topic_id;
    if (id == Uuid{}) {  // before v13: by name
      const TopicInfo* topic = store_.find_topic(t.topic);
      if (topic == nullptr) continue;
      id = topic->id;
    }
    for (const auto& r : t.partitions) {
      const PartitionKey key{id, r.partition_index};
      auto a = asked.find(key);
      if (a == asked.end()) continue;
      const std::uint64_t generation = a->second;
      Partition* p = current(key, generation);
      if (p == nullptr) continue;
      answered.insert(key);
      const auto ec = static_cast<ErrorCode>(r.error_code);
      if (ec == ErrorCode::kOffsetOutOfRange) {
        out_of_range(key, *p, r.log_start_offset, r.high_watermark, pending, fk);
        continue;
      }
      if (ec != ErrorCode::kNone) {
        partition_error(key, *p, ec, "Fetch");
        continue;
      }
      if (r.diverging_epoch.epoch >= 0 && r.diverging_epoch.end_offset >= 0) {
        // Our last fetched epoch ends elsewhere on the leader (v12+): truncate
        // as OffsetForLeaderEpoch would have; the records are not for us.
        bool complete = true;
        const std::int64_t offset =
            truncation_offset(key, r.diverging_epoch.epoch, r.diverging_epoch.end_offset, complete);
        const PartitionState* st = store_.partition(key.first, key.second);
        if (st == nullptr || offset >= st->log_end_offset) {
          // Nothing of ours to cut, yet the leader says we diverge: asking
          // again at once would get the same answer. Back off.
          LOG_WARN(kLog, "%s: leader %d says epoch %d diverges at %lld; nothing to truncate",
                   describe(key).c_str(), fk.first, r.diverging_epoch.epoch,
                   static_cast<long long>(r.diverging_epoch.end_offset));
          delay(key, *p);
          continue;
        }
        LOG_INFO(
            kLog, "%s: diverging from leader %d at epoch %d (ends at %lld); truncating to %lld",
            describe(key).c_str(), fk.first, r.diverging_epoch.epoch,
            static_cast<long long>(r.diverging_epoch.end_offset), static_cast<long long>(offset));
        truncate(key, generation, offset, pending, fk, [](Partition&) {});
        continue;
      }
      if (r.records && !r.records->empty()) {
        if (throttled(key)) quota_.record(r.records->size(), timers_.now());
        // The answer's bytes live as long as this callback: the store gets
        // its own copy, which it keeps until the append is written.
        auto data =
            std::make_shared<std::vector<std::uint8_t>>(r.records->begin(), r.records->end());
        append(key, generation, std::move(data), r.high_watermark, r.log_start_offset, pending, fk);
      } else {
        report_high_watermark(key, r.high_watermark);
        maybe_move_log_start(key, r.log_start_offset);
      }
    }
  }
  delay_unanswered(asked, answered);
}

void ReplicaFetchers::partition_error(const PartitionKey& key, Partition& p, ErrorCode ec,
                                      const char* what) {
  if (ec == ErrorCode::kFencedLeaderEpoch) {
    // The leader has a newer epoch than ours: our metadata is behind. Wait
    // for follow() with the newer one (Kafka marks the partition failed).
    LOG_WARN(kLog, "%s: %s fenced by broker %d at our leader epoch %d; waiting for newer metadata",
             describe(key).c_str(), what, p.leader, p.leader_epoch);
    p.state = State::kFenced;
    return;
  }
  // UNKNOWN_LEADER_EPOCH (the leader has not learned our epoch yet),
  // NOT_LEADER_OR_FOLLOWER (leadership is moving), an unknown topic: as
  // Kafka, retry after replica.fetch.backoff.ms.
  LOG_INFO(kLog, "%s: %s from broker %d: %s; retrying in %llu ms", describe(key).c_str(), what,
           p.leader, error_name(ec), static_cast<unsigned long long>(options_.fetch_backoff_ms));
  delay(key, p);
}

void ReplicaFetchers::out_of_range(const PartitionKey& key, Partition& p,
                                   std::int64_t leader_log_start,
                                   std::int64_t leader_high_watermark,
                                   const std::shared_ptr<int>& pending, const FetcherKey& fk) {
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr) {
    delay(key, p);
    return;
  }
  const std::int64_t local_end = st->log_end_offset;
  if (leader_log_start > local_end) {
    // The leader deleted what we miss: start afresh at its log start
    // (Kafka's truncateFullyAndStartAt).
    LOG_WARN(kLog, "%s: log end %lld is below leader %d's log start %lld; resetting the log",
             describe(key).c_str(), static_cast<long long>(local_end), p.leader,
             static_cast<long long>(leader_log_start));
    reset_log(key, p, leader_log_start, pending, fk);
    return;
  }
  if (leader_high_watermark >= 0 && leader_high_watermark < local_end) {
    // Our end is past what the leader serves (an unclean election, or a
    // leader behind us): truncate to its end and fetch from there. Kafka
    // asks ListOffsets for the leader's log end; a kgw leader serves up to
    // its high watermark, which the answer carries.
    LOG_WARN(kLog, "%s: log end %lld is above leader %d's %lld; truncating", describe(key).c_str(),
             static_cast<long long>(local_end), p.leader,
             static_cast<long long>(leader_high_watermark));
    truncate(key, p.generation, leader_high_watermark, pending, fk, [](Partition&) {});
    return;
  }
  delay(key, p);
}

// --- Store work.

void ReplicaFetchers::op_finished(const PartitionKey& key, std::uint64_t incarnation,
                                  const FetcherKey& fk) {
  auto it = partitions_.find(key);
  if (it == partitions_.end() || it->second.incarnation != incarnation) return;
  Partition& p = it->second;
  if (--p.store_ops == 0) {
    // A partition that moved to another fetcher meanwhile waited for this.
    const FetcherKey now = fetcher_key(key, p.leader);
    if (now != fk) pump(now);
  }
}

void ReplicaFetchers::truncate(const PartitionKey& key, std::uint64_t generation,
                               std::int64_t offset, const std::shared_ptr<int>& pending,
                               const FetcherKey& fk, std::function<void(Partition&)> then) {
  Partition* p = current(key, generation);
  const PartitionState* st = store_.partition(key.first, key.second);
  if (p == nullptr || st == nullptr) return;
  if (offset >= st->log_end_offset) {
    then(*p);
    return;
  }
  offset = std::max<std::int64_t>(offset, 0);
  ++p->store_ops;
  ++*pending;
  const std::uint64_t incarnation = p->incarnation;
  std::weak_ptr<bool> alive = alive_;
  store_.truncate_to(
      key.first, key.second, offset,
      [this, alive, key, generation, incarnation, offset, pending, fk,
       then = std::move(then)](std::string error) {
        if (alive.expired() || stopped_) return;
        op_finished(key, incarnation, fk);
        if (Partition* q = current(key, generation)) {
          if (!error.empty()) {
            LOG_ERROR(kLog, "%s: truncating to %lld failed: %s", describe(key).c_str(),
                      static_cast<long long>(offset), error.c_str());
            delay(key, *q);
          } else {
            clamp_high_watermark(key);
            then(*q);
          }
        }
        op_done(pending, fk);
      },
      // The producer state as if the log ended where the store cut it (a
      // batch straddling `offset` goes whole), written with the cut.
      [this, alive, key](std::int64_t new_end) {
        if (alive.expired()) return std::vector<RecordWrite>{};
        return producers_.truncate(key.first, key.second, new_end);
      });
}

void ReplicaFetchers::reset_log(const PartitionKey& key, Partition& p, std::int64_t start,
                                const std::shared_ptr<int>& pending, const FetcherKey& fk) {
  ++p.store_ops;
  ++*pending;
  const std::uint64_t incarnation = p.incarnation;
  const std::uint64_t generation = p.generation;
  std::weak_ptr<bool> alive = alive_;
  store_.reset_log(
      key.first, key.second, start,
      [this, alive, key, generation, incarnation, start, pending, fk](std::string error) {
        if (alive.expired() || stopped_) return;
        op_finished(key, incarnation, fk);
        if (Partition* q = current(key, generation); q != nullptr && !error.empty()) {
          LOG_ERROR(kLog, "%s: resetting the log failed: %s", describe(key).c_str(), error.c_str());
          delay(key, *q);
        } else if (error.empty() && hooks_.on_high_watermark) {
          // Kafka's truncateFullyAndStartAt: the high watermark is the new start.
          hooks_.on_high_watermark(key.first, key.second, start);
        }
        op_done(pending, fk);
      },
      producers_.reset(key.first, key.second));
}

void ReplicaFetchers::append(const PartitionKey& key, std::uint64_t generation,
                             std::shared_ptr<std::vector<std::uint8_t>> data,
                             std::int64_t high_watermark, std::int64_t leader_log_start,
                             const std::shared_ptr<int>& pending, const FetcherKey& fk) {
  Partition* p = current(key, generation);
  const PartitionState* st = store_.partition(key.first, key.second);
  if (p == nullptr || st == nullptr) return;
  // The leader cuts its answer at max bytes: a partial batch at the end is
  // fetched whole next time.
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
    if (h.last_offset() < end) continue;  // already here
    // Batches follow each other from our end on (a compacted leader log
    // may have gaps between them, never overlaps): one that starts below
    // our end while ending above it is not the same log.
    if (h.base_offset < end) err = RecordError::kBadLength;
    if (err != RecordError::kNone) break;
    const std::size_t at = static_cast<std::size_t>(v.data() - data->data());
    batches.emplace_back(data->data() + at, v.size());
    kept.emplace_back(v.data(), v.size());
    end = h.last_offset() + 1;
  }
  if (err != RecordError::kNone) {
    LOG_WARN(kLog, "%s: leader %d sent a bad batch (%s); retrying in %llu ms",
             describe(key).c_str(), p->leader, record_error_name(err),
             static_cast<unsigned long long>(options_.fetch_backoff_ms));
    delay(key, *p);
    return;
  }
  if (batches.empty()) {
    report_high_watermark(key, high_watermark);
    maybe_move_log_start(key, leader_log_start);
    return;
  }
  std::vector<RecordWrite> writes =
      producers_.apply_replicated(key.first, key.second, kept, wall_ms());
  ++p->store_ops;
  ++*pending;
  const std::uint64_t incarnation = p->incarnation;
  std::weak_ptr<bool> alive = alive_;
  store_.append_replica(
      key.first, key.second, std::move(batches), data,
      [this, alive, key, generation, incarnation, high_watermark, leader_log_start, pending,
       fk](AppendResult r) {
        if (alive.expired() || stopped_) return;
        op_finished(key, incarnation, fk);
        if (Partition* q = current(key, generation)) {
          if (!r.error.empty()) {
            LOG_ERROR(kLog, "%s: appending fetched batches failed: %s", describe(key).c_str(),
                      r.error.c_str());
            delay(key, *q);
          } else {
            if (hooks_.on_appended) hooks_.on_appended(key.first, key.second);
            report_high_watermark(key, high_watermark);
            maybe_move_log_start(key, leader_log_start);
          }
        }
        op_done(pending, fk);
      },
      std::move(writes));
}

void ReplicaFetchers::report_high_watermark(const PartitionKey& key, std::int64_t high_watermark) {
  if (!hooks_.on_high_watermark || high_watermark < 0) return;
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr) return;
  // Never above what this replica has written.
  hooks_.on_high_watermark(key.first, key.second, std::min(high_watermark, st->high_watermark));
}

void ReplicaFetchers::clamp_high_watermark(const PartitionKey& key) {
  if (!hooks_.on_high_watermark || !hooks_.high_watermark) return;
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr) return;
  // A truncation below the high watermark (Kafka warns, and clamps it to
  // the new log end).
  if (hooks_.high_watermark(key.first, key.second) > st->log_end_offset) {
    hooks_.on_high_watermark(key.first, key.second, st->log_end_offset);
  }
}

void ReplicaFetchers::maybe_move_log_start(const PartitionKey& key, std::int64_t leader_log_start) {
  const PartitionState* st = store_.partition(key.first, key.second);
  if (st == nullptr || leader_log_start <= st->log_start_offset) return;
  // Retention or DeleteRecords on the leader: follow it, within what is
  // written here (the rest comes with a later answer).
  if (!st->log_start_offset_allowed(leader_log_start)) return;
  producers_.on_log_start(key.first, key.second, leader_log_start);
  const std::string name = describe(key);
  store_.set_log_start_offset(
      key.first, key.second, leader_log_start, [name](const std::string& error) {
        if (!error.empty()) {
          LOG_WARN(kLog, "%s: moving the log start failed: %s", name.c_str(), error.c_str());
        }
      });
}

}  // namespace kgw
