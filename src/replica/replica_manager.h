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
// (NOT_ENOUGH_REPLICAS: one node is the whole ISR), a refused producer
// (UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE,
// OUT_OF_ORDER_SEQUENCE_NUMBER, ...), a failed write (KAFKA_STORAGE_ERROR).
// A retried idempotent batch is answered with the offset it was first
// written at, once that write is done (when_written()).
//
// The high watermark: on one node the in-sync replica set is this node, so
// the high watermark is where the store has written the log up to (the
// store reports it through its append listener); replication will make it
// the minimum over the ISR here, without the store knowing.
// The leader epoch: set by become_leader(), which leadership.h calls from
// the metadata image (at start and on every applied change); 0 for a
// partition never named there, what every partition of a single node has.
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

#include "protocol/records/legacy_message_set.h"
#include "protocol/records/record_validator.h"
#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "src/replica/append_sequencer.h"
#include "src/replica/fetch_waiters.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/record_rules.h"

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

  // --- Leadership. This node leads the partition from `leader_epoch` on.
  void become_leader(const Uuid& topic, std::int32_t partition, std::int32_t leader_epoch);
  // The topic is gone (or no longer led here): its partitions' leadership
  // is forgotten.
  void forget_topic(const Uuid& topic);
  std::int32_t leader_epoch(const Uuid& topic, std::int32_t partition) const;
  // -1 if the partition is unknown.
  std::int64_t high_watermark(const Uuid& topic, std::int32_t partition) const;

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
  enum class WaitOutcome { kWritten, kFailed, kGone };
  void when_written(const Uuid& topic, std::int32_t partition, std::int64_t end,
                    std::function<void(WaitOutcome)> done);

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
  // In ticket order, on the loop: producer checks, then the store append.
  void write(const std::shared_ptr<AppendJob>& job);
  bool check_producers(const std::shared_ptr<AppendJob>& job, const std::vector<Bytes>& batches,
                       std::vector<RecordWrite>& writes);

  uv_loop_t* loop_;
  Store& store_;
  ProducerStateManager& producers_;
  TransactionCoordinator& txns_;
  AppendPolicyLookup policy_;
  FetchWaiters fetch_waiters_;
  AppendSequencer sequencer_;
  std::map<PartitionKey, std::int32_t> leader_epochs_;
  std::map<PartitionKey, std::multimap<std::int64_t, std::function<void(WaitOutcome)>>>
      written_waits_;
};

}  // namespace kgw
