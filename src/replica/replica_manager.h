// ReplicaManager: what this node keeps per local partition beyond the log
// itself (the log is the Store's): the high watermark, the leader epoch,
// the waits on them, and the checked, ordered append that Produce makes.
//
// Threads: loop thread only. Record checks run on the libuv threadpool
// (pool_work.h) and come back to the loop; the store's writes run on its
// writer thread (storage/store.h).
//
// The happy path of an append is: append() checks the batches' framing,
// CRC and sizes on the loop thread -> the partition's line takes a ticket
// (append_sequencer.h) -> the records are checked on the threadpool as
// Kafka's LogValidator does (record_validator.h), legacy message sets are
// up-converted and batches recompressed when compression.type asks
// (record_rules.h) -> in ticket order, back on the loop: idempotence and
// transactions are checked (ProducerStateManager, TransactionCoordinator)
// in the same loop turn as the store assigns the offsets -> the store
// writes the batches (in place in the request frame unless they were
// rewritten) -> the store reports the partition written up to its end
// (append listener): the high watermark moves, waiting fetches wake, and
// `done` gets the base offset. Possible failure modes, each answered
// through `done` as a Kafka error code: a bad batch (CORRUPT_MESSAGE,
// INVALID_RECORD with KIP-467 record errors, MESSAGE_TOO_LARGE,
// RECORD_LIST_TOO_LARGE, UNSUPPORTED_FOR_MESSAGE_FORMAT,
// UNSUPPORTED_COMPRESSION_TYPE), acks=all above the ISR
// (NOT_ENOUGH_REPLICAS, see "Replication" below), a refused producer
// (UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE,
// OUT_OF_ORDER_SEQUENCE_NUMBER, ...), a failed write (KAFKA_STORAGE_ERROR).
// A retried idempotent batch is answered with the offset it was first
// written at, once that write is done (when_written()).
//
// Replication (issue 16; Kafka's ISR protocol). leadership.h tells the
// ReplicaManager, from the metadata image, which partitions this node
// leads (become_leader) and which it follows (become_follower), with the
// partition's replicas, ISR, leader epoch and partition epoch.
//  - A follower's log is filled by the replica fetchers (ReplicaFollowing,
//    implemented over the inter-broker client): become_follower() hands
//    the partition to them; its high watermark is the leader's, as the
//    fetch responses report it (on_leader_high_watermark), never above its
//    own written end.
//  - A leader learns each follower's log end offset from its fetches
//    (on_follower_fetch: a follower fetching at X holds everything below
//    X). The high watermark is the smallest log end offset over the ISR
//    (the leader's own is the store's written end) and never moves back;
//    while an ISR expansion is being committed the joining replica counts
//    too (KIP-497's maximal ISR). With the ISR just this node (one node,
//    replication factor 1) it is the store's written end, as before. It
//    does not advance while the ISR is smaller than min(min.insync.replicas,
//    replication factor) (KIP-966's strict min-ISR).
//  - The ISR: every replica.lag.time.max.ms / 2 the leader drops followers
//    that have not caught up to its log end within replica.lag.time.max.ms,
//    and adds a follower as soon as it reached the high watermark and the
//    start of the current leader epoch, each time by asking the controller
//    (IsrChannel: AlterPartition, compared against the partition epoch);
//    the ISR changes here only when the image brings the committed change.
//  - acks=all: refused with NOT_ENOUGH_REPLICAS while the ISR is smaller
//    than min.insync.replicas; otherwise answered once the high watermark
//    passed the append (NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank
//    below min.insync.replicas meanwhile, REQUEST_TIMED_OUT after the
//    request's timeout_ms).
// The leader epoch: set by become_leader()/become_follower(); 0 for a
// partition never named by the image, what every partition of a single
// node has.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/records/legacy_message_set.h"
#include "protocol/records/record_validator.h"
#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "src/replica/append_sequencer.h"
#include "src/replica/fetch_waiters.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/record_rules.h"
#include "src/replica/replica_following.h"
#include "src/replica/replication_quota.h"

namespace kgw {

class ProducerStateManager;
class Store;
class TransactionCoordinator;
struct RecordWrite;

// What a topic's configs ask of an append (the broker resolves them:
// topic overrides over broker defaults).
struct AppendPolicy {
  std::int64_t max_message_bytes = 1048588;  // max.message.bytes
  std::int64_t segment_bytes = 1 << 30;      // segment.bytes
  std::int64_t min_insync_replicas = 1;      // min.insync.replicas
  RecordRules rules;                         // record checks and recompression
};
using AppendPolicyLookup = std::function<AppendPolicy(const TopicInfo&)>;

// One partition's records of a Produce request.
// What the image says of a partition this node holds a replica of.
struct ReplicaRole {
  std::int32_t leader = -1;
  std::int32_t leader_epoch = 0;
  std::int32_t partition_epoch = 0;
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isr;
};

// A leader's request to change a partition's ISR (Kafka's AlterPartition):
// the new ISR with each member's broker epoch (-1: not known).
struct IsrChangeRequest {
  Uuid topic;
  std::int32_t partition = 0;
  std::int32_t leader_epoch = 0;
  std::int32_t partition_epoch = 0;
  std::vector<std::pair<std::int32_t, std::int64_t>> isr;
};
using IsrChannel =
    std::function<void(IsrChangeRequest, std::function<void(ErrorCode, std::string)>)>;

struct ReplicationOptions {
  // replica.lag.time.max.ms: a follower that has not caught up to the
  // leader's log end for this long leaves the ISR. Default: 30000.
  std::int64_t lag_time_max_ms = 30000;
  // How the leader asks for an ISR change; unset on one node (the ISR is
  // always just this node there).
  IsrChannel isr_channel;
  // The replica fetchers; nullptr on one node.
  ReplicaFollowing* following = nullptr;
  // The leader's replication quota (replication_quota.h):
  // replication.quota.window.num windows of
  // replication.quota.window.size.seconds. Default: 11 of 1000 ms.
  std::uint32_t quota_windows = 11;
  std::uint64_t quota_window_ms = 1000;
};

struct AppendRequest {
  LocalPartition partition;  // resolved in this loop turn
  // The partition's records inside a buffer `owner` keeps alive and that
  // is ours to change (for Produce, the request frame): the common path
  // appends the batches from it, in place, rewriting only base offsets
  // (and LogAppendTime timestamps).
  std::span<std::uint8_t> records;
  std::shared_ptr<const void> owner;
  bool legacy = false;  // Produce v0-v2: a magic 0/1 message set
  std::int16_t acks = 1;
  // acks=all: how long to wait for the ISR (Produce's timeout_ms).
  std::int32_t timeout_ms = 30000;
  // What the whole request's legacy compressed wrappers may inflate to.
  std::shared_ptr<DecompressionBudget> legacy_budget;
  std::string_view peer;  // for log lines; lives as long as `owner`
};

struct AppendOutcome {
  ErrorCode error = ErrorCode::kNone;
  std::string message;              // why, when there is more to say
  std::vector<RecordFault> faults;  // KIP-467: the bad records, by index
  std::int64_t base_offset = -1;
  std::int64_t log_start_offset = -1;
  std::int64_t log_append_time = -1;  // LogAppendTime topics only
};

class ReplicaManager {
 public:
  using PartitionKey = std::pair<Uuid, std::int32_t>;
  using AppendDone = std::function<void(AppendOutcome)>;

  ReplicaManager(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
                 TransactionCoordinator& txns, AppendPolicyLookup policy);
  ~ReplicaManager();
  ReplicaManager(const ReplicaManager&) = delete;
  ReplicaManager& operator=(const ReplicaManager&) = delete;

  // Replication's settings and channels (see above); call before serving.
  void configure_replication(ReplicationOptions options);

  // --- Leadership. This node leads the partition from `leader_epoch` on
  // (the ISR just this node).
  void become_leader(const Uuid& topic, std::int32_t partition, std::int32_t leader_epoch);
  // ... with the image's replicas and ISR; again with the same epoch when
  // only the ISR or partition epoch changed.
  void become_leader(const Uuid& topic, std::int32_t partition, const ReplicaRole& role);
  // This node follows `role.leader` (the fetchers fill its log).
  void become_follower(const Uuid& topic, std::int32_t partition, const ReplicaRole& role);
  // Neither leads nor follows any more (offline, or moved away).
  void stop_replica(const Uuid& topic, std::int32_t partition);
  // The topic is gone (or no longer led here): its partitions' leadership
  // is forgotten.
  void forget_topic(const Uuid& topic);
  std::int32_t leader_epoch(const Uuid& topic, std::int32_t partition) const;
  // -1 if the partition is unknown.
  std::int64_t high_watermark(const Uuid& topic, std::int32_t partition) const;
  // The ISR as this leader counts it ({self} for a partition never named
  // by the image).
  std::size_t isr_size(const Uuid& topic, std::int32_t partition) const;
  // False while this node follows the partition (or it is offline here).
  bool leads(const Uuid& topic, std::int32_t partition) const;
  // Leads it still in `leader_epoch` (no other leader came in between).
  bool leads_in(const Uuid& topic, std::int32_t partition, std::int32_t leader_epoch) const {
    return leads(topic, partition) && this->leader_epoch(topic, partition) == leader_epoch;
  }

  // --- Replication.
  // A follower fetched the partition at `fetch_offset` (Fetch with a
  // replica id). kNone, or why the fetch is refused:
  // NOT_LEADER_OR_FOLLOWER (not led here, or `replica` is not one of its
  // replicas).
  ErrorCode on_follower_fetch(const Uuid& topic, std::int32_t partition, std::int32_t replica,
                              std::int64_t broker_epoch, std::int64_t fetch_offset);
  // A leader's view of a follower's log end (its last fetch offset); -1
  // when unknown or not led here.
  std::int64_t follower_end(const Uuid& topic, std::int32_t partition, std::int32_t replica) const;
  // A follower learned the leader's high watermark.
  void on_leader_high_watermark(const Uuid& topic, std::int32_t partition, std::int64_t hw);
  // `replica` is in the partition's ISR as this node knows it (the
  // leader's count, or the image's for a follower).
  bool in_isr(const Uuid& topic, std::int32_t partition, std::int32_t replica) const;
  // The leader side's replication throttle (replication_quota.h): the
  // bytes of throttled partitions served to followers, which the Fetch
  // handler counts and consults.
  ReplicationQuota& leader_quota() { return leader_quota_; }

  // --- The checked, ordered append (see above). `done` runs exactly once,
  // on the loop thread; at once (inside the call) when a check on the loop
  // thread refuses the records, later otherwise.
  void append(AppendRequest request, AppendDone done);

  // --- Waits.
  // A fetch that found fewer than min_bytes: `wake` runs once, when one of
  // the partitions' high watermark moves (timed_out=false), after
  // timeout_ms, or at stop() (timed_out=true). `connection` identifies
  // the client for forget_connection().
  void wait_for_data(std::uint64_t connection, const std::vector<PartitionKey>& partitions,
                     std::uint32_t timeout_ms, FetchWaiters::Wake wake);
  // The client is gone: drop its fetch waits without waking them.
  void forget_connection(std::uint64_t connection);
  // Runs `done` once the partition's high watermark reached `end`
  // (kWritten), or a write failed first (kFailed: failures are sticky, so
  // it never will), or the partition is gone (kGone). Runs it at once when
  // the outcome is already known.
  enum class WaitOutcome { kWritten, kFailed, kGone, kTimedOut };
  void when_written(const Uuid& topic, std::int32_t partition, std::int64_t end,
                    std::function<void(WaitOutcome)> done);
  // The same, bounded: kTimedOut after `timeout_ms` if nothing came first
  // (acks=all waits and idempotent retries: nothing waits for good).
  void when_written(const Uuid& topic, std::int32_t partition, std::int64_t end,
                    std::uint64_t timeout_ms, std::function<void(WaitOutcome)> done);

  // Runs `fn` on the loop after `ms` (not after stop()).
  void after(std::uint64_t ms, std::function<void()> fn) { timers_.schedule(ms, std::move(fn)); }

  // Answers waiting fetches (timed out); call before the server and the
  // store stop. Appends still being written complete as the store stops.
  void stop();

 private:
  struct AppendJob;
  // The store wrote `topic`/`partition` up to a new end.
  void on_written(const Uuid& topic, std::int32_t partition);
  // Finishes the partition's written-waits that are decided.
  void check_written_waits(const Uuid& topic, std::int32_t partition);
  void fail_all_written_waits(WaitOutcome outcome);
  // Ends the partition's written-waits with `outcome` (leadership lost).
  void end_written_waits(const Uuid& topic, std::int32_t partition, WaitOutcome outcome);
  // In ticket order, on the loop: producer checks, then the store append.
  void write(const std::shared_ptr<AppendJob>& job);
  bool check_producers(const std::shared_ptr<AppendJob>& job, const std::vector<Bytes>& batches,
                       std::vector<RecordWrite>& writes);

  // Per partition named by the image: this node's role and, leading, what
  // it knows of its followers.
  struct Follower {
    std::int64_t leo = -1;  // -1: not fetched since this node leads
    std::int64_t broker_epoch = -1;
    std::int64_t last_caught_up_ms = 0;
    std::int64_t last_fetch_ms = 0;
    std::int64_t leader_end_at_last_fetch = -1;
  };
  struct Replication {
    bool leading = false;
    ReplicaRole role;
    std::int64_t hw = 0;           // leader: computed; follower: the leader's
    std::int64_t epoch_start = 0;  // first offset of the current leader epoch
    std::map<std::int32_t, Follower> followers;
    // The ISR being asked for (empty: nothing in flight).
    std::vector<std::int32_t> pending_isr;
  };
  Replication* replication(const Uuid& topic, std::int32_t partition);
  const Replication* replication(const Uuid& topic, std::int32_t partition) const;
  // Recomputes a leader's high watermark; wakes what waits on it.
  void update_high_watermark(const Uuid& topic, std::int32_t partition, Replication& r);
  // Every replica.lag.time.max.ms / 2: shrinks ISRs of lagging followers.
  void check_isrs();
  void request_isr(const Uuid& topic, std::int32_t partition, Replication& r,
                   std::vector<std::int32_t> isr);
  // acks=all: `done` once the high watermark reaches `end`.
  void wait_for_isr(const Uuid& topic, std::int32_t partition, std::int64_t end,
                    std::int32_t timeout_ms, std::int64_t min_isr, AppendOutcome outcome,
                    AppendDone done);

  uv_loop_t* loop_;
  Store& store_;
  ProducerStateManager& producers_;
  TransactionCoordinator& txns_;
  AppendPolicyLookup policy_;
  FetchWaiters fetch_waiters_;
  AppendSequencer sequencer_;
  std::map<PartitionKey, std::int32_t> leader_epochs_;
  ReplicationOptions replication_options_;
  ReplicationQuota leader_quota_;
  std::map<PartitionKey, Replication> replication_;
  // The ISR checks and acks=all timeouts.
  TimerQueue timers_;
  TimerQueue::Id isr_check_ = 0;
  std::shared_ptr<std::function<void()>> isr_tick_;
  std::map<PartitionKey, std::multimap<std::int64_t, std::function<void(WaitOutcome)>>>
      written_waits_;
};

}  // namespace kgw
