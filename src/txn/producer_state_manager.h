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
// On a follower (replication) the leader's batches arrive already
// accepted: apply_replicated() updates the same state from them without
// refusing anything, markers included, so the follower can take over as
// leader with the producers' sequences and open transactions. When the
// follower's log is truncated, truncate() rolls the state back to the new
// log end from what the state itself remembers, not by re-reading the log
// (there are no snapshots to replay from; see truncate() for exactly what
// is approximate); reset() forgets a partition whose log was emptied.
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
  // A follower's append of the leader's `batches` (whole v2 batches,
  // validated, with the leader's offsets), before Store::append_replica:
  // data batches of idempotent or transactional producers update their
  // producer's epoch, last batches and open transaction as check_append()
  // does for an accepted batch, but nothing is refused or deduplicated (the
  // leader did that); a control batch's COMMIT/ABORT marker is applied as
  // on_marker() (its coordinator epoch from the record, its time the
  // batch's max timestamp, as the leader's clock stamped it). Other control
  // records and non-idempotent batches pass. Returns the records to write
  // with the append (pass them to append_replica).
  std::vector<RecordWrite> apply_replicated(const Uuid& topic, std::int32_t partition,
                                            std::span<const std::span<const std::uint8_t>> batches,
                                            std::int64_t now_ms);
  // A follower's log was truncated to `end` (Store::truncate_to; pass this
  // as its TruncateWrites, so the records are written in the same atomic
  // write). The state becomes what it was with the log ending at `end`:
  //  - remembered batches at or after `end` are forgotten (a retry of one
  //    is appended again, not answered as a duplicate);
  //  - a transaction that started at or after `end` is no longer open;
  //  - a transaction whose COMMIT/ABORT marker was at or after `end` is
  //    open again from its first offset (and leaves the aborted index);
  //  - aborted-index entries whose marker is at or after `end` go.
  // Approximate, because the state keeps only the last five batches and
  // the last marker of each producer rather than a history:
  //  - batches older than the five remembered are not brought back, so a
  //    retry of one of those gets OUT_OF_ORDER_SEQUENCE_NUMBER, not its
  //    offset (only after this replica becomes leader);
  //  - a producer whose current epoch came from a removed batch or marker
  //    is forgotten (its earlier epoch is not remembered): its next batch is
  //    taken as a new producer's, as Kafka does for an unknown producer id;
  //    if it has a transaction open again (its marker went), it is kept with
  //    that epoch and no batches;
  //  - only the last marker's transaction is reopened (a producer with two
  //    transactions ended at or after `end`: the earlier one, whose batches
  //    also lie at or after `end`, is gone anyway unless it began below).
  // Returns the puts and deletes of the partition's records.
  std::vector<RecordWrite> truncate(const Uuid& topic, std::int32_t partition, std::int64_t end);
  // A follower's log was emptied (Store::reset_log): forgets every producer
  // and aborted transaction of the partition. Returns the deletes.
  std::vector<RecordWrite> reset(const Uuid& topic, std::int32_t partition);

  // Where the producer has a transaction open (a marker is still due), with
  // its epoch and coordinator epoch there: in proxy mode, what a
  // transaction the legacy cluster coordinates has written to this node's
  // topics (src/proxy/upstream_txns.h). Scans every partition.
  struct OpenTransaction {
    Uuid topic;
    std::int32_t partition = 0;
    std::int16_t epoch = -1;
    std::int32_t coordinator_epoch = -1;
  };
  std::vector<OpenTransaction> open_transactions(std::int64_t producer_id) const;

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
    // Offset of the batch or marker that set `epoch` (-1: unknown):
    // on_write_failed() and truncate() forget the entry when it is gone.
    std::int64_t epoch_offset = -1;
    // The last marker that ended a transaction, and that transaction's
    // first offset: truncate() reopens it when the marker goes.
    std::int64_t marker_offset = -1;
    std::int64_t marker_txn_first_offset = -1;
  };
  struct Partition {
    std::map<std::int64_t, Entry> producers;
    std::map<std::int64_t, std::int64_t> open;  // first offset -> producer id
    // (last offset, producer id) -> first offset
    std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> aborted;
  };
  using Key = std::pair<Uuid, std::int32_t>;

  static ProducerStateRecord to_record(const Entry& e);
  // An accepted (or replicated) data batch of e's producer at
  // `batch_offset`. Returns true if it opened a transaction.
  static bool accept_batch(Entry& e, const RecordBatchHeader& h, std::int64_t batch_offset,
                           std::int64_t now_ms);

  ProducerStore& store_;
  std::map<Key, Partition> partitions_;
};

}  // namespace kgw
