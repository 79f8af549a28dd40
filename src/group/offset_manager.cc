#include "src/group/offset_manager.h"

#include "common/clock.h"
#include "common/log.h"

namespace kgw {

namespace {

// Kafka maps storage failures of the offsets log to these for clients,
// which then retry (after finding the coordinator again).
constexpr ErrorCode kStorageFailure = ErrorCode::kCoordinatorNotAvailable;

void fail_accepted(std::vector<ErrorCode>& errors) {
  for (auto& e : errors) {
    if (e == ErrorCode::kNone) e = kStorageFailure;
  }
}

}  // namespace

OffsetManager::OffsetManager(uv_loop_t* loop, OffsetsStore& store, GroupMembership& membership,
                             OffsetManagerConfig config, Clock clock)
    : store_(store),
      membership_(membership),
      config_(config),
      clock_(clock ? std::move(clock) : Clock([] { return wall_ms(); })),
      timers_(loop) {}

OffsetManager::~OffsetManager() {
  stop();
}

bool OffsetManager::GroupOffsets::has_pending_txn_offset(const Key& key) const {
  for (const auto& [pid, offsets_of] : txn_offsets) {
    if (offsets_of.count(key) != 0) return true;
  }
  return false;
}

OffsetManager::GroupOffsets* OffsetManager::find(const std::string& group_id) {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : &it->second;
}

const OffsetManager::GroupOffsets* OffsetManager::find(const std::string& group_id) const {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : &it->second;
}

OffsetManager::GroupOffsets& OffsetManager::entry(const std::string& group_id) {
  membership_.ensure_group(group_id);
  auto [it, added] = groups_.try_emplace(group_id);
  if (added) it->second.incarnation = next_incarnation_++;
  return it->second;
}

std::string OffsetManager::load() {
  std::string error = store_.load(
      [](GroupRecord) {},  // membership's, loaded by the coordinator
      [this](const std::string& group_id, const std::string& topic, std::int32_t partition,
             CommittedOffset o) { load_offset(group_id, topic, partition, std::move(o)); },
      [this](const std::string& group_id, std::int64_t producer_id, const std::string& topic,
             std::int32_t partition, CommittedOffset o) {
        load_txn_offset(group_id, producer_id, topic, partition, std::move(o));
      });
  if (!error.empty()) return error;
  schedule_expiry();
  return "";
}

void OffsetManager::load_offset(const std::string& group_id, const std::string& topic,
                                std::int32_t partition, CommittedOffset o) {
  entry(group_id).offsets[{topic, partition}] = std::move(o);
}

void OffsetManager::load_txn_offset(const std::string& group_id, std::int64_t producer_id,
                                    const std::string& topic, std::int32_t partition,
                                    CommittedOffset o) {
  entry(group_id).txn_offsets[producer_id][{topic, partition}] = std::move(o);
}

void OffsetManager::unload_groups(const std::function<bool(const std::string& group_id)>& which) {
  std::erase_if(groups_, [&](const auto& kv) { return which(kv.first); });
}

void OffsetManager::stop() {
  if (stopped_) return;
  stopped_ = true;
  timers_.stop();
}

// --- Commits ----------------------------------------------------------------

std::vector<std::pair<OffsetManager::Key, CommittedOffset>> OffsetManager::accept(
    const std::vector<CommitPartition>& parts, std::int64_t now,
    std::vector<ErrorCode>& errors) const {
  std::vector<std::pair<Key, CommittedOffset>> accepted;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    std::string metadata = p.metadata.value_or("");
    if (metadata.size() > static_cast<std::size_t>(config_.max_metadata_bytes)) {
      errors[i] = ErrorCode::kOffsetMetadataTooLarge;
      continue;
    }
    CommittedOffset o{p.offset, p.leader_epoch, std::move(metadata), now, -1};
    accepted.emplace_back(Key{p.topic, p.partition}, std::move(o));
  }
  return accepted;
}

void OffsetManager::commit_offsets(CommitArgs args,
                                   std::function<void(std::vector<ErrorCode>)> done) {
  const std::size_t n = args.partitions.size();
  const ErrorCode admitted = membership_.admit_commit(args.group_id, args.generation_id,
                                                      args.member_id, args.group_instance_id,
                                                      /*transactional=*/false);
  if (admitted != ErrorCode::kNone) return done(std::vector<ErrorCode>(n, admitted));
  const std::int64_t now = clock_();
  std::vector<ErrorCode> errors(n, ErrorCode::kNone);
  auto accepted = accept(args.partitions, now, errors);
  OffsetsStore::Batch batch;
  std::size_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (errors[i] != ErrorCode::kNone) continue;
    CommittedOffset& o = accepted[next++].second;
    // OffsetCommit v1 carries the commit time; v2-v4 a retention.
    if (args.partitions[i].commit_timestamp >= 0) {
      o.commit_timestamp = args.partitions[i].commit_timestamp;
    }
    if (args.retention_time_ms >= 0) o.expire_timestamp = now + args.retention_time_ms;
    batch.put_offset(args.group_id, args.partitions[i].topic, args.partitions[i].partition, o);
  }
  if (batch.empty()) return done(std::move(errors));
  store_.write(std::move(batch), [this, gid = args.group_id, accepted = std::move(accepted),
                                  errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      LOG_WARN("group", "group %s: cannot store offsets: %s", gid.c_str(), error.c_str());
      fail_accepted(errors);
      return done(std::move(errors));
    }
    // Even if the group was deleted while the write ran: the offsets were
    // written after the deletion, so they exist on disk; memory agrees.
    GroupOffsets& g = entry(gid);
    for (auto& [key, o] : accepted) g.offsets[key] = std::move(o);
    done(std::move(errors));
  });
}

void OffsetManager::commit_txn_offsets(TxnCommitArgs args,
                                       std::function<void(std::vector<ErrorCode>)> done) {
  const std::size_t n = args.partitions.size();
  const ErrorCode admitted =
      membership_.admit_commit(args.group_id, args.generation_id, args.member_id,
                               args.group_instance_id, /*transactional=*/true);
  if (admitted != ErrorCode::kNone) return done(std::vector<ErrorCode>(n, admitted));
  std::vector<ErrorCode> errors(n, ErrorCode::kNone);
  auto accepted = accept(args.partitions, clock_(), errors);
  OffsetsStore::Batch batch;
  for (const auto& [key, o] : accepted) {
    batch.put_txn_offset(args.group_id, args.producer_id, key.first, key.second, o);
  }
  if (batch.empty()) return done(std::move(errors));
  store_.write(std::move(batch), [this, gid = args.group_id, pid = args.producer_id,
                                  accepted = std::move(accepted), errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      fail_accepted(errors);
      return done(std::move(errors));
    }
    GroupOffsets& g = entry(gid);
    for (auto& [key, o] : accepted) g.txn_offsets[pid][key] = std::move(o);
    done(std::move(errors));
  });
}

std::vector<std::string> OffsetManager::groups_with_txn_offsets(std::int64_t producer_id) const {
  std::vector<std::string> out;
  for (const auto& [id, g] : groups_) {
    if (g.txn_offsets.count(producer_id) != 0) out.push_back(id);
  }
  return out;
}

void OffsetManager::complete_txn_offsets(const std::string& group_id, std::int64_t producer_id,
                                         bool commit,
                                         std::function<void(const std::string&)> done) {
  GroupOffsets* g = find(group_id);
  if (g == nullptr) return done("");
  auto it = g->txn_offsets.find(producer_id);
  if (it == g->txn_offsets.end()) return done("");
  OffsetsStore::Batch batch;
  for (const auto& [key, o] : it->second) {
    if (commit) batch.put_offset(group_id, key.first, key.second, o);
    batch.delete_txn_offset(group_id, producer_id, key.first, key.second);
  }
  store_.write(std::move(batch), [this, group_id, producer_id, commit,
                                  done = std::move(done)](const std::string& error) {
    GroupOffsets* grp = find(group_id);
    if (error.empty() && grp != nullptr) {
      auto pending = grp->txn_offsets.find(producer_id);
      if (pending != grp->txn_offsets.end()) {
        if (commit) {
          for (auto& [key, o] : pending->second) grp->offsets[key] = std::move(o);
        }
        grp->txn_offsets.erase(pending);
      }
    }
    done(error);
  });
}

// --- Fetch and delete ---------------------------------------------------------

FetchOffsetsResult OffsetManager::fetch_offsets(
    const std::string& group_id,
    const std::optional<std::vector<std::pair<std::string, std::vector<std::int32_t>>>>& topics,
    bool require_stable) const {
  FetchOffsetsResult result;
  const GroupOffsets* g = find(group_id);
  if (!topics) {
    if (g == nullptr) return result;
    for (const auto& [key, o] : g->offsets) {
      const ErrorCode e = require_stable && g->has_pending_txn_offset(key)
                              ? ErrorCode::kUnstableOffsetCommit
                              : ErrorCode::kNone;
      result.partitions.push_back(
          FetchedOffset{key.first, key.second, o.offset, o.leader_epoch, o.metadata, e});
    }
    return result;
  }
  for (const auto& [topic, partitions] : *topics) {
    for (std::int32_t p : partitions) {
      FetchedOffset f{topic, p, -1, -1, "", ErrorCode::kNone};
      if (g != nullptr && require_stable && g->has_pending_txn_offset({topic, p})) {
        f.error = ErrorCode::kUnstableOffsetCommit;
      } else if (g != nullptr) {
        auto it = g->offsets.find({topic, p});
        if (it != g->offsets.end()) {
          f.offset = it->second.offset;
          f.leader_epoch = it->second.leader_epoch;
          f.metadata = it->second.metadata;
        }
      }
      result.partitions.push_back(std::move(f));
    }
  }
  return result;
}

void OffsetManager::delete_offsets(const std::string& group_id,
                                   std::vector<std::pair<std::string, std::int32_t>> partitions,
                                   std::function<void(ErrorCode, std::vector<ErrorCode>)> done) {
  std::vector<ErrorCode> errors(partitions.size(), ErrorCode::kNone);
  const ErrorCode group_error = membership_.admit_offset_delete(group_id, partitions, errors);
  if (group_error != ErrorCode::kNone) return done(group_error, {});
  GroupOffsets* g = find(group_id);
  OffsetsStore::Batch batch;
  std::vector<Key> removed;
  for (std::size_t i = 0; g != nullptr && i < partitions.size(); ++i) {
    if (errors[i] != ErrorCode::kNone) continue;
    Key key{partitions[i].first, partitions[i].second};
    if (g->offsets.count(key) == 0) continue;
    batch.delete_offset(group_id, key.first, key.second);
    removed.push_back(std::move(key));
  }
  if (batch.empty()) return done(ErrorCode::kNone, std::move(errors));
  store_.write(std::move(batch), [this, gid = group_id, inc = g->incarnation,
                                  removed = std::move(removed), errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      LOG_WARN("group", "group %s: cannot delete offsets: %s", gid.c_str(), error.c_str());
      return done(kStorageFailure, {});
    }
    GroupOffsets* grp = find(gid);
    if (grp != nullptr && grp->incarnation == inc) {
      for (const auto& key : removed) grp->offsets.erase(key);
    }
    done(ErrorCode::kNone, std::move(errors));
  });
}

void OffsetManager::delete_groups(std::vector<std::string> group_ids,
                                  std::function<void(std::vector<ErrorCode>)> done) {
  std::vector<ErrorCode> errors = membership_.remove_groups(group_ids);
  OffsetsStore::Batch batch;
  for (std::size_t i = 0; i < group_ids.size(); ++i) {
    if (errors[i] != ErrorCode::kNone) continue;
    const std::string& gid = group_ids[i];
    std::size_t count = 0;
    if (GroupOffsets* g = find(gid)) {
      for (const auto& [key, o] : g->offsets) batch.delete_offset(gid, key.first, key.second);
      count = g->offsets.size();
      groups_.erase(gid);
    }
    batch.delete_group(gid);
    LOG_INFO("group", "group %s deleted (%zu offsets)", gid.c_str(), count);
  }
  if (batch.empty()) return done(std::move(errors));
  store_.write(std::move(batch), [errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      LOG_WARN("group", "cannot delete groups: %s", error.c_str());
      fail_accepted(errors);
    }
    done(std::move(errors));
  });
}

void OffsetManager::on_topic_deleted(const std::string& topic) {
  for (auto& [gid, g] : groups_) {
    OffsetsStore::Batch batch;
    std::vector<Key> removed;
    for (const auto& [key, o] : g.offsets) {
      if (key.first != topic) continue;
      batch.delete_offset(gid, key.first, key.second);
      removed.push_back(key);
    }
    if (batch.empty()) continue;
    for (const auto& key : removed) g.offsets.erase(key);
    store_.write(std::move(batch), [gid = gid, topic](const std::string& error) {
      if (!error.empty()) {
        LOG_WARN("group", "group %s: cannot delete offsets of deleted topic %s: %s", gid.c_str(),
                 topic.c_str(), error.c_str());
      }
    });
  }
}

// --- Expiry -------------------------------------------------------------------

void OffsetManager::schedule_expiry() {
  if (config_.offsets_retention_check_interval_ms <= 0) return;
  expiry_timer_ = timers_.schedule(
      static_cast<std::uint64_t>(config_.offsets_retention_check_interval_ms), [this] {
        expiry_timer_ = 0;
        expire_offsets();
        schedule_expiry();
      });
}

bool OffsetManager::expire_group(const OffsetRetention& r, std::int64_t now,
                                 OffsetsStore::Batch& batch, std::size_t& expired_total) {
  const std::int64_t retention = config_.offsets_retention_ms;
  auto expired = [&](const CommittedOffset& o, std::int64_t base) {
    if (o.expire_timestamp >= 0) return now >= o.expire_timestamp;
    return now - base >= retention;
  };
  GroupOffsets* g = find(r.group_id);
  std::vector<Key> gone;
  if (g != nullptr) {
    for (const auto& [key, o] : g->offsets) {
      bool out = false;
      switch (r.rule) {
        case OffsetRetention::Rule::kSinceEmpty:
          out = expired(o, r.empty_since >= 0 ? r.empty_since : o.commit_timestamp);
          break;
        case OffsetRetention::Rule::kUnsubscribed:
          out = r.subscribed->count(key.first) == 0 && expired(o, o.commit_timestamp);
          break;
        case OffsetRetention::Rule::kSinceCommit:
          out = expired(o, o.commit_timestamp);
          break;
        case OffsetRetention::Rule::kKeep:
          break;
      }
      if (out) gone.push_back(key);
    }
  }
  const std::size_t held = g == nullptr ? 0 : g->offsets.size();
  const bool now_dead = r.empty && held == gone.size() && (g == nullptr || g->txn_offsets.empty());
  if (gone.empty() && !now_dead) return false;
  for (const auto& key : gone) {
    batch.delete_offset(r.group_id, key.first, key.second);
    g->offsets.erase(key);
  }
  expired_total += gone.size();
  if (now_dead) {
    batch.delete_group(r.group_id);
    groups_.erase(r.group_id);
  }
  return now_dead;
}

void OffsetManager::expire_offsets() {
  // Kafka's GroupMetadata.removeExpiredOffsets, group by group.
  const std::int64_t now = clock_();
  std::vector<std::string> dead;
  std::size_t expired_total = 0;
  membership_.for_each_retention([&](const OffsetRetention& r) {
    OffsetsStore::Batch batch;
    if (expire_group(r, now, batch, expired_total)) dead.push_back(r.group_id);
    if (batch.empty()) return;
    store_.write(std::move(batch), [gid = r.group_id](const std::string& error) {
      if (!error.empty()) {
        LOG_WARN("group", "group %s: cannot remove expired offsets: %s", gid.c_str(),
                 error.c_str());
      }
    });
  });
  for (const auto& gid : dead) membership_.remove_expired_group(gid);
  if (expired_total != 0 || !dead.empty()) {
    LOG_INFO("group", "expired %zu offsets; removed %zu empty groups", expired_total, dead.size());
  }
}

}  // namespace kgw
