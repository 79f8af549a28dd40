#include "src/txn/transaction_coordinator.h"

#include <algorithm>
#include <climits>

#include "common/clock.h"
#include "common/log.h"

namespace kgw {

namespace {

// Kafka's TransactionMetadata.isProducerEpochExhausted.
constexpr std::int16_t kMaxEpoch = SHRT_MAX - 1;

bool has_partition(const TransactionRecord& r, const std::string& topic, std::int32_t partition) {
  return std::find(r.partitions.begin(), r.partitions.end(), std::make_pair(topic, partition)) !=
         r.partitions.end();
}

}  // namespace

const char* txn_state_name(TxnState s) {
  switch (s) {
    case TxnState::kEmpty:
      return "Empty";
    case TxnState::kOngoing:
      return "Ongoing";
    case TxnState::kPrepareCommit:
      return "PrepareCommit";
    case TxnState::kPrepareAbort:
      return "PrepareAbort";
    case TxnState::kCompleteCommit:
      return "CompleteCommit";
    case TxnState::kCompleteAbort:
      return "CompleteAbort";
    case TxnState::kDead:
      return "Dead";
    case TxnState::kPrepareEpochFence:
      return "PrepareEpochFence";
  }
  return "Unknown";
}

std::optional<TxnState> parse_txn_state(std::string_view name) {
  for (int i = 0; i <= 7; ++i) {
    auto s = static_cast<TxnState>(i);
    if (name == txn_state_name(s)) return s;
  }
  return std::nullopt;
}

TransactionCoordinator::TransactionCoordinator(uv_loop_t* loop, ProducerStore& records,
                                               Store& store, ProducerStateManager& producers,
                                               OffsetManager& offsets,
                                               TransactionCoordinatorConfig config)
    : records_(records),
      store_(store),
      producers_(producers),
      offsets_(offsets),
      config_(config),
      timers_(loop),
      markers_(loop, store, producers, offsets, [this] { return wall_ms(); }) {}

TransactionCoordinator::~TransactionCoordinator() {
  stop();
}

std::int64_t TransactionCoordinator::wall_ms() const {
  if (config_.clock) return config_.clock();
  return kgw::wall_ms();
}

void TransactionCoordinator::load_transaction(TransactionRecord r) {
  auto t = std::make_unique<Txn>();
  t->rec = std::move(r);
  if (t->rec.producer_id >= 0) by_producer_[t->rec.producer_id] = t->rec.transactional_id;
  const std::string id = t->rec.transactional_id;
  txns_[id] = std::move(t);
}

void TransactionCoordinator::load_next_producer_id(std::int64_t next) {
  // Ids below the stored value may have been handed out: start above them.
  next_producer_id_ = std::max(next_producer_id_, next);
  block_end_ = next_producer_id_;
}

void TransactionCoordinator::load_transactions(std::vector<TransactionRecord> records) {
  std::vector<std::string> ids;
  for (auto& r : records) {
    ids.push_back(r.transactional_id);
    if (Txn* old = find(r.transactional_id)) {
      timers_.cancel(old->timer);
      by_producer_.erase(old->rec.producer_id);
    }
    load_transaction(std::move(r));
  }
  if (!started_ || stopped_) return;
  for (const auto& id : ids) {
    if (Txn* t = find(id)) resume(*t);
  }
}

std::size_t TransactionCoordinator::unload_transactions(
    const std::function<bool(const std::string& id)>& which) {
  std::size_t gone = 0;
  for (auto it = txns_.begin(); it != txns_.end();) {
    if (!which(it->first)) {
      ++it;
      continue;
    }
    timers_.cancel(it->second->timer);
    auto p = by_producer_.find(it->second->rec.producer_id);
    if (p != by_producer_.end() && p->second == it->first) by_producer_.erase(p);
    it = txns_.erase(it);
    ++gone;
  }
  return gone;
}

void TransactionCoordinator::resume(Txn& t) {
  const std::string id = t.rec.transactional_id;
  switch (state(t)) {
    case TxnState::kOngoing:
      arm_timeout(t);
      break;
    case TxnState::kPrepareCommit:
    case TxnState::kPrepareAbort:
    case TxnState::kPrepareEpochFence: {
      // The previous coordinator (kgw before a restart, or the broker
      // that led the partition) stopped between the decision and its
      // completion: finish it. Markers go only where the producer still
      // has an open transaction, so none is written twice.
      const bool commit = state(t) == TxnState::kPrepareCommit;
      LOG_INFO("txn", "transactional id %s: completing the %s prepared by the previous coordinator",
               id.c_str(), commit ? "commit" : "abort");
      t.busy = true;
      complete(
          id, commit, [](ErrorCode) {}, true);
      break;
    }
    default:
      break;
  }
}

void TransactionCoordinator::start() {
  started_ = true;
  std::vector<std::string> ids;
  for (const auto& [id, t] : txns_) ids.push_back(id);
  for (const auto& id : ids) {
    if (Txn* t = find(id)) resume(*t);
  }
  arm_txn_expiry();
  arm_producer_expiry();
}

void TransactionCoordinator::stop() {
  if (stopped_) return;
  stopped_ = true;
  timers_.stop();
  markers_.stop();
}

TransactionCoordinator::Txn* TransactionCoordinator::find(const std::string& id) {
  auto it = txns_.find(id);
  return it == txns_.end() ? nullptr : it->second.get();
}

const TransactionCoordinator::Txn* TransactionCoordinator::find(const std::string& id) const {
  auto it = txns_.find(id);
  return it == txns_.end() ? nullptr : it->second.get();
}

const TransactionCoordinator::Txn* TransactionCoordinator::find_by_producer(
    std::int64_t producer_id) const {
  auto it = by_producer_.find(producer_id);
  return it == by_producer_.end() ? nullptr : find(it->second);
}

// --- Producer ids ----------------------------------------------------------

void TransactionCoordinator::allocate_producer_id(
    std::function<void(std::int64_t, ErrorCode)> done) {
  if (next_producer_id_ < block_end_) return done(next_producer_id_++, ErrorCode::kNone);
  waiting_for_ids_.push_back(std::move(done));
  if (reserving_) return;
  // Reserve the next block durably before handing out any id of it, so a
  // crash never gives an id to two producers.
  reserving_ = true;
  if (id_blocks_) {
    id_blocks_(static_cast<std::int32_t>(config_.id_block_size),
               [this](ErrorCode e, std::int64_t first, std::int32_t count) {
                 reserving_ = false;
                 auto waiting = std::move(waiting_for_ids_);
                 waiting_for_ids_.clear();
                 if (e != ErrorCode::kNone) {
                   LOG_WARN("txn", "no producer id block from the cluster: %s", error_name(e));
                   // As Kafka while its producer-id block is on the way: retriable.
                   for (auto& w : waiting) w(-1, ErrorCode::kCoordinatorLoadInProgress);
                   return;
                 }
                 next_producer_id_ = first;
                 block_end_ = first + count;
                 for (auto& w : waiting) allocate_producer_id(std::move(w));
               });
    return;
  }
  const std::int64_t end = block_end_ + config_.id_block_size;
  records_.write({ProducerStore::put_next_producer_id(end)}, [this, end](const std::string& error) {
    reserving_ = false;
    auto waiting = std::move(waiting_for_ids_);
    waiting_for_ids_.clear();
    if (!error.empty()) {
      LOG_ERROR("txn", "cannot reserve producer ids: %s", error.c_str());
      for (auto& w : waiting) w(-1, kStorageFailure);
      return;
    }
    block_end_ = end;
    for (auto& w : waiting) allocate_producer_id(std::move(w));
  });
}

// --- Persistence -----------------------------------------------------------

void TransactionCoordinator::write_state(std::vector<RecordWrite> writes, Store::Done done) {
  if (replicator_) return replicator_(std::move(writes), std::move(done));
  records_.write(std::move(writes), std::move(done));
}

void TransactionCoordinator::persist(const std::string& id, TransactionRecord next,
                                     std::function<void(const std::string&)> done) {
  next.last_update_ms = wall_ms();
  write_state({ProducerStore::put_transaction(next)},
              [this, id, next, done = std::move(done)](const std::string& error) {
                Txn* t = find(id);
                if (error.empty() && t != nullptr) {
                  if (t->rec.producer_id != next.producer_id && t->rec.producer_id >= 0) {
                    by_producer_.erase(t->rec.producer_id);
                  }
                  t->rec = next;
                  by_producer_[next.producer_id] = id;
                }
                done(error);
              });
}

ErrorCode TransactionCoordinator::check_producer(const Txn& t, std::int64_t producer_id,
                                                 std::int16_t epoch) const {
  if (t.rec.producer_id != producer_id) return ErrorCode::kInvalidProducerIdMapping;
  if (t.rec.epoch != epoch) return ErrorCode::kProducerFenced;
  if (t.busy) return ErrorCode::kConcurrentTransactions;
  return ErrorCode::kNone;
}

// --- InitProducerId --------------------------------------------------------

void TransactionCoordinator::init_producer_id(const std::optional<std::string>& transactional_id,
                                              std::int32_t timeout_ms,
                                              std::int64_t expected_producer_id,
                                              std::int16_t expected_epoch, Done done) {
  if (!transactional_id) {
    // Idempotent only: always a fresh producer id (Kafka ignores the
    // expected id and epoch here).
    return allocate_producer_id([done = std::move(done)](std::int64_t id, ErrorCode e) {
      done(ProducerIdAndEpoch{e, e == ErrorCode::kNone ? id : -1,
                              e == ErrorCode::kNone ? std::int16_t{0} : kNoEpoch});
    });
  }
  const std::string id = *transactional_id;
  if (id.empty()) return done(ProducerIdAndEpoch{ErrorCode::kInvalidRequest, -1, kNoEpoch});
  if (timeout_ms <= 0 || timeout_ms > config_.max_timeout_ms) {
    return done(ProducerIdAndEpoch{ErrorCode::kInvalidTransactionTimeout, -1, kNoEpoch});
  }
  if (!serving(id)) {
    return done(ProducerIdAndEpoch{ErrorCode::kCoordinatorLoadInProgress, -1, kNoEpoch});
  }
  Txn* t = find(id);
  if (t == nullptr) {
    // A new transactional id: its producer id, then epoch 0.
    return allocate_producer_id(
        [this, id, timeout_ms, done = std::move(done)](std::int64_t pid, ErrorCode e) {
          if (e != ErrorCode::kNone) return done(ProducerIdAndEpoch{e, -1, kNoEpoch});
          if (find(id) != nullptr) {
            // Another InitProducerId for the same id got there first.
            return done(ProducerIdAndEpoch{ErrorCode::kConcurrentTransactions, -1, kNoEpoch});
          }
          auto fresh = std::make_unique<Txn>();
          fresh->rec.transactional_id = id;
          fresh->rec.producer_id = pid;
          fresh->busy = true;
          txns_[id] = std::move(fresh);
          TransactionRecord next;
          next.transactional_id = id;
          next.producer_id = pid;
          next.epoch = 0;
          next.last_epoch = kNoEpoch;
          next.timeout_ms = timeout_ms;
          next.state = static_cast<std::int8_t>(TxnState::kEmpty);
          persist(id, next, [this, id, pid, done](const std::string& error) {
            Txn* tt = find(id);
            if (!error.empty()) {
              txns_.erase(id);
              return done(ProducerIdAndEpoch{kStorageFailure, -1, kNoEpoch});
            }
            tt->busy = false;
            LOG_INFO("txn", "transactional id %s: producer id %lld epoch 0", id.c_str(),
                     static_cast<long long>(pid));
            done(ProducerIdAndEpoch{ErrorCode::kNone, pid, 0});
          });
        });
  }
  if (t->busy) return done(ProducerIdAndEpoch{ErrorCode::kConcurrentTransactions, -1, kNoEpoch});
  const bool expected = expected_producer_id >= 0;
  // KIP-360: a producer that names its id and epoch must be the current one
  // (or retrying a bump whose answer it lost).
  if (expected && t->rec.epoch != kNoEpoch && expected_producer_id != t->rec.producer_id) {
    return done(ProducerIdAndEpoch{ErrorCode::kProducerFenced, -1, kNoEpoch});
  }
  switch (state(*t)) {
    case TxnState::kPrepareAbort:
    case TxnState::kPrepareCommit:
    case TxnState::kDead:
    case TxnState::kPrepareEpochFence:
      return done(ProducerIdAndEpoch{ErrorCode::kConcurrentTransactions, -1, kNoEpoch});
    case TxnState::kOngoing:
      // Abort the open transaction first (fencing its producer); the
      // caller retries and then gets the next epoch.
      LOG_INFO("txn", "transactional id %s: a new producer fences the open transaction",
               id.c_str());
      fence_and_abort(id, [done = std::move(done)](ErrorCode) {
        done(ProducerIdAndEpoch{ErrorCode::kConcurrentTransactions, -1, kNoEpoch});
      });
      return;
    case TxnState::kEmpty:
    case TxnState::kCompleteCommit:
    case TxnState::kCompleteAbort:
      break;
  }
  TransactionRecord next = t->rec;
  next.timeout_ms = timeout_ms;
  next.partitions.clear();
  next.groups.clear();
  next.start_ms = -1;
  next.state = static_cast<std::int8_t>(TxnState::kEmpty);
  std::int16_t answer_epoch;
  bool rotate = false;
  if (t->rec.epoch >= kMaxEpoch && (!expected || expected_epoch == t->rec.epoch)) {
    rotate = true;  // epochs exhausted: a new producer id
    answer_epoch = 0;
  } else if (!expected || t->rec.epoch == kNoEpoch || expected_epoch == t->rec.epoch) {
    answer_epoch = static_cast<std::int16_t>(t->rec.epoch + 1);
    next.last_epoch = t->rec.epoch;
  } else if (expected_epoch == t->rec.last_epoch) {
    answer_epoch = t->rec.epoch;  // a retry of a bump that succeeded
  } else {
    return done(ProducerIdAndEpoch{ErrorCode::kProducerFenced, -1, kNoEpoch});
  }
  next.epoch = answer_epoch;
  t->busy = true;
  auto finish = [this, id, done](TransactionRecord next) {
    persist(id, next, [this, id, next, done](const std::string& error) {
      Txn* tt = find(id);
      if (tt != nullptr) tt->busy = false;
      if (!error.empty()) return done(ProducerIdAndEpoch{kStorageFailure, -1, kNoEpoch});
      LOG_INFO("txn", "transactional id %s: producer id %lld epoch %d", id.c_str(),
               static_cast<long long>(next.producer_id), next.epoch);
      done(ProducerIdAndEpoch{ErrorCode::kNone, next.producer_id, next.epoch});
    });
  };
  if (!rotate) return finish(std::move(next));
  allocate_producer_id([this, id, next, finish, done](std::int64_t pid, ErrorCode e) mutable {
    if (e != ErrorCode::kNone) {
      if (Txn* tt = find(id)) tt->busy = false;
      return done(ProducerIdAndEpoch{e, -1, kNoEpoch});
    }
    next.producer_id = pid;
    next.last_epoch = kNoEpoch;
    finish(std::move(next));
  });
}

// --- AddPartitionsToTxn / AddOffsetsToTxn ----------------------------------

// Both begin a transaction (from any state but Ongoing: a fresh partition
// and group list, a new start time) or extend the open one with `add`, then
// persist it; the timeout starts with the transaction.
void TransactionCoordinator::extend(const std::string& transactional_id, Txn& t,
                                    const std::function<void(TransactionRecord&)>& add,
                                    std::function<void(ErrorCode)> done) {
  const bool was_ongoing = state(t) == TxnState::kOngoing;
  TransactionRecord next = t.rec;
  if (!was_ongoing) {
    next.partitions.clear();
    next.groups.clear();
    next.start_ms = wall_ms();
  }
  next.state = static_cast<std::int8_t>(TxnState::kOngoing);
  add(next);
  t.busy = true;
  persist(transactional_id, std::move(next),
          [this, transactional_id, was_ongoing, done = std::move(done)](const std::string& error) {
            Txn* tt = find(transactional_id);
            if (tt == nullptr) return done(kStorageFailure);
            tt->busy = false;
            if (!error.empty()) return done(kStorageFailure);
            if (!was_ongoing) arm_timeout(*tt);
            done(ErrorCode::kNone);
          });
}

void TransactionCoordinator::add_partitions(
    const std::string& transactional_id, std::int64_t producer_id, std::int16_t epoch,
    std::vector<std::pair<std::string, std::int32_t>> partitions,
    std::function<void(ErrorCode)> done) {
  if (transactional_id.empty()) return done(ErrorCode::kInvalidRequest);
  if (!serving(transactional_id)) return done(ErrorCode::kCoordinatorLoadInProgress);
  Txn* t = find(transactional_id);
  if (t == nullptr) return done(ErrorCode::kInvalidProducerIdMapping);
  if (ErrorCode e = check_producer(*t, producer_id, epoch); e != ErrorCode::kNone) return done(e);
  const TxnState s = state(*t);
  if (s == TxnState::kPrepareCommit || s == TxnState::kPrepareAbort ||
      s == TxnState::kPrepareEpochFence) {
    return done(ErrorCode::kConcurrentTransactions);
  }
  if (s == TxnState::kOngoing &&
      std::all_of(partitions.begin(), partitions.end(),
                  [&](const auto& p) { return has_partition(t->rec, p.first, p.second); })) {
    return done(ErrorCode::kNone);
  }
  extend(
      transactional_id, *t,
      [&partitions](TransactionRecord& next) {
        for (auto& p : partitions) {
          if (!has_partition(next, p.first, p.second)) next.partitions.push_back(std::move(p));
        }
      },
      std::move(done));
}

ErrorCode TransactionCoordinator::verify_partitions(
    const std::string& transactional_id, std::int64_t producer_id, std::int16_t epoch,
    const std::vector<std::pair<std::string, std::int32_t>>& partitions) const {
  const Txn* t = find(transactional_id);
  if (t == nullptr) return ErrorCode::kInvalidProducerIdMapping;
  if (t->rec.producer_id != producer_id) return ErrorCode::kInvalidProducerIdMapping;
  if (t->rec.epoch != epoch) return ErrorCode::kProducerFenced;
  if (state(*t) != TxnState::kOngoing) return ErrorCode::kInvalidTxnState;
  for (const auto& p : partitions) {
    if (!has_partition(t->rec, p.first, p.second)) return ErrorCode::kInvalidTxnState;
  }
  return ErrorCode::kNone;
}

void TransactionCoordinator::add_offsets(const std::string& transactional_id,
                                         std::int64_t producer_id, std::int16_t epoch,
                                         const std::string& group_id,
                                         std::function<void(ErrorCode)> done) {
  if (transactional_id.empty()) return done(ErrorCode::kInvalidRequest);
  if (group_id.empty()) return done(ErrorCode::kInvalidGroupId);
  if (!serving(transactional_id)) return done(ErrorCode::kCoordinatorLoadInProgress);
  Txn* t = find(transactional_id);
  if (t == nullptr) return done(ErrorCode::kInvalidProducerIdMapping);
  if (ErrorCode e = check_producer(*t, producer_id, epoch); e != ErrorCode::kNone) return done(e);
  const TxnState s = state(*t);
  if (s == TxnState::kPrepareCommit || s == TxnState::kPrepareAbort ||
      s == TxnState::kPrepareEpochFence) {
    return done(ErrorCode::kConcurrentTransactions);
  }
  const bool has_group =
      std::find(t->rec.groups.begin(), t->rec.groups.end(), group_id) != t->rec.groups.end();
  if (s == TxnState::kOngoing && has_group) return done(ErrorCode::kNone);
  extend(
      transactional_id, *t,
      [&group_id](TransactionRecord& next) {
        if (std::find(next.groups.begin(), next.groups.end(), group_id) == next.groups.end()) {
          next.groups.push_back(group_id);
        }
      },
      std::move(done));
}

ErrorCode TransactionCoordinator::check_offset_commit(const std::string& transactional_id,
                                                      std::int64_t producer_id, std::int16_t epoch,
                                                      const std::string& group_id) const {
  const Txn* t = find(transactional_id);
  // In a cluster the group's coordinator and the transaction's may be
  // different brokers: a transaction coordinated elsewhere is taken as
  // Kafka's group coordinator takes it (it does not ask the transaction
  // coordinator); its marker completes or drops the offsets.
  if (t == nullptr && id_blocks_ != nullptr) return ErrorCode::kNone;
  if (t == nullptr || t->rec.producer_id != producer_id) {
    return ErrorCode::kInvalidProducerIdMapping;
  }
  if (epoch < t->rec.epoch) return ErrorCode::kProducerFenced;
  if (epoch != t->rec.epoch) return ErrorCode::kInvalidProducerEpoch;
  if (state(*t) != TxnState::kOngoing ||
      std::find(t->rec.groups.begin(), t->rec.groups.end(), group_id) == t->rec.groups.end()) {
    return ErrorCode::kInvalidTxnState;
  }
  return ErrorCode::kNone;
}

ErrorCode TransactionCoordinator::check_produce(std::int64_t producer_id, std::int16_t epoch,
                                                const std::string& topic,
                                                std::int32_t partition) const {
  const Txn* t = find_by_producer(producer_id);
  // In a cluster the producer's transaction coordinator may be another
  // broker, which alone knows its transaction: the leader accepts the batch
  // as Kafka before 3.6 did (no KIP-890 verification), and the
  // ProducerStateManager still enforces the epoch and the sequence.
  if (t == nullptr && id_blocks_ != nullptr) return ErrorCode::kNone;
  if (t == nullptr) return ErrorCode::kInvalidTxnState;
  if (epoch < t->rec.epoch) return ErrorCode::kInvalidProducerEpoch;
  if (epoch != t->rec.epoch || state(*t) != TxnState::kOngoing ||
      !has_partition(t->rec, topic, partition)) {
    return ErrorCode::kInvalidTxnState;
  }
  return ErrorCode::kNone;
}

// --- EndTxn ----------------------------------------------------------------

void TransactionCoordinator::end_txn(const std::string& transactional_id, std::int64_t producer_id,
                                     std::int16_t epoch, bool commit,
                                     std::function<void(ErrorCode)> done) {
  if (transactional_id.empty()) return done(ErrorCode::kInvalidRequest);
  if (!serving(transactional_id)) return done(ErrorCode::kCoordinatorLoadInProgress);
  Txn* t = find(transactional_id);
  if (t == nullptr) return done(ErrorCode::kInvalidProducerIdMapping);
  if (t->rec.producer_id != producer_id) return done(ErrorCode::kInvalidProducerIdMapping);
  if (epoch != t->rec.epoch) return done(ErrorCode::kProducerFenced);
  if (t->busy) return done(ErrorCode::kConcurrentTransactions);
  switch (state(*t)) {
    case TxnState::kOngoing:
      break;
    case TxnState::kCompleteCommit:
      return done(commit ? ErrorCode::kNone : ErrorCode::kInvalidTxnState);  // a retry
    case TxnState::kCompleteAbort:
      return done(commit ? ErrorCode::kInvalidTxnState : ErrorCode::kNone);
    case TxnState::kPrepareCommit:
      return done(commit ? ErrorCode::kConcurrentTransactions : ErrorCode::kInvalidTxnState);
    case TxnState::kPrepareAbort:
      return done(commit ? ErrorCode::kInvalidTxnState : ErrorCode::kConcurrentTransactions);
    case TxnState::kEmpty:
      return done(ErrorCode::kInvalidTxnState);
    case TxnState::kDead:
    case TxnState::kPrepareEpochFence:
      return done(ErrorCode::kConcurrentTransactions);
  }
  t->busy = true;
  timers_.cancel(t->timer);
  t->timer = 0;
  TransactionRecord next = t->rec;
  next.state =
      static_cast<std::int8_t>(commit ? TxnState::kPrepareCommit : TxnState::kPrepareAbort);
  persist(transactional_id, std::move(next),
          [this, transactional_id, commit, done = std::move(done)](const std::string& error) {
            Txn* tt = find(transactional_id);
            if (tt == nullptr) return done(kStorageFailure);
            if (!error.empty()) {
              tt->busy = false;
              return done(kStorageFailure);
            }
            complete(transactional_id, commit, std::move(done));
          });
}

// --- Admin -----------------------------------------------------------------

std::vector<TransactionDescription> TransactionCoordinator::describe(
    const std::vector<std::string>& ids) const {
  std::vector<TransactionDescription> out;
  for (const auto& id : ids) {
    TransactionDescription d;
    d.transactional_id = id;
    const Txn* t = find(id);
    if (t == nullptr) {
      d.error = ErrorCode::kTransactionalIdNotFound;
      out.push_back(std::move(d));
      continue;
    }
    d.state = txn_state_name(state(*t));
    d.timeout_ms = t->rec.timeout_ms;
    d.start_ms = t->rec.start_ms;
    d.producer_id = t->rec.producer_id;
    d.epoch = t->rec.epoch;
    d.partitions = t->rec.partitions;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<TransactionDescription> TransactionCoordinator::list(
    const std::vector<TxnState>& states, const std::vector<std::int64_t>& producer_ids,
    std::int64_t duration_ms) const {
  std::vector<TransactionDescription> out;
  const std::int64_t now = wall_ms();
  for (const auto& [id, t] : txns_) {
    if (!states.empty() && std::find(states.begin(), states.end(), state(*t)) == states.end()) {
      continue;
    }
    if (!producer_ids.empty() && std::find(producer_ids.begin(), producer_ids.end(),
                                           t->rec.producer_id) == producer_ids.end()) {
      continue;
    }
    if (duration_ms >= 0 &&
        (state(*t) != TxnState::kOngoing || now - t->rec.start_ms < duration_ms)) {
      continue;
    }
    TransactionDescription d;
    d.transactional_id = id;
    d.state = txn_state_name(state(*t));
    d.producer_id = t->rec.producer_id;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace kgw
