// OffsetManager: the consumer groups' committed offsets — OffsetCommit,
// OffsetFetch, OffsetDelete, TxnOffsetCommit's pending offsets (made
// visible or dropped by the transaction's end), the offsets of deleted
// groups and topics, and their expiry (offsets.retention.minutes). It keeps
// them in memory by group and writes every change through the
// OffsetsStore (on-disk format as before; in a cluster the store hands the
// changes to the replicated __consumer_offsets partition instead,
// src/replica/coordinator_log.h); membership is asked only through the
// narrow GroupMembership seam.
//
// Threads: the loop thread only; completions of writes come back on it.
// Happy path: membership admits a commit -> the offsets are written as one
// batch -> memory takes them -> the caller is answered. Failure modes: the
// membership check fails (its error for every partition); a metadata
// string is too long (OFFSET_METADATA_TOO_LARGE for that partition); the
// write fails (COORDINATOR_NOT_AVAILABLE, as Kafka maps it, and memory is
// not changed); load() finds a damaged record (start-up stops).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/error_code.h"
#include "src/group/group_membership.h"
#include "storage/offsets_store.h"

namespace kgw {

struct OffsetManagerConfig {
  // Default: 7 days. Offsets of an empty group (or a group that only
  // stores offsets) expire this long after it became empty (after the
  // commit, respectively).
  std::int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;
  // Default: 600000. How often expired offsets are looked for; <= 0: never.
  std::int64_t offsets_retention_check_interval_ms = 600000;
  // Default: 4096. Longest commit metadata string.
  std::int32_t max_metadata_bytes = 4096;
};

struct CommitPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::optional<std::string> metadata;
  std::int64_t commit_timestamp = -1;  // OffsetCommit v1 only; -1: now
};

struct CommitArgs {
  std::string group_id;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::int64_t retention_time_ms = -1;  // OffsetCommit v2-v4; -1: the broker's
  std::vector<CommitPartition> partitions;
};

struct TxnCommitArgs {
  std::string group_id;
  std::int64_t producer_id = -1;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::vector<CommitPartition> partitions;
};

struct FetchedOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  ErrorCode error = ErrorCode::kNone;
};

struct FetchOffsetsResult {
  ErrorCode error = ErrorCode::kNone;
  std::vector<FetchedOffset> partitions;
};

class OffsetManager {
 public:
  using Clock = std::function<std::int64_t()>;  // wall-clock ms
  // `clock` defaults to the wall clock; tests inject their own.
  OffsetManager(uv_loop_t* loop, OffsetsStore& store, GroupMembership& membership,
                OffsetManagerConfig config, Clock clock = nullptr);
  ~OffsetManager();
  OffsetManager(const OffsetManager&) = delete;
  OffsetManager& operator=(const OffsetManager&) = delete;

  // Start-up, after the coordinator's load() (blocks on disk): loads the
  // committed and pending transactional offsets and starts the expiry
  // timer. Returns "" or one line naming the damage.
  std::string load();
  // A cluster's coordinator (src/replica/coordinator_log.h) loads the
  // offsets its replicated partition holds, after the groups' records
  // (the group, if unknown, is created to store offsets).
  void load_offset(const std::string& group_id, const std::string& topic, std::int32_t partition,
                   CommittedOffset o);
  void load_txn_offset(const std::string& group_id, std::int64_t producer_id,
                       const std::string& topic, std::int32_t partition, CommittedOffset o);
  // ... and drops the offsets of the groups `which` picks (it no longer
  // coordinates them, or is about to load them again).
  void unload_groups(const std::function<bool(const std::string& group_id)>& which);
  // Stops the expiry timer. Call before the store stops.
  void stop();

  // `done` gets one error per partition, in order.
  void commit_offsets(CommitArgs args, std::function<void(std::vector<ErrorCode>)> done);
  // TxnOffsetCommit: offsets held back until the producer's transaction
  // ends (the transaction coordinator has checked the producer). `done`
  // gets one error per partition, in order.
  void commit_txn_offsets(TxnCommitArgs args, std::function<void(std::vector<ErrorCode>)> done);
  // The producer's transaction ended: its offsets become the committed
  // ones (commit) or are dropped (abort). `done` gets "" or the error.
  void complete_txn_offsets(const std::string& group_id, std::int64_t producer_id, bool commit,
                            std::function<void(const std::string&)> done);
  // The groups holding offsets of `producer_id`'s open transaction (a
  // WriteTxnMarkers marker for a __consumer_offsets partition completes
  // those the partition coordinates).
  std::vector<std::string> groups_with_txn_offsets(std::int64_t producer_id) const;
  // `topics` nullopt: every committed offset of the group. With
  // require_stable, partitions with offsets in an open transaction answer
  // UNSTABLE_OFFSET_COMMIT.
  FetchOffsetsResult fetch_offsets(
      const std::string& group_id,
      const std::optional<std::vector<std::pair<std::string, std::vector<std::int32_t>>>>& topics,
      bool require_stable) const;
  // `done` gets the group's error and one error per partition, in order.
  void delete_offsets(const std::string& group_id,
                      std::vector<std::pair<std::string, std::int32_t>> partitions,
                      std::function<void(ErrorCode, std::vector<ErrorCode>)> done);
  // DeleteGroups: membership removes the empty groups; their offsets and
  // records are deleted in one write. `done` gets one error per group.
  void delete_groups(std::vector<std::string> group_ids,
                     std::function<void(std::vector<ErrorCode>)> done);
  // A topic was deleted: its committed offsets go too (as Kafka does).
  void on_topic_deleted(const std::string& topic);
  // One expiry pass (the timer runs it every check interval).
  void expire_offsets();

 private:
  using Key = std::pair<std::string, std::int32_t>;  // (topic, partition)
  // One group's offsets. Its incarnation tells write completions of a
  // deleted group from a later group with the same id.
  struct GroupOffsets {
    std::uint64_t incarnation = 0;
    std::map<Key, CommittedOffset> offsets;
    // Offsets committed inside open transactions, by producer id: visible
    // (moved into `offsets`) when the transaction commits.
    std::map<std::int64_t, std::map<Key, CommittedOffset>> txn_offsets;
    bool has_pending_txn_offset(const Key& key) const;
  };

  GroupOffsets* find(const std::string& group_id);
  const GroupOffsets* find(const std::string& group_id) const;
  // The group's entry, created if missing; membership learns the group exists.
  GroupOffsets& entry(const std::string& group_id);
  // Checks the metadata sizes; the accepted offsets, stamped with `now`.
  std::vector<std::pair<Key, CommittedOffset>> accept(const std::vector<CommitPartition>& parts,
                                                      std::int64_t now,
                                                      std::vector<ErrorCode>& errors) const;
  void schedule_expiry();
  // Expires one group's offsets into `batch`; true if the group dies.
  bool expire_group(const OffsetRetention& r, std::int64_t now, OffsetsStore::Batch& batch,
                    std::size_t& expired);

  OffsetsStore& store_;
  GroupMembership& membership_;
  OffsetManagerConfig config_;
  Clock clock_;
  TimerQueue timers_;
  std::map<std::string, GroupOffsets, std::less<>> groups_;
  std::uint64_t next_incarnation_ = 1;
  TimerQueue::Id expiry_timer_ = 0;
  bool stopped_ = false;
};

}  // namespace kgw
