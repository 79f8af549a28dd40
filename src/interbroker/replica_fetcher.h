// ReplicaFetchers: the follower side of partition replication (Kafka's
// ReplicaFetcherManager and its ReplicaFetcherThreads). This node follows
// a partition led by another broker by fetching from it with the Kafka
// protocol, Fetch with a replica id, and appends what comes back with the
// leader's offsets, leader epochs and producer state, so that the local
// log is byte for byte the leader's.
//
// One fetcher per (leader, hash(topic, partition) % num.replica.fetchers),
// each on its own connection to the leader (InterBrokerClient channel =
// fetcher index + 1), carries all of its partitions in one Fetch request,
// with at most one request in flight.
//
// The happy path of a partition is: follow() -> truncating: the fetcher
// asks the leader OffsetForLeaderEpoch (API 23) for the latest epoch of the
// local leader-epoch cache and truncates the local log where it diverges
// (Kafka's rule, see truncation_offset() in the .cc; may take several
// rounds, KIP-279) -> fetching: Fetch from the local log end; each answered
// batch is checked (framing, CRC), its producer state applied and the
// batches appended at the leader's offsets; the leader's high watermark
// goes to the on_high_watermark hook (clamped to the local log end); the
// next Fetch leaves once the appends are written. An answer without data
// simply leads to the next Fetch: the leader long-polls for
// replica.fetch.wait.max.ms.
//
// Replication throttles (replication_quota.h): a partition the topic's
// follower.replication.throttled.replicas names on this broker counts its
// fetched bytes against follower.replication.throttled.rate; while that is
// exceeded and this broker is out of the partition's ISR, the partition is
// left out of the Fetch requests.
//
// Possible failure modes are:
//  - the connection fails, drops or times out: the fetcher waits
//    replica.fetch.backoff.ms and asks again;
//  - diverging_epoch in a Fetch answer (v12+): truncate as above and go on;
//  - OFFSET_OUT_OF_RANGE: the local log end is outside the leader's log:
//    below its log start -> start the local log afresh at the leader's log
//    start (Kafka's truncateFullyAndStartAt); else truncate to the leader's
//    high watermark (what a kgw leader serves up to) and go on;
//  - FENCED_LEADER_EPOCH: our epoch is older than the leader's: the
//    partition waits for follow() with a newer leader or epoch;
//  - UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER, an unknown topic, a bad
//    batch, a failed store operation: the partition waits
//    replica.fetch.backoff.ms and is tried again (as Kafka does: the leader
//    may not have learned the epoch the metadata gave us yet);
//  - unfollow(), or follow() naming another leader or epoch: every answer
//    to a request made before is dropped for that partition (each follow
//    has a generation, checked when an answer or a store completion comes
//    back). A store write already queued stays queued: the store orders
//    writes, so a later leader append or truncation lands after it.
//
// Everything runs on the loop thread. stop() drops every partition and
// fetcher; store operations already queued still complete (their
// callbacks then do nothing).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "src/replica/replica_following.h"
#include "src/replica/replication_quota.h"

namespace kgw {

struct FetchResponse;
class InterBrokerClient;
class ProducerStateManager;
class Store;

struct ReplicaFetcherOptions {
  // Default: 1. Fetchers (connections) per leader (num.replica.fetchers).
  std::int32_t num_replica_fetchers = 1;
  // Default: 1048576. Bytes asked per partition (replica.fetch.max.bytes);
  // the leader still returns a first batch that is bigger.
  std::int32_t fetch_max_bytes = 1048576;
  // Default: 10485760. Bytes asked per Fetch answer
  // (replica.fetch.response.max.bytes).
  std::int32_t fetch_response_max_bytes = 10485760;
  // Default: 500. How long the leader may hold a Fetch without data
  // (replica.fetch.wait.max.ms).
  std::int32_t fetch_wait_max_ms = 500;
  // Default: 1. Bytes the leader waits for (replica.fetch.min.bytes).
  std::int32_t fetch_min_bytes = 1;
  // Default: 1000. Wait after a failed request or partition error
  // (replica.fetch.backoff.ms).
  std::uint64_t fetch_backoff_ms = 1000;
  // Default: 11 windows of 1000 ms (replication.quota.window.num,
  // replication.quota.window.size.seconds): the follower's throttle.
  std::uint32_t quota_windows = 11;
  std::uint64_t quota_window_ms = 1000;
};

struct ReplicaFetcherHooks {
  // This broker's registration epoch (Fetch v15+ ReplicaState); -1 if unset.
  std::function<std::int64_t()> broker_epoch;
  // This follower's high watermark of a partition: the leader's, clamped
  // to the local written end, after each answer that carried it; the new
  // log end after a truncation below it; the new log start after a reset.
  std::function<void(const Uuid& topic, std::int32_t partition, std::int64_t high_watermark)>
      on_high_watermark;
  // This follower's high watermark of a partition (what on_high_watermark
  // reported last, or what the node kept), or -1 if unknown: Kafka truncates
  // to it when the leader's epochs cannot tell where the logs diverge. Unset
  // or -1: the local log start is used (everything is fetched again).
  std::function<std::int64_t(const Uuid& topic, std::int32_t partition)> high_watermark;
  // Optional: batches of the partition were appended (written).
  std::function<void(const Uuid& topic, std::int32_t partition)> on_appended;
  // Optional, the follower's replication throttle (replication_quota.h):
  // whether the topic's follower.replication.throttled.replicas names this
  // broker's replica of the partition, and whether this broker is in its
  // ISR; the cap in bytes/s (follower.replication.throttled.rate).
  std::function<bool(const Uuid& topic, std::int32_t partition)> throttled;
  std::function<bool(const Uuid& topic, std::int32_t partition)> in_isr;
  std::function<std::int64_t()> throttle_rate;
};

class ReplicaFetchers : public ReplicaFollowing {
 public:
  ReplicaFetchers(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
                  InterBrokerClient& client, std::int32_t node_id, ReplicaFetcherOptions options,
                  ReplicaFetcherHooks hooks);
  ~ReplicaFetchers();
  ReplicaFetchers(const ReplicaFetchers&) = delete;
  ReplicaFetchers& operator=(const ReplicaFetchers&) = delete;

  // Follows the partition from `leader` at `leader_epoch`: starts, or
  // starts over with truncation when the leader or the epoch changed. The
  // same leader and epoch again: no change (a fenced partition stays
  // fenced until a newer epoch comes). A leader of -1 (none) or this
  // node itself: as unfollow().
  void follow(const Uuid& topic, std::int32_t partition, std::int32_t leader,
              std::int32_t leader_epoch) override;
  // Stops following: no answer that comes back afterwards appends to the
  // partition (see the failure modes above).
  void unfollow(const Uuid& topic, std::int32_t partition) override;
  // Every partition of the topic (it was deleted).
  void unfollow_topic(const Uuid& topic);
  void stop();

  // What a followed partition is doing (tests, logs, DescribeLogDirs).
  enum class State : std::uint8_t { kTruncating, kFetching, kFenced };
  struct PartitionStatus {
    std::int32_t leader = -1;
    std::int32_t leader_epoch = -1;
    State state = State::kTruncating;
    bool delayed = false;  // waiting replica.fetch.backoff.ms after an error
  };
  std::optional<PartitionStatus> status(const Uuid& topic, std::int32_t partition) const;
  std::size_t partition_count() const { return partitions_.size(); }
  // Fetchers with at least one partition.
  std::size_t fetcher_count() const;

 private:
  using PartitionKey = std::pair<Uuid, std::int32_t>;
  using FetcherKey = std::pair<std::int32_t, std::int32_t>;  // (leader, index)
  struct Partition {
    std::int32_t leader = -1;
    std::int32_t leader_epoch = -1;
    std::uint64_t generation = 0;
    // Tells this entry from one made by a later follow() after unfollow().
    std::uint64_t incarnation = 0;
    State state = State::kTruncating;
    std::uint64_t delayed_until = 0;  // loop ms; 0: not delayed
    int store_ops = 0;                // truncations or appends not finished
  };
  struct Fetcher {
    std::set<PartitionKey> partitions;
    bool in_flight = false;  // a request, or the store work of its answer
    std::uint64_t backoff_until = 0;
    TimerQueue::Id timer = 0;
    // Where the next Fetch starts its partition list: it turns with every
    // request, as Kafka moves fetched partitions to the end, so that the
    // leader's "first partition gets at least one whole batch" rule
    // reaches each partition in turn (one whose next batch is above
    // replica.fetch.max.bytes moves only when it comes first).
    std::size_t rotation = 0;
  };

  // Partitions of one request, with the generation each was asked at.
  using Asked = std::map<PartitionKey, std::uint64_t>;
  // What one request's answer needs: its count of unfinished work, the
  // topic names its encoding points into, the partitions asked.
  struct Request {
    std::shared_ptr<int> pending;
    std::shared_ptr<std::deque<std::string>> names;
    std::shared_ptr<Asked> asked;
  };
  // The fetcher is busy from now until the answer's work is done.
  Request begin_request(const FetcherKey& fk);
  // Partitions asked but missing from the answer wait a backoff.
  void delay_unanswered(const Asked& asked, const std::set<PartitionKey>& answered);

  FetcherKey fetcher_key(const PartitionKey& key, std::int32_t leader) const;
  void detach(const PartitionKey& key, const Partition& p);
  // Sends the fetcher's next request if it has none in flight.
  void pump(const FetcherKey& fk);
  // The partition's traffic counts against the follower's throttle, and
  // it is held back now (out of the ISR, over the rate).
  bool throttled(const PartitionKey& key) const;
  bool held_back(const PartitionKey& key, std::uint64_t now) const;
  void pump_later(const FetcherKey& fk, std::uint64_t delay_ms);
  void send_epochs(const FetcherKey& fk, std::vector<PartitionKey> keys);
  void send_fetch(const FetcherKey& fk, std::vector<PartitionKey> keys);
  void on_fetch_answer(const FetcherKey& fk, const FetchResponse& resp, const Asked& asked,
                       const std::shared_ptr<int>& pending);
  void partition_error(const PartitionKey& key, Partition& p, ErrorCode ec, const char* what);
  // OFFSET_OUT_OF_RANGE (Kafka's handleOutOfRangeError).
  void out_of_range(const PartitionKey& key, Partition& p, std::int64_t leader_log_start,
                    std::int64_t leader_high_watermark, const std::shared_ptr<int>& pending,
                    const FetcherKey& fk);
  // A request failed as a whole (connection, timeout): back off.
  void request_failed(const FetcherKey& fk, const char* what, const char* why);
  // The answer and its store work are done: next request.
  void request_done(const FetcherKey& fk);

  // The partition of `key`, if it is still followed at `generation`.
  Partition* current(const PartitionKey& key, std::uint64_t generation);
  void delay(const PartitionKey& key, Partition& p);
  // Kafka's getOffsetTruncationState: where to truncate given the leader's
  // (epoch, end offset) for our epoch; `complete` false when another round
  // of OffsetForLeaderEpoch is due.
  std::int64_t truncation_offset(const PartitionKey& key, std::int32_t leader_epoch,
                                 std::int64_t leader_end, bool& complete) const;
  // Truncates (if `offset` is below the local end) and then runs `then`
  // if the partition is still followed at `generation`. Counts as a store
  // operation of the partition, and of `pending` (the answer's).
  void truncate(const PartitionKey& key, std::uint64_t generation, std::int64_t offset,
                const std::shared_ptr<int>& pending, const FetcherKey& fk,
                std::function<void(Partition&)> then);
  void reset_log(const PartitionKey& key, Partition& p, std::int64_t start,
                 const std::shared_ptr<int>& pending, const FetcherKey& fk);
  // A store operation of the partition entry `incarnation` finished.
  void op_finished(const PartitionKey& key, std::uint64_t incarnation, const FetcherKey& fk);
  // This replica's high watermark as the hook tells it, else the log start;
  // at most the log end.
  std::int64_t follower_high_watermark(const PartitionKey& key) const;
  // Checks and appends one partition's fetched bytes.
  void append(const PartitionKey& key, std::uint64_t generation,
              std::shared_ptr<std::vector<std::uint8_t>> data, std::int64_t high_watermark,
              std::int64_t leader_log_start, const std::shared_ptr<int>& pending,
              const FetcherKey& fk);
  void report_high_watermark(const PartitionKey& key, std::int64_t high_watermark);
  // After a truncation: a high watermark above the new log end comes down.
  void clamp_high_watermark(const PartitionKey& key);
  void maybe_move_log_start(const PartitionKey& key, std::int64_t leader_log_start);
  // One store operation of the answer being processed finished.
  void op_done(const std::shared_ptr<int>& pending, const FetcherKey& fk);
  std::int32_t latest_epoch(const PartitionKey& key) const;
  std::string describe(const PartitionKey& key) const;

  uv_loop_t* loop_;
  Store& store_;
  ProducerStateManager& producers_;
  InterBrokerClient& client_;
  std::int32_t node_id_;
  ReplicaFetcherOptions options_;
  ReplicaFetcherHooks hooks_;
  TimerQueue timers_;
  // The follower side's replication throttle (replication_quota.h).
  ReplicationQuota quota_;
  std::map<PartitionKey, Partition> partitions_;
  std::map<FetcherKey, Fetcher> fetchers_;
  std::uint64_t next_generation_ = 1;
  bool stopped_ = false;
  // Completions hold a weak_ptr to it: one after the destructor does nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kgw
