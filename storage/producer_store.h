// The producer store: idempotent/transactional producer state and the
// transaction coordinator's state, as records of the `producers` column
// family (key layout in keys.h). Values start with a format byte (0
// today); a value this version cannot read is damage, reported at load.
//
// Partition-level records ('P' producer state, 'A' aborted transactions)
// are written in the same atomic write as the batch that changes them
// (Store::append's producer_writes), so after a crash they agree with the
// log exactly. Coordinator records ('T', 'N') are written on their own,
// before the answer that depends on them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/wire/types.h"
#include "storage/store.h"

namespace kgw {

// One of the last five batches of a producer in a partition: enough to
// answer a retried batch with the offset it was first written at.
struct ProducerBatchRecord {
  std::int32_t first_seq = -1;
  std::int32_t last_seq = -1;
  std::int64_t first_offset = -1;
  std::int64_t last_offset = -1;
  std::int64_t timestamp = -1;
  friend bool operator==(const ProducerBatchRecord&, const ProducerBatchRecord&) = default;
};

struct ProducerStateRecord {
  std::int16_t epoch = -1;
  std::int32_t coordinator_epoch = -1;
  // First offset of its open transaction in this partition; -1: none.
  std::int64_t txn_first_offset = -1;
  std::int64_t last_timestamp = -1;
  std::vector<ProducerBatchRecord> batches;  // oldest first, at most 5
  // What a follower's truncation needs to undo (ProducerStateManager::
  // truncate): the offset of the batch or marker that set `epoch`, and the
  // last marker that ended a transaction with the first offset of that
  // transaction. -1: unknown (a record written before they existed).
  std::int64_t epoch_offset = -1;
  std::int64_t marker_offset = -1;
  std::int64_t marker_txn_first_offset = -1;
  friend bool operator==(const ProducerStateRecord&, const ProducerStateRecord&) = default;
};

// The transaction coordinator's view of one transactional id.
struct TransactionRecord {
  std::string transactional_id;
  std::int64_t producer_id = -1;
  std::int16_t epoch = -1;
  // The epoch before the last bump (-1 when fenced), to tell a retried
  // InitProducerId from a zombie (Kafka's lastProducerEpoch).
  std::int16_t last_epoch = -1;
  std::int32_t timeout_ms = 0;
  std::int8_t state = 0;  // TxnState in src/txn
  std::vector<std::pair<std::string, std::int32_t>> partitions;
  std::vector<std::string> groups;  // consumer groups whose offsets ride along
  std::int64_t start_ms = -1;
  std::int64_t last_update_ms = -1;
  friend bool operator==(const TransactionRecord&, const TransactionRecord&) = default;
};

class ProducerStore {
 public:
  struct Loaders {
    std::function<void(const Uuid& topic, std::int32_t partition, std::int64_t producer_id,
                       ProducerStateRecord)>
        state;
    std::function<void(const Uuid& topic, std::int32_t partition, std::int64_t producer_id,
                       std::int64_t first_offset, std::int64_t last_offset)>
        aborted;
    std::function<void(TransactionRecord)> transaction;
    std::function<void(std::int64_t next_producer_id)> next_producer_id;
  };

  explicit ProducerStore(Store& store) : store_(store) {}

  // Start-up only (blocks on disk). Returns "" or one line naming the
  // data dir and the damaged record.
  std::string load(const Loaders& loaders);
  void write(std::vector<RecordWrite> writes, Store::Done done);
  Store& store() { return store_; }

  static RecordWrite put_state(const Uuid& topic, std::int32_t partition, std::int64_t producer_id,
                               const ProducerStateRecord& r);
  static RecordWrite delete_state(const Uuid& topic, std::int32_t partition,
                                  std::int64_t producer_id);
  static RecordWrite put_aborted(const Uuid& topic, std::int32_t partition,
                                 std::int64_t producer_id, std::int64_t first_offset,
                                 std::int64_t last_offset);
  static RecordWrite delete_aborted(const Uuid& topic, std::int32_t partition,
                                    std::int64_t producer_id, std::int64_t last_offset);
  static RecordWrite put_transaction(const TransactionRecord& r);
  static RecordWrite delete_transaction(const std::string& transactional_id);
  static RecordWrite put_next_producer_id(std::int64_t next);
  // The transactional id of a put_transaction()/delete_transaction() key;
  // nullopt for any other key.
  static std::optional<std::string> transaction_id_of(std::string_view key);

 private:
  Store& store_;
};

// Exposed for tests: the value codecs.
std::string encode_producer_state(const ProducerStateRecord& r);
bool decode_producer_state(std::string_view value, ProducerStateRecord& out);
std::string encode_transaction(const TransactionRecord& r);
bool decode_transaction(std::string_view value, TransactionRecord& out);

}  // namespace kgw
