// TransactionCoordinator, the work that runs after a transaction's outcome
// is decided or without any request: completing a commit or abort (the
// COMMIT/ABORT markers to every partition, the groups' transactional
// offsets, then Complete*), the transaction timeout that fences and
// aborts, and the periodic expiry of idle transactional ids and producer
// ids. The request-driven state machine is in transaction_coordinator.cc.
#include <algorithm>
#include <memory>

#include "common/log.h"
#include "src/group/offset_manager.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/store.h"

namespace kgw {

// --- Completion and markers ------------------------------------------------

void TransactionCoordinator::complete(const std::string& id, bool commit,
                                      std::function<void(ErrorCode)> done, bool only_open) {
  Txn* t = find(id);
  if (t == nullptr) return done(kStorageFailure);
  const TransactionRecord rec = t->rec;
  TxnMarker marker;
  marker.producer_id = rec.producer_id;
  marker.epoch = rec.epoch;
  marker.commit = commit;
  marker.partitions = rec.partitions;
  // The markers on every partition's leader (here or through
  // WriteTxnMarkers), and the groups' transactional offsets made visible
  // (or dropped) on their coordinators.
  markers_.write(marker, rec.groups, only_open, [this, id, commit, done](const std::string& error) {
    if (!error.empty()) {
      LOG_ERROR("txn", "transactional id %s: cannot write markers: %s", id.c_str(), error.c_str());
      if (Txn* tt = find(id)) tt->busy = false;
      return done(kStorageFailure);
    }
    Txn* tt = find(id);
    if (tt == nullptr) return done(kStorageFailure);
    TransactionRecord next = tt->rec;
    next.state =
        static_cast<std::int8_t>(commit ? TxnState::kCompleteCommit : TxnState::kCompleteAbort);
    next.partitions.clear();
    next.groups.clear();
    persist(id, std::move(next), [this, id, commit, done](const std::string& e) {
      if (Txn* t3 = find(id)) t3->busy = false;
      if (!e.empty()) return done(kStorageFailure);
      LOG_DEBUG("txn", "transactional id %s: %s", id.c_str(), commit ? "committed" : "aborted");
      done(ErrorCode::kNone);
    });
  });
}

// --- Timeouts and fencing --------------------------------------------------

void TransactionCoordinator::arm_timeout(Txn& t) {
  timers_.cancel(t.timer);
  const std::int64_t left =
      std::max<std::int64_t>(t.rec.start_ms + t.rec.timeout_ms - wall_ms(), 0);
  t.timer = timers_.schedule(static_cast<std::uint64_t>(left),
                             [this, id = t.rec.transactional_id, pid = t.rec.producer_id,
                              epoch = t.rec.epoch] { on_timeout(id, pid, epoch); });
}

void TransactionCoordinator::on_timeout(const std::string& id, std::int64_t producer_id,
                                        std::int16_t epoch) {
  Txn* t = find(id);
  if (t == nullptr) return;
  t->timer = 0;
  if (state(*t) != TxnState::kOngoing || t->rec.producer_id != producer_id ||
      t->rec.epoch != epoch) {
    return;
  }
  if (t->busy) {  // a transition is running: look again shortly
    t->timer = timers_.schedule(
        100, [this, id, producer_id, epoch] { on_timeout(id, producer_id, epoch); });
    return;
  }
  LOG_INFO("txn",
           "transactional id %s: transaction open longer than its timeout (%d ms); "
           "fencing producer %lld epoch %d and aborting",
           id.c_str(), t->rec.timeout_ms, static_cast<long long>(producer_id), epoch);
  fence_and_abort(id, [](ErrorCode) {});
}

void TransactionCoordinator::fence_and_abort(const std::string& id,
                                             std::function<void(ErrorCode)> done) {
  Txn* t = find(id);
  if (t == nullptr || t->busy) return done(ErrorCode::kConcurrentTransactions);
  timers_.cancel(t->timer);
  t->timer = 0;
  t->busy = true;
  // Kafka's prepareFenceProducerEpoch: the markers carry the bumped epoch,
  // so the old producer's writes are refused everywhere, and it cannot
  // recover by retrying (last epoch unknown).
  TransactionRecord next = t->rec;
  next.epoch = static_cast<std::int16_t>(t->rec.epoch + 1);
  next.last_epoch = kNoEpoch;
  next.state = static_cast<std::int8_t>(TxnState::kPrepareAbort);
  persist(id, std::move(next), [this, id, done = std::move(done)](const std::string& error) {
    Txn* tt = find(id);
    if (tt == nullptr) return done(kStorageFailure);
    if (!error.empty()) {
      tt->busy = false;
      return done(kStorageFailure);
    }
    complete(id, false, std::move(done));
  });
}

// --- Expiry ----------------------------------------------------------------

void TransactionCoordinator::arm_txn_expiry() {
  timers_.schedule(static_cast<std::uint64_t>(config_.transactional_id_cleanup_interval_ms),
                   [this] {
                     expire_transactional_ids();
                     arm_txn_expiry();
                   });
}

void TransactionCoordinator::arm_producer_expiry() {
  timers_.schedule(static_cast<std::uint64_t>(config_.producer_id_check_interval_ms), [this] {
    expire_producer_ids();
    arm_producer_expiry();
  });
}

std::size_t TransactionCoordinator::expire_transactional_ids() {
  const std::int64_t now = wall_ms();
  std::vector<std::string> expired;
  for (const auto& [id, t] : txns_) {
    const TxnState st = state(*t);
    const bool idle =
        st == TxnState::kEmpty || st == TxnState::kCompleteCommit || st == TxnState::kCompleteAbort;
    if (idle && !t->busy && t->rec.last_update_ms <= now - config_.transactional_id_expiration_ms) {
      expired.push_back(id);
    }
  }
  if (expired.empty()) return 0;
  std::vector<RecordWrite> writes;
  for (const auto& id : expired) {
    auto it = txns_.find(id);
    by_producer_.erase(it->second->rec.producer_id);
    timers_.cancel(it->second->timer);
    txns_.erase(it);
    writes.push_back(ProducerStore::delete_transaction(id));
  }
  LOG_INFO("txn", "forgot %zu transactional ids idle for transactional.id.expiration.ms (%lld ms)",
           expired.size(), static_cast<long long>(config_.transactional_id_expiration_ms));
  // A lost delete only means the id comes back after a restart and expires
  // again: nothing to undo here.
  write_state(std::move(writes), [](const std::string&) {});
  return expired.size();
}

std::size_t TransactionCoordinator::expire_producer_ids() {
  std::vector<RecordWrite> writes = producers_.expire(
      wall_ms(), config_.producer_id_expiration_ms,
      [this](const Uuid& topic, std::int32_t partition) -> std::optional<std::int64_t> {
        const PartitionState* ps = store_.partition(topic, partition);
        return ps != nullptr ? std::optional<std::int64_t>(ps->high_watermark) : std::nullopt;
      });
  const std::size_t n = writes.size();
  if (n != 0) {
    LOG_INFO("txn", "forgot %zu producer ids idle for producer.id.expiration.ms (%lld ms)", n,
             static_cast<long long>(config_.producer_id_expiration_ms));
    records_.write(std::move(writes), [](const std::string&) {});
  }
  return n;
}

namespace {

std::vector<ProducerStateManager::OpenTransaction> own_open_transactions(
    const ProducerStateManager& producers, std::int64_t producer_id,
    const TransactionCoordinator::OwnTopic& ours) {
  auto open = producers.open_transactions(producer_id);
  std::erase_if(open, [&](const auto& o) { return !ours(o.topic); });
  return open;
}

}  // namespace

bool TransactionCoordinator::has_upstream_txn(std::int64_t producer_id,
                                              const OwnTopic& ours) const {
  return !own_open_transactions(producers_, producer_id, ours).empty() ||
         !offsets_.groups_with_txn_offsets(producer_id).empty();
}

void TransactionCoordinator::end_upstream_txn(
    std::int64_t producer_id, std::int16_t epoch, bool commit, const OwnTopic& ours,
    std::function<void(std::size_t marked, const std::string& error)> done) {
  const auto open = own_open_transactions(producers_, producer_id, ours);
  const auto groups = offsets_.groups_with_txn_offsets(producer_id);
  const std::size_t count = open.size() + groups.size();
  if (count == 0) return done(0, "");
  struct Join {
    std::size_t pending;
    std::string error;
    std::function<void(std::size_t, const std::string&)> done;
  };
  auto join = std::make_shared<Join>(Join{count, "", std::move(done)});
  auto one = [join, count](const std::string& error) {
    if (!error.empty() && join->error.empty()) join->error = error;
    if (--join->pending == 0) join->done(count, join->error);
  };
  for (const auto& o : open) {
    TxnMarker m;
    m.producer_id = producer_id;
    m.epoch = std::max(epoch, o.epoch);
    m.commit = commit;
    m.coordinator_epoch = std::max(o.coordinator_epoch, 0);
    markers_.append_local(o.topic, o.partition, m, one);
  }
  // Offsets a local group took in the transaction (TxnOffsetCommit here).
  for (const auto& g : groups) offsets_.complete_txn_offsets(g, producer_id, commit, one);
}

}  // namespace kgw
