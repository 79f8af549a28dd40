// TransactionCoordinator: producer ids and Kafka's transaction protocol
// (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, and the
// checks behind TxnOffsetCommit and transactional Produce), following
// Kafka's TransactionCoordinator and TransactionMetadata.
//
// The happy path is: InitProducerId gives a transactional id its producer
// id and a bumped epoch (fencing any older producer with the same id) ->
// AddPartitionsToTxn / AddOffsetsToTxn put partitions and groups into the
// transaction (state Ongoing, persisted) -> the producer writes -> EndTxn:
// PrepareCommit/PrepareAbort is persisted, a COMMIT/ABORT control batch
// (marker) is appended to every partition of the transaction, the groups'
// transactional offsets are made visible or dropped, then
// CompleteCommit/CompleteAbort is persisted and EndTxn answers.
//
// Possible failure modes are:
//  - a zombie (older epoch) or a mismatched producer id: PRODUCER_FENCED
//    (INVALID_PRODUCER_EPOCH for old request versions) and
//    INVALID_PRODUCER_ID_MAPPING, as Kafka answers;
//  - a request during a transition: CONCURRENT_TRANSACTIONS (retriable);
//  - a transaction open longer than its timeout: the coordinator fences
//    the producer (epoch bump) and aborts it;
//  - InitProducerId for an id with an open transaction: that transaction
//    is aborted first and the caller is told to retry;
//  - kgw stops mid-transaction: load() resumes a prepared commit/abort
//    (markers only where the producer still has an open transaction) and
//    re-arms the timeout of open ones, so nothing is half visible;
//  - in a cluster the state is written to the transactional id's
//    replicated __transaction_state partition (set_replicator(),
//    src/replica/coordinator_log.h): a coordinator that dies moves to the
//    partition's new leader, which loads the partition (requests answer
//    COORDINATOR_LOAD_IN_PROGRESS meanwhile) and resumes its transactions
//    the same way (load_transactions()); a former leader drops them;
//  - a storage write fails: the request answers COORDINATOR_NOT_AVAILABLE
//    and the in-memory state is not moved on.
// Everything runs on the loop thread. The code is in two files:
// transaction_coordinator.cc (the requests and the state machine) and
// transaction_completion.cc (markers, timeouts and expiry).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/error_code.h"
#include "src/txn/txn_markers.h"
#include "storage/producer_store.h"
#include "storage/store.h"

namespace kgw {

class OffsetManager;
class ProducerStateManager;
class Store;

enum class TxnState : std::int8_t {
  kEmpty = 0,
  kOngoing = 1,
  kPrepareCommit = 2,
  kPrepareAbort = 3,
  kCompleteCommit = 4,
  kCompleteAbort = 5,
  kDead = 6,
  kPrepareEpochFence = 7,
};
const char* txn_state_name(TxnState s);
std::optional<TxnState> parse_txn_state(std::string_view name);

struct TransactionCoordinatorConfig {
  // Default: 900000. Largest transaction.timeout.ms a producer may ask for
  // (transaction.max.timeout.ms).
  std::int32_t max_timeout_ms = 900000;
  // Default: 1000. Producer ids reserved (persisted) at a time.
  std::int64_t id_block_size = 1000;
  // Default: 604800000 (7 days). A transactional id with no transaction
  // for this long (state Empty, CompleteCommit or CompleteAbort) is
  // forgotten (transactional.id.expiration.ms).
  std::int64_t transactional_id_expiration_ms = 604800000;
  // Default: 3600000. How often that is checked
  // (transaction.remove.expired.transaction.cleanup.interval.ms).
  std::int64_t transactional_id_cleanup_interval_ms = 3600000;
  // Default: 86400000 (1 day). A partition forgets a producer id whose last
  // batch is this old and that has no open transaction there
  // (producer.id.expiration.ms).
  std::int64_t producer_id_expiration_ms = 86400000;
  // Default: 600000. How often that is checked
  // (producer.id.expiration.check.interval.ms).
  std::int64_t producer_id_check_interval_ms = 600000;
  // Default: the system clock (ms since the epoch). Tests pass their own.
  std::function<std::int64_t()> clock;
};

struct ProducerIdAndEpoch {
  ErrorCode error = ErrorCode::kNone;
  std::int64_t producer_id = -1;
  std::int16_t epoch = -1;
};

struct TransactionDescription {
  ErrorCode error = ErrorCode::kNone;
  std::string transactional_id;
  std::string state;
  std::int32_t timeout_ms = 0;
  std::int64_t start_ms = -1;
  std::int64_t producer_id = -1;
  std::int16_t epoch = -1;
  std::vector<std::pair<std::string, std::int32_t>> partitions;
};

class TransactionCoordinator {
 public:
  // `store` appends the markers; `producers` is told about them.
  TransactionCoordinator(uv_loop_t* loop, ProducerStore& records, Store& store,
                         ProducerStateManager& producers, OffsetManager& offsets,
                         TransactionCoordinatorConfig config);
  ~TransactionCoordinator();
  TransactionCoordinator(const TransactionCoordinator&) = delete;
  TransactionCoordinator& operator=(const TransactionCoordinator&) = delete;

  // Start-up, after the producer state and the groups are loaded.
  void load_transaction(TransactionRecord r);
  // A cluster's __transaction_state partition loaded here: its
  // transactional ids, resumed (as start() resumes) once started.
  void load_transactions(std::vector<TransactionRecord> records);
  // Its partition is no longer led here: the ids `which` picks leave
  // memory (timers cancelled). Returns how many went.
  std::size_t unload_transactions(const std::function<bool(const std::string& id)>& which);
  // A cluster's writes of transaction state go to `replicator` (acks=all
  // to the replicated partition) instead of this node's store.
  using Replicator = std::function<void(std::vector<RecordWrite> writes, Store::Done done)>;
  void set_replicator(Replicator replicator) { replicator_ = std::move(replicator); }
  // False while the id's partition is not loaded here: its requests are
  // answered COORDINATOR_LOAD_IN_PROGRESS.
  void set_serving_check(std::function<bool(std::string_view id)> check) {
    serving_ = std::move(check);
  }
  void load_next_producer_id(std::int64_t next);
  // Resumes prepared transactions and arms timeouts; call once after
  // loading, with the loop about to run.
  void start();
  void stop();

  using Done = std::function<void(ProducerIdAndEpoch)>;
  // transactional_id nullopt: an idempotent producer (a new id, epoch 0).
  // expected_* (InitProducerId v3+, KIP-360): -1 when not given.
  void init_producer_id(const std::optional<std::string>& transactional_id, std::int32_t timeout_ms,
                        std::int64_t expected_producer_id, std::int16_t expected_epoch, Done done);
  // `partitions` exist; the answer applies to all of them.
  void add_partitions(const std::string& transactional_id, std::int64_t producer_id,
                      std::int16_t epoch,
                      std::vector<std::pair<std::string, std::int32_t>> partitions,
                      std::function<void(ErrorCode)> done);
  // AddPartitionsToTxn v4+ verify_only: are they all in the open transaction?
  ErrorCode verify_partitions(
      const std::string& transactional_id, std::int64_t producer_id, std::int16_t epoch,
      const std::vector<std::pair<std::string, std::int32_t>>& partitions) const;
  void add_offsets(const std::string& transactional_id, std::int64_t producer_id,
                   std::int16_t epoch, const std::string& group_id,
                   std::function<void(ErrorCode)> done);
  void end_txn(const std::string& transactional_id, std::int64_t producer_id, std::int16_t epoch,
               bool commit, std::function<void(ErrorCode)> done);
  // TxnOffsetCommit: the producer's transaction is open and has the group
  // (in a cluster, a transaction coordinated elsewhere passes).
  ErrorCode check_offset_commit(const std::string& transactional_id, std::int64_t producer_id,
                                std::int16_t epoch, const std::string& group_id) const;
  // Produce of a transactional batch (KIP-890 verification): the producer's
  // transaction is open, at this epoch, and has the partition. In a
  // cluster a producer whose transaction is coordinated elsewhere passes.
  ErrorCode check_produce(std::int64_t producer_id, std::int16_t epoch, const std::string& topic,
                          std::int32_t partition) const;

  // One expiry pass now, as the timers run them: transactional ids
  // (transactional.id.expiration.ms) and partitions' producer ids
  // (producer.id.expiration.ms). Returns how many of each were forgotten.
  std::size_t expire_transactional_ids();
  std::size_t expire_producer_ids();

  // False for a producer id this broker never handed out (nor any kgw
  // before it on this data dir): a batch carrying one is UNKNOWN_PRODUCER_ID,
  // so that made-up ids cannot fill the producer state, and a client that
  // kept an id across a wiped data dir asks for a new one.
  // In a cluster other brokers hand out ids too (blocks from etcd), so
  // any id is taken as issued.
  bool issued(std::int64_t producer_id) const {
    return producer_id >= 0 && (id_blocks_ != nullptr || producer_id < next_producer_id_);
  }

  // A cluster's producer ids: blocks of `count` ids, unique cluster-wide,
  // from `source` instead of this node's store.
  using IdBlockDone = std::function<void(ErrorCode, std::int64_t first, std::int32_t count)>;
  using IdBlockSource = std::function<void(std::int32_t count, IdBlockDone done)>;
  void set_id_block_source(IdBlockSource source) { id_blocks_ = std::move(source); }
  // Where the markers go: every partition's leader (set_cluster in a
  // cluster); the WriteTxnMarkers handler appends through it too.
  TxnMarkerChannel& markers() { return markers_; }
  // Proxy mode: a transaction the legacy cluster coordinates ended there
  // (its EndTxn answered, or a new InitProducerId of its transactional id
  // aborted it). Writes the COMMIT or ABORT marker, at `epoch` (or the
  // partition's own, if later), on every partition of this node where the
  // producer has a transaction open, and makes the offsets local groups
  // hold for it committed or dropped; `done` gets how many partitions and
  // groups and "" or the store's failure (the caller answers retriably: a
  // retry marks the rest).
  // `ours` says which topics are kgw's: a migrated topic's copy that is
  // still mirrored holds the legacy log's batches, whose markers the
  // mirror copies.
  using OwnTopic = std::function<bool(const Uuid& topic)>;
  void end_upstream_txn(std::int64_t producer_id, std::int16_t epoch, bool commit,
                        const OwnTopic& ours,
                        std::function<void(std::size_t marked, const std::string& error)> done);
  // Whether end_upstream_txn() has anything to end for the producer.
  bool has_upstream_txn(std::int64_t producer_id, const OwnTopic& ours) const;
  // The next id this node would hand out (a single node's high mark).
  std::int64_t next_producer_id() const { return next_producer_id_; }

  std::vector<TransactionDescription> describe(const std::vector<std::string>& ids) const;
  // Filters as ListTransactions: empty means all; duration_ms < 0: none.
  std::vector<TransactionDescription> list(const std::vector<TxnState>& states,
                                           const std::vector<std::int64_t>& producer_ids,
                                           std::int64_t duration_ms) const;

 private:
  // A failed storage write: the request answers this (retriable).
  static constexpr ErrorCode kStorageFailure = ErrorCode::kCoordinatorNotAvailable;
  static constexpr std::int16_t kNoEpoch = -1;

  struct Txn {
    TransactionRecord rec;
    // A transition is being written (or markers are going out): other
    // requests get CONCURRENT_TRANSACTIONS (Kafka's pendingState).
    bool busy = false;
    TimerQueue::Id timer = 0;
  };

  TxnState state(const Txn& t) const { return static_cast<TxnState>(t.rec.state); }
  Txn* find(const std::string& id);
  const Txn* find(const std::string& id) const;
  const Txn* find_by_producer(std::int64_t producer_id) const;
  // Validates (pid, epoch) for add/end/offset requests: "" fine, else the error.
  ErrorCode check_producer(const Txn& t, std::int64_t producer_id, std::int16_t epoch) const;

  void allocate_producer_id(std::function<void(std::int64_t id, ErrorCode)> done);
  // Completes a loaded prepared transaction, arms an ongoing one's timeout.
  void resume(Txn& t);
  bool serving(const std::string& id) const { return !serving_ || serving_(id); }
  // Transaction state: the replicated partition in a cluster, else the store.
  void write_state(std::vector<RecordWrite> writes, Store::Done done);
  // Persists `next` as t's state, then runs `done` ("" or the error);
  // memory changes only when the write succeeded.
  void extend(const std::string& transactional_id, Txn& t,
              const std::function<void(TransactionRecord&)>& add,
              std::function<void(ErrorCode)> done);
  void persist(const std::string& id, TransactionRecord next,
               std::function<void(const std::string& error)> done);
  // From Prepare* (or a fence): markers, group offsets, Complete*.
  void complete(const std::string& id, bool commit, std::function<void(ErrorCode)> done,
                bool only_open = false);
  void arm_timeout(Txn& t);
  void on_timeout(const std::string& id, std::int64_t producer_id, std::int16_t epoch);
  // Fences the current producer of an open transaction and aborts it.
  void fence_and_abort(const std::string& id, std::function<void(ErrorCode)> done);

  std::int64_t wall_ms() const;
  void arm_txn_expiry();
  void arm_producer_expiry();

  ProducerStore& records_;
  Store& store_;
  ProducerStateManager& producers_;
  OffsetManager& offsets_;  // the groups' pending transactional offsets
  TransactionCoordinatorConfig config_;
  TimerQueue timers_;
  TxnMarkerChannel markers_;
  std::map<std::string, std::unique_ptr<Txn>, std::less<>> txns_;
  std::map<std::int64_t, std::string> by_producer_;  // producer id -> transactional id

  // Producer ids below block_end_ are durably reserved; next_ is the next
  // one to hand out.
  std::int64_t next_producer_id_ = 0;
  IdBlockSource id_blocks_;
  std::int64_t block_end_ = 0;
  bool reserving_ = false;
  std::vector<std::function<void(std::int64_t, ErrorCode)>> waiting_for_ids_;
  bool stopped_ = false;
  bool started_ = false;
  Replicator replicator_;
  std::function<bool(std::string_view)> serving_;
};

}  // namespace kgw
