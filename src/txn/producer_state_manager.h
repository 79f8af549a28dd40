// ProducerStateManager: what each partition knows about the idempotent and
// transactional producers writing to it (Kafka's ProducerStateManager):
// per producer id its epoch and last five batches' sequence ranges, and the
// first offset of its open transaction; per partition the open
// transactions (the last stable offset is the first of them) and the
// aborted ones (read_committed fetches hand them to consumers).
//
// The happy path is: a Produce of an idempotent batch calls check_append()
// just before the store appends it (same loop turn, so the offsets it is
// given are the ones the store assigns); it accepts the batch, answers a
// retried one with its first offset (a duplicate, not appended again), or
// refuses it (INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER); an
// accepted batch updates memory at once and yields the records to write
// with the batch. A transaction marker (written by the transaction
// coordinator) calls on_marker() the same way. Possible failure modes: the
// store's write fails (its failure is sticky, kgw must restart; memory
// then runs ahead of the disk, which the restart discards), or load()
// finds damage (start-up stops).
//
// Everything runs on the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/records/record_batch.h"
#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "storage/producer_store.h"

namespace kgw {

struct AbortedTransaction {
  std::int64_t producer_id = -1;
  std::int64_t first_offset = -1;
  std::int64_t last_offset = -1;  // the ABORT marker's offset
};

struct ActiveProducer {
  std::int64_t producer_id = -1;
  std::int16_t epoch = -1;
  std::int32_t last_sequence = -1;
  std::int64_t last_timestamp = -1;
  std::int32_t coordinator_epoch = -1;
  std::int64_t current_txn_start_offset = -1;
};

struct AppendCheck {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  // Set when every batch is a retry of one already accepted: answer with
  // this base offset and append nothing, but only once the log is written
  // up to duplicate_end (the original may still be on its way to disk, or
  // fail: then answer its error).
  std::optional<std::int64_t> duplicate_of;
  std::int64_t duplicate_end = -1;
  // To write with the batches (when accepted).
  std::vector<RecordWrite> writes;
};

class ProducerStateManager {
 public:
  // The last batches remembered per producer and partition (Kafka's 5,
  // the most in-flight requests an idempotent producer may have).
  static constexpr std::size_t kMaxBatches = 5;

  explicit ProducerStateManager(ProducerStore& store) : store_(store) {}

  // Start-up, before serving: the partition records of the producer store.
  void load_state(const Uuid& topic, std::int32_t partition, std::int64_t producer_id,
                  ProducerStateRecord r);
  void load_aborted(const Uuid& topic, std::int32_t partition, std::int64_t producer_id,
                    std::int64_t first_offset, std::int64_t last_offset);

  // `batches` are the validated headers of one partition's batches in this
  // request, to be appended from `first_offset` on. Non-idempotent batches
  // (producer id -1) pass untouched.
  AppendCheck check_append(const Uuid& topic, std::int32_t partition,
                           std::span<const RecordBatchHeader> batches, std::int64_t first_offset,
                           std::int64_t now_ms);
  // A COMMIT/ABORT marker of `producer_id` at `marker_offset`: ends its open
  // transaction here. Returns the records to write with the marker.
  std::vector<RecordWrite> on_marker(const Uuid& topic, std::int32_t partition,
                                     std::int64_t producer_id, std::int16_t epoch, bool commit,
                                     std::int64_t marker_offset, std::int32_t coordinator_epoch,
                                     std::int64_t now_ms);
  // True if the producer has an open transaction in the partition (a
  // marker is still due there).
  bool has_open_transaction(const Uuid& topic, std::int32_t partition,
                            std::int64_t producer_id) const;

  // The first offset of the first open transaction, or high_watermark.
  std::int64_t last_stable_offset(const Uuid& topic, std::int32_t partition,
                                  std::int64_t high_watermark) const;
  // Aborted transactions that overlap [from, to): last offset >= from and
  // first offset < to, ordered by first offset.
  std::vector<AbortedTransaction> aborted(const Uuid& topic, std::int32_t partition,
                                          std::int64_t from, std::int64_t to) const;
  std::vector<ActiveProducer> active(const Uuid& topic, std::int32_t partition) const;

  // A write failed: the partitions' logs end at the offsets `written_end`
  // gives (their high watermarks; nullopt for a partition gone). Forgets
  // what check_append() and on_marker() accepted at or above them, so that
  // a retry of a batch that was never stored is not answered as a
  // duplicate. A producer whose current epoch came from such a batch is
  // forgotten altogether (what it had before is on disk, and a restart
  // reloads it; the store refuses every write after a failure anyway).
  void on_write_failed(
      const std::function<std::optional<std::int64_t>(const Uuid&, std::int32_t)>& written_end);

  // producer.id.expiration.ms: forgets, in every partition, the producers
  // whose last batch (or marker) is `expiration_ms` old at `now_ms`, that
  // have no open transaction there, and whose batches are all written
  // (below `written_end`, the partition's high watermark). Returns the
  // deletes of their records. A producer that writes again afterwards is
  // new to the partition, as in Kafka.
  std::vector<RecordWrite> expire(
      std::int64_t now_ms, std::int64_t expiration_ms,
      const std::function<std::optional<std::int64_t>(const Uuid&, std::int32_t)>& written_end);
  // Producer ids remembered, over all partitions (for tests and logs).
  std::size_t size() const;

  // Aborted transactions wholly below the log start are of no use to any
  // fetch: forget them (and their records).
  void on_log_start(const Uuid& topic, std::int32_t partition, std::int64_t log_start);
  void on_topic_deleted(const Uuid& topic);

 private:
  struct Entry {
    std::int16_t epoch = -1;
    std::int32_t coordinator_epoch = -1;
    std::int64_t txn_first_offset = -1;
    std::int64_t last_timestamp = -1;
    std::deque<ProducerBatchRecord> batches;
    // Offset of the batch that set `epoch` (-1: loaded, or from a marker):
    // on_write_failed() forgets the entry when that batch was not stored.
    std::int64_t epoch_offset = -1;
  };
  struct Partition {
    std::map<std::int64_t, Entry> producers;
    std::map<std::int64_t, std::int64_t> open;  // first offset -> producer id
    // (last offset, producer id) -> first offset
    std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> aborted;
  };
  using Key = std::pair<Uuid, std::int32_t>;

  static ProducerStateRecord to_record(const Entry& e);

  ProducerStore& store_;
  std::map<Key, Partition> partitions_;
};

}  // namespace kgw
