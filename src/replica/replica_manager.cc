#include "src/replica/replica_manager.h"

#include "common/clock.h"
#include "common/log.h"
#include "protocol/records/record_batch.h"
#include "src/replica/pool_work.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/store.h"

namespace kgw {

namespace {

// Bound on one batch's records when the topic's rules need them
// decompressed (Kafka's bound is the batch size limits; this keeps a
// compression bomb from taking more).
constexpr std::size_t kMaxDecompressed = 64u << 20;

ErrorCode record_error_code(RecordError e) {
  switch (e) {
    case RecordError::kNone:
      return ErrorCode::kNone;
    case RecordError::kLegacyMessageFormat:
      return ErrorCode::kUnsupportedForMessageFormat;
    case RecordError::kBadRecord:
      return ErrorCode::kInvalidRecord;
    case RecordError::kUnsupportedCodec:
      return ErrorCode::kUnsupportedCompressionType;
    default:
      return ErrorCode::kCorruptMessage;
  }
}

AppendOutcome refused(ErrorCode e, std::string message = {}) {
  AppendOutcome o;
  o.error = e;
  o.message = std::move(message);
  return o;
}

}  // namespace

// One partition's append, from append() to `done`.
struct ReplicaManager::AppendJob {
  Uuid topic;
  std::int32_t partition = 0;
  std::string name;   // the topic's, for the transaction checks
  std::string where;  // "topic-partition", for messages
  AppendPolicy policy;
  bool legacy = false;
  std::shared_ptr<DecompressionBudget> legacy_budget;
  std::uint64_t ticket = 0;
  // The batches: views in the request frame (in place), or `owned` when
  // up-converted (legacy) or recompressed; write() makes `views` point at
  // whichever holds them.
  std::vector<std::span<std::uint8_t>> views;
  std::vector<std::vector<std::uint8_t>> owned;
  bool in_place = true;
  std::shared_ptr<const void> owner;  // keeps the frame alive
  std::string_view peer;
  BatchCheck check;
  std::int16_t acks = 1;
  std::int32_t timeout_ms = 0;
  // The leader epoch the append was accepted in: leadership can move
  // while the records are checked on the threadpool or written, and what
  // a former leader appends or acknowledges then is not the new leader's
  // log (a follower appending client records; an acks=all wait decided by
  // the new leader's high watermark over other records at its offsets).
  std::int32_t leader_epoch = 0;
  AppendDone done;
};

// How long a retry of a batch not yet under the high watermark waits for
// it without acks=all (whose wait is the request's timeout): Kafka's
// request.timeout.ms default.
constexpr std::uint64_t kDuplicateWaitMs = 30000;

ReplicaManager::ReplicaManager(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
                               TransactionCoordinator& txns, AppendPolicyLookup policy)
    : loop_(loop),
      store_(store),
      producers_(producers),
      txns_(txns),
      policy_(std::move(policy)),
      fetch_waiters_(loop),
      timers_(loop) {
  store_.set_append_listener(
      [this](const Uuid& topic, std::int32_t partition) { on_written(topic, partition); });
}

ReplicaManager::~ReplicaManager() {
  store_.set_append_listener(nullptr);
  stop();
}

void ReplicaManager::stop() {
  fetch_waiters_.stop();
  isr_tick_.reset();
  timers_.stop();
}

// --- Leadership -------------------------------------------------------------

void ReplicaManager::become_leader(const Uuid& topic, std::int32_t partition,
                                   std::int32_t leader_epoch) {
  leader_epochs_[{topic, partition}] = leader_epoch;
  // What this node appends from now on carries the epoch (Kafka's
  // appendAsLeader), and the log's leader-epoch cache starts it.
  store_.set_leader_epoch(topic, partition, leader_epoch);
}

void ReplicaManager::forget_topic(const Uuid& topic) {
  leader_epochs_.erase(leader_epochs_.lower_bound({topic, INT32_MIN}),
                       leader_epochs_.upper_bound({topic, INT32_MAX}));
  auto from = replication_.lower_bound({topic, INT32_MIN});
  auto to = replication_.upper_bound({topic, INT32_MAX});
  for (auto it = from; it != to; ++it) {
    if (!it->second.leading && replication_options_.following != nullptr) {
      replication_options_.following->unfollow(topic, it->first.second);
    }
  }
  replication_.erase(from, to);
}

std::int32_t ReplicaManager::leader_epoch(const Uuid& topic, std::int32_t partition) const {
  auto it = leader_epochs_.find({topic, partition});
  return it == leader_epochs_.end() ? 0 : it->second;
}

// --- Waits ------------------------------------------------------------------

void ReplicaManager::wait_for_data(std::uint64_t connection,
                                   const std::vector<PartitionKey>& partitions,
                                   std::uint32_t timeout_ms, FetchWaiters::Wake wake) {
  fetch_waiters_.wait(connection, partitions, timeout_ms, std::move(wake));
}

void ReplicaManager::forget_connection(std::uint64_t connection) {
  fetch_waiters_.forget_connection(connection);
}

void ReplicaManager::on_written(const Uuid& topic, std::int32_t partition) {
  // A leader's own log end is one of the ISR's; a follower's fetches
  // long-poll on the leader's log end, not its high watermark.
  if (Replication* r = replication(topic, partition)) update_high_watermark(topic, partition, *r);
  check_written_waits(topic, partition);
  fetch_waiters_.notify(topic, partition);
}

void ReplicaManager::when_written(const Uuid& topic, std::int32_t partition, std::int64_t end,
                                  std::function<void(WaitOutcome)> done) {
  if (!store_.failure().empty()) return done(WaitOutcome::kFailed);
  const std::int64_t hw = high_watermark(topic, partition);
  if (hw < 0) return done(WaitOutcome::kGone);
  if (hw >= end) return done(WaitOutcome::kWritten);
  written_waits_[{topic, partition}].emplace(end, std::move(done));
}

void ReplicaManager::when_written(const Uuid& topic, std::int32_t partition, std::int64_t end,
                                  std::uint64_t timeout_ms, std::function<void(WaitOutcome)> done) {
  // Whichever comes first answers; the other finds it empty.
  auto once = std::make_shared<std::function<void(WaitOutcome)>>(std::move(done));
  auto answer = [once](WaitOutcome o) {
    if (!*once) return;
    auto d = std::move(*once);
    *once = nullptr;
    d(o);
  };
  const TimerQueue::Id timer =
      timers_.schedule(timeout_ms, [answer] { answer(WaitOutcome::kTimedOut); });
  when_written(topic, partition, end, [this, answer, timer](WaitOutcome o) {
    timers_.cancel(timer);
    answer(o);
  });
}

void ReplicaManager::check_written_waits(const Uuid& topic, std::int32_t partition) {
  auto it = written_waits_.find({topic, partition});
  if (it == written_waits_.end()) return;
  const std::int64_t hw = high_watermark(topic, partition);
  auto& waits = it->second;
  std::vector<std::function<void(WaitOutcome)>> ready;
  // Gone (hw -1): every wait; else those the watermark reached.
  while (!waits.empty() && (hw < 0 || waits.begin()->first <= hw)) {
    ready.push_back(std::move(waits.begin()->second));
    waits.erase(waits.begin());
  }
  if (waits.empty()) written_waits_.erase(it);
  for (auto& done : ready) done(hw < 0 ? WaitOutcome::kGone : WaitOutcome::kWritten);
}

void ReplicaManager::end_written_waits(const Uuid& topic, std::int32_t partition,
                                       WaitOutcome outcome) {
  auto it = written_waits_.find({topic, partition});
  if (it == written_waits_.end()) return;
  auto waits = std::move(it->second);
  written_waits_.erase(it);
  for (auto& [end, done] : waits) done(outcome);
}

void ReplicaManager::fail_all_written_waits(WaitOutcome outcome) {
  std::vector<std::function<void(WaitOutcome)>> failed;
  for (auto& [key, waits] : written_waits_) {
    for (auto& [end, done] : waits) failed.push_back(std::move(done));
  }
  written_waits_.clear();
  for (auto& done : failed) done(outcome);
}

// --- The checked, ordered append ----------------------------------------------

void ReplicaManager::append(AppendRequest request, AppendDone done) {
  const TopicInfo& topic = *request.partition.topic;
  const std::int32_t partition = request.partition.partition;
  if (request.records.empty()) return done(refused(ErrorCode::kCorruptMessage));
  AppendPolicy policy = policy_(topic);
  if (!leads(topic.id, partition)) return done(refused(ErrorCode::kNotLeaderOrFollower));
  const std::size_t isr = isr_size(topic.id, partition);
  if (request.acks == -1 && static_cast<std::int64_t>(isr) < policy.min_insync_replicas) {
    return done(refused(ErrorCode::kNotEnoughReplicas,
                        "the ISR of " + topic.name + "-" + std::to_string(partition) + " has " +
                            std::to_string(isr) + " replica(s), min.insync.replicas is " +
                            std::to_string(policy.min_insync_replicas)));
  }
  // Produce v0-v2 carry legacy message sets (magic 0/1): up-converted to
  // one v2 batch on the threadpool below (legacy_message_set.h).
  std::vector<Bytes> batches;
  RecordError err =
      request.legacy ? RecordError::kNone : split_record_batches(Bytes(request.records), batches);
  // Views of the batches inside the request frame, which is ours to
  // change: the common path appends them in place (the store keeps the
  // frame alive until the write is done), with no copy on the loop thread;
  // only the base offset (and for LogAppendTime the timestamp) is
  // rewritten.
  std::vector<std::span<std::uint8_t>> views;
  views.reserve(batches.size());
  ErrorCode result = record_error_code(err);
  for (const Bytes& b : batches) {
    if (result != ErrorCode::kNone) break;
    RecordBatchHeader h;
    result = record_error_code(validate_record_batch(b, h));
    if (result == ErrorCode::kNone) result = record_error_code(check_producer_batch(h));
    if (result == ErrorCode::kNone &&
        static_cast<std::int64_t>(b.size()) > policy.max_message_bytes) {
      result = ErrorCode::kMessageTooLarge;
    }
    // Kafka refuses a batch larger than a whole segment.
    if (result == ErrorCode::kNone && static_cast<std::int64_t>(b.size()) > policy.segment_bytes) {
      result = ErrorCode::kRecordListTooLarge;
    }
    if (result == ErrorCode::kNone) {
      views.emplace_back(request.records.data() + (b.data() - request.records.data()), b.size());
    }
  }
  if (result != ErrorCode::kNone) {
    LOG_DEBUG("produce", "%.*s: %s-%d rejected: %s", static_cast<int>(request.peer.size()),
              request.peer.data(), topic.name.c_str(), partition, error_name(result));
    return done(refused(result));
  }
  // Every batch's records are checked on the threadpool
  // (record_validator.h) before anything is appended; the partition's
  // appends wait in line so that they keep the order requests came in.
  // The checks read views into the request frame, which the loop does not
  // touch meanwhile (`owner` keeps it alive), so the common path still
  // appends from the frame with no copy; only batches the topic
  // recompresses, and up-converted legacy sets, are copied.
  auto job = std::make_shared<AppendJob>();
  job->topic = topic.id;
  job->partition = partition;
  job->name = topic.name;
  job->where = topic.name + "-" + std::to_string(partition);
  job->policy = std::move(policy);
  job->legacy = request.legacy;
  job->legacy_budget = std::move(request.legacy_budget);
  job->views = std::move(views);
  if (request.legacy) {
    job->owned.emplace_back(request.records.begin(), request.records.end());
    job->in_place = false;
  }
  job->owner = std::move(request.owner);
  job->peer = request.peer;
  job->acks = request.acks;
  job->timeout_ms = request.timeout_ms;
  job->leader_epoch = leader_epoch(topic.id, partition);
  job->done = std::move(done);
  job->ticket = sequencer_.enter({job->topic, partition});
  run_on_pool(
      loop_,
      [job] {
        AppendJob& w = *job;
        BatchCheck& check = w.check;
        const AppendPolicy& policy = w.policy;
        if (w.legacy) {
          std::vector<std::uint8_t> batch;
          RecordError e =
              convert_legacy_message_set(Bytes(w.owned.front()), *w.legacy_budget, batch);
          if (e != RecordError::kNone) {
            check.error = record_error_code(e);
            check.message = std::string("legacy message set (magic 0/1) for ") + w.where + ": " +
                            record_error_name(e);
            return;
          }
          const auto size = static_cast<std::int64_t>(batch.size());
          if (size > policy.max_message_bytes || size > policy.segment_bytes) {
            check.error = size > policy.max_message_bytes ? ErrorCode::kMessageTooLarge
                                                          : ErrorCode::kRecordListTooLarge;
            return;
          }
          w.owned = {std::move(batch)};
        }
        const RecordChecks checks = policy.rules.checks(wall_ms(), kMaxDecompressed);
        std::vector<std::uint8_t> scratch;
        auto validate = [&](std::span<std::uint8_t> b) {
          RecordBatchHeader h;
          if (parse_record_batch_header(Bytes(b.data(), b.size()), h) != RecordError::kNone) {
            check.error = ErrorCode::kCorruptMessage;
            return false;
          }
          check = validate_batch_records(Bytes(b.data(), b.size()), h, checks, w.where, scratch);
          if (check.error != ErrorCode::kNone) return false;
          // Kafka sets a CreateTime batch's max_timestamp to its largest
          // record timestamp; the time index relies on it.
          if (h.timestamp_type() == TimestampType::kCreateTime &&
              check.max_timestamp != h.max_timestamp) {
            set_max_timestamp(b, check.max_timestamp);
          }
          return true;
        };
        for (auto& b : w.views) {
          if (!validate(b)) return;
        }
        for (auto& b : w.owned) {
          if (!validate(b)) return;
        }
        if (!policy.rules.rewrites()) return;
        if (w.in_place) {
          for (const auto& v : w.views) w.owned.emplace_back(v.begin(), v.end());
          w.views.clear();
          w.in_place = false;
        }
        check.error = policy.rules.recompress(w.owned, w.where, kMaxDecompressed, check.message);
      },
      [this, job] {
        const PartitionKey key{job->topic, job->partition};
        BatchCheck& check = job->check;
        if (check.error != ErrorCode::kNone) {
          // KIP-467: the partition's error and message, and each bad
          // record by its index in the batch; the batch is not stored.
          LOG_DEBUG("produce", "%.*s: records rejected: %s", static_cast<int>(job->peer.size()),
                    job->peer.data(), check.message.c_str());
          AppendOutcome o;
          o.error = check.error;
          o.message = std::move(check.message);
          o.faults = std::move(check.faults);
          sequencer_.ready(key, job->ticket, [] {});
          job->done(std::move(o));
          return;
        }
        // The append may wait for earlier ones in the partition's line.
        sequencer_.ready(key, job->ticket, [this, job] { write(job); });
      });
}

void ReplicaManager::write(const std::shared_ptr<AppendJob>& job) {
  if (!leads_in(job->topic, job->partition, job->leader_epoch)) {
    // Leadership moved while the records were checked: a follower's log
    // holds only its leader's batches. The producer retries on the new
    // leader.
    return job->done(refused(ErrorCode::kNotLeaderOrFollower));
  }
  // One path for both kinds: the store appends views, of the frame (kept
  // alive by its owner) or of the job's own batches (kept alive by the
  // job).
  std::shared_ptr<const void> owner = job->owner;
  if (!job->in_place) {
    job->views.assign(job->owned.begin(), job->owned.end());
    owner = job;
  }
  std::vector<RecordWrite> writes;
  {
    const std::vector<Bytes> batches(job->views.begin(), job->views.end());
    if (!check_producers(job, batches, writes)) return;
  }
  std::int64_t append_time = -1;
  if (job->policy.rules.log_append_time) {
    append_time = wall_ms();
    for (auto& b : job->views) set_log_append_time(b, append_time);
  }
  // Offsets the append takes (they are contiguous): acks=all waits for the
  // high watermark to pass them.
  std::int64_t count = 0;
  for (const auto& b : job->views) {
    RecordBatchHeader h;
    if (parse_record_batch_header(Bytes(b.data(), b.size()), h) == RecordError::kNone) {
      count += static_cast<std::int64_t>(h.last_offset_delta) + 1;
    }
  }
  store_.append_in_place(
      job->topic, job->partition, std::move(job->views), std::move(owner),
      [this, job, append_time, count](AppendResult r) {
        AppendOutcome o;
        if (!r.error.empty()) {
          // The store reports the failure once (kgw stops on it); one line
          // per partition per request would bury that line.
          LOG_DEBUG("produce", "append failed: %s", r.error.c_str());
          o.error = ErrorCode::kKafkaStorageError;
        } else {
          o.base_offset = r.base_offset;
          o.log_start_offset = r.log_start_offset;
          o.log_append_time = append_time;
        }
        AppendDone done = std::move(job->done);
        if (r.error.empty() && job->acks == -1 &&
            !leads_in(job->topic, job->partition, job->leader_epoch)) {
          // Written, but leadership moved before the write completed: the
          // new leader decides what stays at these offsets, so this node
          // cannot acknowledge them (the former waits ended when it
          // stopped leading; the producer retries on the new leader).
          done(refused(ErrorCode::kNotLeaderOrFollower));
        } else if (r.error.empty() && job->acks == -1 && replication(job->topic, job->partition)) {
          wait_for_isr(job->topic, job->partition, r.base_offset + count, job->timeout_ms,
                       job->policy.min_insync_replicas, std::move(o), std::move(done));
        } else {
          done(std::move(o));
        }
        // Retries waiting for a write: a failed write fails them all
        // (failures are sticky: none of theirs will be written); a
        // partition deleted meanwhile ends those on it.
        if (!r.error.empty() && store_.partition(job->topic, job->partition) != nullptr) {
          fail_all_written_waits(WaitOutcome::kFailed);
        } else {
          check_written_waits(job->topic, job->partition);
        }
      },
      std::move(writes));
}

// Idempotence and transactions, checked right before the store appends a
// partition's batches (in the same loop turn, so the offsets the producer
// state records are the ones the store assigns). Returns true to go on,
// with `writes` to add to the append; false when `done` is taken care of:
// a refusal (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH,
// OUT_OF_ORDER_SEQUENCE_NUMBER), or a retried batch answered with the
// offset it was first written at, once that write is done (Kafka records
// producer state only with the append that stores the batch: a retry must
// not be acknowledged before the batch it repeats is stored, nor when that
// write failed).
bool ReplicaManager::check_producers(const std::shared_ptr<AppendJob>& job,
                                     const std::vector<Bytes>& batches,
                                     std::vector<RecordWrite>& writes) {
  std::vector<RecordBatchHeader> headers(batches.size());
  bool idempotent = false;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (parse_record_batch_header(batches[i], headers[i]) != RecordError::kNone) return true;
    idempotent |= headers[i].producer_id >= 0;
  }
  if (!idempotent) return true;
  auto refuse = [&](ErrorCode e, std::string message) {
    AppendDone done = std::move(job->done);
    done(refused(e, std::move(message)));
    return false;
  };
  for (const auto& h : headers) {
    if (h.producer_id >= 0 && !txns_.issued(h.producer_id)) {
      return refuse(ErrorCode::kUnknownProducerId,
                    "producer id " + std::to_string(h.producer_id) +
                        " was never issued by this broker: get one with InitProducerId");
    }
    if (!h.is_transactional()) continue;
    // KIP-890: a transactional batch only for a partition its open
    // transaction has added, at the producer's current epoch.
    ErrorCode e = txns_.check_produce(h.producer_id, h.producer_epoch, job->name, job->partition);
    if (e != ErrorCode::kNone) {
      return refuse(e, "producer " + std::to_string(h.producer_id) + " epoch " +
                           std::to_string(h.producer_epoch) +
                           " has no open transaction with this partition");
    }
  }
  const PartitionState* ps = store_.partition(job->topic, job->partition);
  if (ps == nullptr) return true;  // deleted meanwhile: the store refuses it
  AppendCheck c =
      producers_.check_append(job->topic, job->partition, headers, ps->log_end_offset, wall_ms());
  if (c.error != ErrorCode::kNone) {
    // Rare, and what a producer does next (an epoch bump, a fatal error)
    // depends on it: the trail for a duplicate or a failed producer.
    LOG_INFO("produce", "%s-%d at log end %lld: %s: %s", job->name.c_str(), job->partition,
             static_cast<long long>(ps->log_end_offset), error_name(c.error), c.message.c_str());
    return refuse(c.error, std::move(c.message));
  }
  if (c.duplicate_of) {
    LOG_INFO("produce", "%s-%d: a retry of batches written at %lld, answered with that offset",
             job->name.c_str(), job->partition, static_cast<long long>(*c.duplicate_of));
    // As a first send's acks=all wait: REQUEST_TIMED_OUT after the
    // request's timeout (acks=all; otherwise kDuplicateWaitMs) if the
    // batch's write has not reached the high watermark by then (the
    // client retries; nothing waits for good).
    const std::uint64_t wait_ms = job->acks == -1
                                      ? static_cast<std::uint64_t>(std::max(job->timeout_ms, 0))
                                      : kDuplicateWaitMs;
    when_written(job->topic, job->partition, c.duplicate_end, wait_ms,
                 [this, job, base = *c.duplicate_of](WaitOutcome outcome) {
                   AppendOutcome o;
                   switch (outcome) {
                     case WaitOutcome::kWritten: {
                       o.base_offset = base;
                       const PartitionState* now = store_.partition(job->topic, job->partition);
                       o.log_start_offset = now != nullptr ? now->log_start_offset : -1;
                       break;
                     }
                     case WaitOutcome::kTimedOut:
                       o.error = ErrorCode::kRequestTimedOut;
                       o.message = "the batch this retry repeats is not replicated yet";
                       break;
                     case WaitOutcome::kFailed:
                       o.error = ErrorCode::kKafkaStorageError;
                       break;
                     case WaitOutcome::kGone:
                       o.error = ErrorCode::kUnknownTopicOrPartition;
                       break;
                   }
                   AppendDone done = std::move(job->done);
                   done(std::move(o));
                 });
    return false;
  }
  writes = std::move(c.writes);
  return true;
}

}  // namespace kgw
