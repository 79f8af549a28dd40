// ReplicaManager's side of replication (replica_manager.h, "Replication"):
// roles from the image, followers' log end offsets, the high watermark over
// the ISR, ISR shrink and expand, and acks=all waits.
#include <algorithm>
#include <memory>
#include <utility>

#include "common/log.h"
#include "src/replica/replica_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

bool contains(const std::vector<std::int32_t>& v, std::int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string where(const Store& store, const Uuid& topic, std::int32_t partition) {
  const TopicInfo* t = store.find_topic(topic);
  return (t != nullptr ? t->name : std::string("(deleted topic)")) + "-" +
         std::to_string(partition);
}

}  // namespace

void ReplicaManager::configure_replication(ReplicationOptions options) {
  replication_options_ = std::move(options);
  leader_quota_.configure(replication_options_.quota_windows, replication_options_.quota_window_ms);
  isr_check_ = timers_.reset(isr_check_);
  if (!replication_options_.isr_channel) return;
  const auto every = static_cast<std::uint64_t>(
      std::max<std::int64_t>(replication_options_.lag_time_max_ms / 2, 1));
  // Rescheduled by itself after each check.
  auto tick = std::make_shared<std::function<void()>>();
  *tick = [this, every, weak = std::weak_ptr<std::function<void()>>(tick)] {
    check_isrs();
    if (auto t = weak.lock()) isr_check_ = timers_.schedule(every, *t);
  };
  isr_tick_ = tick;
  isr_check_ = timers_.schedule(every, *tick);
}

ReplicaManager::Replication* ReplicaManager::replication(const Uuid& topic,
                                                         std::int32_t partition) {
  auto it = replication_.find({topic, partition});
  return it == replication_.end() ? nullptr : &it->second;
}

const ReplicaManager::Replication* ReplicaManager::replication(const Uuid& topic,
                                                               std::int32_t partition) const {
  auto it = replication_.find({topic, partition});
  return it == replication_.end() ? nullptr : &it->second;
}

void ReplicaManager::become_leader(const Uuid& topic, std::int32_t partition,
                                   const ReplicaRole& role) {
  const PartitionKey key{topic, partition};
  Replication& r = replication_[key];
  const bool new_term = !r.leading || r.role.leader_epoch != role.leader_epoch;
  if (new_term) {
    if (!r.leading && replication_options_.following != nullptr) {
      replication_options_.following->unfollow(topic, partition);
    }
    leader_epochs_[key] = role.leader_epoch;
    // What this node appends from now on carries the epoch (Kafka's
    // appendAsLeader), and the log's leader-epoch cache starts it.
    store_.set_leader_epoch(topic, partition, role.leader_epoch);
    const PartitionState* ps = store_.partition(topic, partition);
    r.epoch_start = ps != nullptr ? ps->log_end_offset : 0;
    // Kafka's makeLeader: the followers' positions are unknown until they
    // fetch; ISR members count as caught up now, so none is dropped
    // before it had replica.lag.time.max.ms to fetch.
    r.followers.clear();
    const auto now = static_cast<std::int64_t>(uv_now(loop_));
    for (std::int32_t id : role.replicas) {
      if (id == role.leader) continue;
      Follower& f = r.followers[id];
      f.last_caught_up_ms = contains(role.isr, id) ? now : 0;
    }
    r.pending_isr.clear();
    // The high watermark this replica knew as a follower (or 0) is where
    // it starts; it only moves up from there.
    if (ps != nullptr) r.hw = std::clamp(r.hw, ps->log_start_offset, ps->high_watermark);
    LOG_INFO("replica", "%s: leading at epoch %d (ISR %zu of %zu replicas), from offset %lld",
             where(store_, topic, partition).c_str(), role.leader_epoch, role.isr.size(),
             role.replicas.size(), static_cast<long long>(r.epoch_start));
  }
  // An ISR the image committed ends the request for it.
  if (role.partition_epoch != r.role.partition_epoch) r.pending_isr.clear();
  for (std::int32_t id : role.replicas) {
    if (id != role.leader) r.followers.try_emplace(id);
  }
  std::erase_if(r.followers, [&](const auto& f) { return !contains(role.replicas, f.first); });
  r.role = role;
  r.leading = true;
  update_high_watermark(topic, partition, r);
}

void ReplicaManager::become_follower(const Uuid& topic, std::int32_t partition,
                                     const ReplicaRole& role) {
  const PartitionKey key{topic, partition};
  Replication& r = replication_[key];
  const bool retarget =
      r.leading || r.role.leader != role.leader || r.role.leader_epoch != role.leader_epoch;
  r.leading = false;
  r.role = role;
  r.followers.clear();
  r.pending_isr.clear();
  leader_epochs_[key] = role.leader_epoch;
  if (!retarget) return;
  // A follower keeps the leader's epochs on what it appends.
  store_.set_leader_epoch(topic, partition, -1);
  LOG_INFO("replica", "%s: following broker %d at epoch %d",
           where(store_, topic, partition).c_str(), role.leader, role.leader_epoch);
  if (replication_options_.following != nullptr) {
    replication_options_.following->follow(topic, partition, role.leader, role.leader_epoch);
  }
  // acks=all and retried-batch waits of the old term cannot be decided
  // here any more: their clients retry on the new leader.
  end_written_waits(topic, partition, WaitOutcome::kGone);
  fetch_waiters_.notify(topic, partition);
}

void ReplicaManager::stop_replica(const Uuid& topic, std::int32_t partition) {
  auto it = replication_.find({topic, partition});
  if (it == replication_.end()) return;
  if (!it->second.leading && replication_options_.following != nullptr) {
    replication_options_.following->unfollow(topic, partition);
  }
  it->second.leading = false;
  it->second.role.leader = -1;
  it->second.followers.clear();
  store_.set_leader_epoch(topic, partition, -1);
  end_written_waits(topic, partition, WaitOutcome::kGone);
}

std::size_t ReplicaManager::isr_size(const Uuid& topic, std::int32_t partition) const {
  const Replication* r = replication(topic, partition);
  return r == nullptr || r->role.isr.empty() ? 1 : r->role.isr.size();
}

bool ReplicaManager::in_isr(const Uuid& topic, std::int32_t partition, std::int32_t replica) const {
  const Replication* r = replication(topic, partition);
  if (r == nullptr) return false;
  return std::find(r->role.isr.begin(), r->role.isr.end(), replica) != r->role.isr.end();
}

bool ReplicaManager::leads(const Uuid& topic, std::int32_t partition) const {
  const Replication* r = replication(topic, partition);
  return r == nullptr || r->leading;
}

std::int64_t ReplicaManager::high_watermark(const Uuid& topic, std::int32_t partition) const {
  const PartitionState* ps = store_.partition(topic, partition);
  if (ps == nullptr) return -1;
  const Replication* r = replication(topic, partition);
  // One node, or a partition never named: the ISR is this node, so the
  // high watermark is the store's written end.
  if (r == nullptr) return ps->high_watermark;
  return std::clamp(r->hw, ps->log_start_offset, ps->high_watermark);
}

void ReplicaManager::update_high_watermark(const Uuid& topic, std::int32_t partition,
                                           Replication& r) {
  if (!r.leading) return;
  const PartitionState* ps = store_.partition(topic, partition);
  if (ps == nullptr) return;
  // The smallest log end over the ISR, the replica being added included
  // (KIP-497's maximal ISR: what a committed expansion would count).
  std::int64_t hw = ps->high_watermark;
  auto count = [&](std::int32_t id) {
    if (id == r.role.leader) return;
    auto f = r.followers.find(id);
    hw = std::min(hw, f == r.followers.end() ? -1 : f->second.leo);
  };
  for (std::int32_t id : r.role.isr) count(id);
  for (std::int32_t id : r.pending_isr) count(id);
  if (hw <= r.hw) return;
  // KIP-966's strict min-ISR: with fewer in-sync replicas than
  // min(min.insync.replicas, replication factor) nothing more is committed,
  // so a write held by too few copies is never read (nor acknowledged).
  if (r.role.replicas.size() > 1 && r.role.isr.size() < r.role.replicas.size()) {
    const TopicInfo* info = store_.find_topic(topic);
    const std::int64_t min_isr =
        std::min<std::int64_t>(info != nullptr ? policy_(*info).min_insync_replicas : 1,
                               static_cast<std::int64_t>(r.role.replicas.size()));
    if (static_cast<std::int64_t>(r.role.isr.size()) < min_isr) return;
  }
  r.hw = hw;
  check_written_waits(topic, partition);
  fetch_waiters_.notify(topic, partition);
}

ErrorCode ReplicaManager::on_follower_fetch(const Uuid& topic, std::int32_t partition,
                                            std::int32_t replica, std::int64_t broker_epoch,
                                            std::int64_t fetch_offset) {
  Replication* r = replication(topic, partition);
  if (r == nullptr || !r->leading) return ErrorCode::kNotLeaderOrFollower;
  auto it = r->followers.find(replica);
  if (it == r->followers.end()) return ErrorCode::kNotLeaderOrFollower;
  const PartitionState* ps = store_.partition(topic, partition);
  if (ps == nullptr) return ErrorCode::kUnknownTopicOrPartition;
  Follower& f = it->second;
  const auto now = static_cast<std::int64_t>(uv_now(loop_));
  const std::int64_t leader_end = ps->high_watermark;
  // Kafka's updateFollowerFetchState: caught up now if it asked for the
  // log end, or caught up as of the previous fetch if it asked for the
  // log end as it was then.
  if (fetch_offset >= leader_end) {
    f.last_caught_up_ms = now;
  } else if (f.leader_end_at_last_fetch >= 0 && fetch_offset >= f.leader_end_at_last_fetch) {
    f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
  }
  f.leo = fetch_offset;
  f.broker_epoch = broker_epoch;
  f.last_fetch_ms = now;
  f.leader_end_at_last_fetch = leader_end;
  // Expansion: a follower outside the ISR that reached the high watermark
  // and the start of this leader's epoch joins it.
  if (!contains(r->role.isr, replica) && r->pending_isr.empty() && fetch_offset >= r->hw &&
      fetch_offset >= r->epoch_start && replication_options_.isr_channel) {
    std::vector<std::int32_t> isr = r->role.isr;
    isr.push_back(replica);
    request_isr(topic, partition, *r, std::move(isr));
  }
  update_high_watermark(topic, partition, *r);
  return ErrorCode::kNone;
}

std::int64_t ReplicaManager::follower_end(const Uuid& topic, std::int32_t partition,
                                          std::int32_t replica) const {
  const Replication* r = replication(topic, partition);
  if (r == nullptr || !r->leading) return -1;
  auto f = r->followers.find(replica);
  return f == r->followers.end() ? -1 : f->second.leo;
}

void ReplicaManager::on_leader_high_watermark(const Uuid& topic, std::int32_t partition,
                                              std::int64_t hw) {
  Replication* r = replication(topic, partition);
  if (r == nullptr || r->leading) return;
  r->hw = hw;  // the leader's (clamped to our log end when read)
}

void ReplicaManager::check_isrs() {
  const auto now = static_cast<std::int64_t>(uv_now(loop_));
  for (auto& [key, r] : replication_) {
    if (!r.leading || !r.pending_isr.empty() || r.role.isr.size() <= 1) continue;
    const PartitionState* ps = store_.partition(key.first, key.second);
    if (ps == nullptr) continue;
    std::vector<std::int32_t> isr;
    for (std::int32_t id : r.role.isr) {
      auto f = r.followers.find(id);
      // Kafka's isFollowerOutOfSync: behind the log end and not caught up
      // for replica.lag.time.max.ms.
      const bool lagging = f != r.followers.end() && f->second.leo < ps->high_watermark &&
                           now - f->second.last_caught_up_ms > replication_options_.lag_time_max_ms;
      if (!lagging) isr.push_back(id);
    }
    if (isr.size() == r.role.isr.size()) continue;
    LOG_INFO("replica",
             "%s: shrinking the ISR from %zu to %zu replicas (lagging more than %lld ms)",
             where(store_, key.first, key.second).c_str(), r.role.isr.size(), isr.size(),
             static_cast<long long>(replication_options_.lag_time_max_ms));
    request_isr(key.first, key.second, r, std::move(isr));
  }
}

void ReplicaManager::request_isr(const Uuid& topic, std::int32_t partition, Replication& r,
                                 std::vector<std::int32_t> isr) {
  IsrChangeRequest req;
  req.topic = topic;
  req.partition = partition;
  req.leader_epoch = r.role.leader_epoch;
  req.partition_epoch = r.role.partition_epoch;
  for (std::int32_t id : isr) {
    auto f = r.followers.find(id);
    req.isr.emplace_back(id, f == r.followers.end() ? -1 : f->second.broker_epoch);
  }
  // Only an expansion counts the joining replica before the commit; a
  // shrink keeps counting the leaving one until the image drops it.
  r.pending_isr.clear();
  for (std::int32_t id : isr) {
    if (!contains(r.role.isr, id)) r.pending_isr.push_back(id);
  }
  if (r.pending_isr.empty()) r.pending_isr.push_back(r.role.leader);
  const std::int32_t asked_epoch = r.role.partition_epoch;
  replication_options_.isr_channel(
      std::move(req), [this, topic, partition, asked_epoch](ErrorCode e, std::string message) {
        Replication* now = replication(topic, partition);
        if (now == nullptr) return;
        if (e != ErrorCode::kNone) {
          LOG_INFO("replica", "%s: ISR change refused: %s %s",
                   where(store_, topic, partition).c_str(), error_name(e), message.c_str());
        }
        // Accepted: the image brought it (become_leader cleared the
        // request). Refused: the next fetch or check asks again, from the
        // image's state.
        if (now->role.partition_epoch == asked_epoch) now->pending_isr.clear();
      });
}

void ReplicaManager::wait_for_isr(const Uuid& topic, std::int32_t partition, std::int64_t end,
                                  std::int32_t timeout_ms, std::int64_t min_isr,
                                  AppendOutcome outcome, AppendDone done) {
  when_written(topic, partition, end, static_cast<std::uint64_t>(std::max(timeout_ms, 0)),
               [this, topic, partition, min_isr, outcome = std::move(outcome),
                done = std::move(done)](WaitOutcome o) mutable {
                 ErrorCode e = ErrorCode::kNone;
                 switch (o) {
                   case WaitOutcome::kWritten:
                     // Kafka's DelayedProduce: reached, but by fewer
                     // replicas than min.insync.replicas asks.
                     if (static_cast<std::int64_t>(isr_size(topic, partition)) < min_isr) {
                       e = ErrorCode::kNotEnoughReplicasAfterAppend;
                     }
                     break;
                   case WaitOutcome::kTimedOut:
                     e = ErrorCode::kRequestTimedOut;
                     break;
                   case WaitOutcome::kFailed:
                     e = ErrorCode::kKafkaStorageError;
                     break;
                   case WaitOutcome::kGone:
                     e = leads(topic, partition) ? ErrorCode::kUnknownTopicOrPartition
                                                 : ErrorCode::kNotLeaderOrFollower;
                     break;
                 }
                 if (e != ErrorCode::kNone) {
                   outcome.error = e;
                   outcome.base_offset = -1;
                 }
                 done(std::move(outcome));
               });
}

}  // namespace kgw
