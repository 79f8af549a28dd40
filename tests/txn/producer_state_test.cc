// Unit tests of ProducerStateManager, the per-partition state of idempotent
// and transactional producers, against Kafka's ProducerStateManager rules:
// sequences start at 0 per epoch and must follow on without gaps (wrapping
// at INT32_MAX), a retry of one of the last five batches is answered with
// the offset it was first written at, an older epoch is fenced, a newer one
// restarts at sequence 0; open transactions bound the last stable offset
// and aborted ones are handed to read_committed fetches. The state it
// writes goes through a real producer store in a temp dir, so the restart
// tests rebuild the manager the way main.cc does.
#include <doctest/doctest.h>
#include <uv.h>

#include <climits>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/records/control_record.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/wire/error_code.h"
#include "src/txn/producer_state_manager.h"
#include "storage/producer_store.h"
#include "storage/store.h"

namespace fs = std::filesystem;

using namespace kgw;

namespace {

constexpr std::int32_t kPartition = 0;
constexpr std::int64_t kNow = 1'700'000'000'000;

Uuid topic_id() {
  Uuid u;
  for (std::size_t i = 0; i < u.bytes.size(); ++i) u.bytes[i] = static_cast<std::uint8_t>(i + 1);
  return u;
}

// The header of a batch of `records` records, as the Produce handler hands
// it over (validated, base offset not yet assigned).
RecordBatchHeader batch(std::int64_t pid, std::int16_t epoch, std::int32_t base_sequence,
                        std::int32_t records = 1, bool transactional = false) {
  RecordBatchHeader h;
  h.producer_id = pid;
  h.producer_epoch = epoch;
  h.base_sequence = base_sequence;
  h.record_count = records;
  h.last_offset_delta = records - 1;
  h.base_timestamp = kNow;
  h.max_timestamp = kNow;
  if (transactional) h.attributes = RecordBatchHeader::kTransactionalBit;
  return h;
}

RecordBatchHeader txn_batch(std::int64_t pid, std::int16_t epoch, std::int32_t base_sequence,
                            std::int32_t records = 1) {
  return batch(pid, epoch, base_sequence, records, true);
}

// "pid:first-last ..." for short, readable comparisons.
std::string describe(const std::vector<AbortedTransaction>& v) {
  std::string out;
  for (const auto& a : v) {
    if (!out.empty()) out += ' ';
    out += std::to_string(a.producer_id) + ":" + std::to_string(a.first_offset) + "-" +
           std::to_string(a.last_offset);
  }
  return out;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/kgw-txn-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A real store in a temp dir and a manager over it. append() plays the
// Produce handler (offsets assigned from a running log end, the returned
// writes persisted as the store does with the batch); marker() plays the
// transaction coordinator; restart() reopens the store and rebuilds the
// manager from the producer store, as main.cc does at start-up.
struct Fixture {
  TempDir dir;
  uv_loop_t loop{};
  std::unique_ptr<Store> store;
  std::unique_ptr<ProducerStore> records;
  std::unique_ptr<ProducerStateManager> psm;
  const Uuid topic = topic_id();
  std::int64_t log_end = 0;

  Fixture() {
    uv_loop_init(&loop);
    open();
  }
  ~Fixture() {
    close();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void open() {
    StoreOptions o;
    o.data_dir = dir.path.string();
    std::string error;
    store = Store::open(&loop, o, error);
    REQUIRE_MESSAGE(store != nullptr, error);
    records = std::make_unique<ProducerStore>(*store);
    psm = std::make_unique<ProducerStateManager>(*records);
  }
  void close() {
    psm.reset();
    records.reset();
    if (store) CHECK(store->stop() == "");
    store.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  void restart() {
    close();
    open();
    ProducerStore::Loaders l;
    l.state = [this](const Uuid& t, std::int32_t p, std::int64_t pid, ProducerStateRecord r) {
      psm->load_state(t, p, pid, std::move(r));
    };
    l.aborted = [this](const Uuid& t, std::int32_t p, std::int64_t pid, std::int64_t first,
                       std::int64_t last) { psm->load_aborted(t, p, pid, first, last); };
    REQUIRE(records->load(l) == "");
  }
  void run_until(const std::function<bool()>& pred) {
    uv_update_time(&loop);
    const std::uint64_t start = uv_now(&loop);
    while (!pred() && uv_now(&loop) - start < 10000) {
      uv_run(&loop, UV_RUN_NOWAIT);
      if (!pred()) uv_sleep(1);
      uv_update_time(&loop);
    }
    REQUIRE(pred());
  }
  void persist(std::vector<RecordWrite> writes) {
    if (writes.empty()) return;
    bool done = false;
    std::string error;
    records->write(std::move(writes), [&](const std::string& e) {
      error = e;
      done = true;
    });
    run_until([&] { return done; });
    REQUIRE(error == "");
  }

  // One Produce of `batches` to the partition; on acceptance the log end
  // moves past them and the writes are persisted.
  AppendCheck append(std::vector<RecordBatchHeader> batches) {
    AppendCheck c = psm->check_append(topic, kPartition, batches, log_end, kNow);
    if (c.error == ErrorCode::kNone && !c.duplicate_of) {
      for (const auto& h : batches) log_end += std::int64_t{h.last_offset_delta} + 1;
      persist(c.writes);
    }
    return c;
  }
  AppendCheck append(const RecordBatchHeader& h) { return append(std::vector{h}); }
  // Appends and requires acceptance; returns the batch's first offset.
  std::int64_t accepted(const RecordBatchHeader& h) {
    const std::int64_t first = log_end;
    AppendCheck c = append(h);
    REQUIRE_MESSAGE(c.error == ErrorCode::kNone, c.message);
    REQUIRE_FALSE(c.duplicate_of.has_value());
    REQUIRE(c.writes.size() == 1);
    return first;
  }
  // The coordinator's COMMIT/ABORT marker at the log end (one offset).
  std::vector<RecordWrite> marker(std::int64_t pid, std::int16_t epoch, bool commit) {
    auto writes = psm->on_marker(topic, kPartition, pid, epoch, commit, log_end, 0, kNow);
    ++log_end;
    persist(writes);
    return writes;
  }

  std::int64_t lso() const { return psm->last_stable_offset(topic, kPartition, log_end); }
  std::string aborted(std::int64_t from, std::int64_t to) const {
    return describe(psm->aborted(topic, kPartition, from, to));
  }
  ActiveProducer producer(std::int64_t pid) const {
    for (const auto& a : psm->active(topic, kPartition)) {
      if (a.producer_id == pid) return a;
    }
    return ActiveProducer{};
  }
};

void require_refused(const AppendCheck& c, ErrorCode expected) {
  CHECK(c.error == expected);
  CHECK_FALSE(c.duplicate_of.has_value());
  CHECK(c.writes.empty());
  CHECK_FALSE(c.message.empty());
}

}  // namespace

TEST_CASE("a new producer's batch at sequence 0 is accepted, then the next in order") {
  Fixture f;
  f.log_end = 100;  // offsets come from the caller, not from zero

  AppendCheck first = f.append(batch(7, 0, 0, 2));
  REQUIRE(first.error == ErrorCode::kNone);
  CHECK_FALSE(first.duplicate_of.has_value());
  REQUIRE(first.writes.size() == 1);
  ProducerStateRecord r;
  REQUIRE(first.writes[0].value.has_value());
  REQUIRE(decode_producer_state(*first.writes[0].value, r));
  CHECK(r.epoch == 0);
  CHECK(r.txn_first_offset == -1);
  REQUIRE(r.batches.size() == 1);
  CHECK(r.batches[0] == ProducerBatchRecord{0, 1, 100, 101, kNow});

  AppendCheck second = f.append(batch(7, 0, 2, 3));
  REQUIRE(second.error == ErrorCode::kNone);
  REQUIRE(second.writes.size() == 1);
  REQUIRE(decode_producer_state(*second.writes[0].value, r));
  REQUIRE(r.batches.size() == 2);
  CHECK(r.batches[1] == ProducerBatchRecord{2, 4, 102, 104, kNow});

  const ActiveProducer a = f.producer(7);
  CHECK(a.epoch == 0);
  CHECK(a.last_sequence == 4);
  CHECK(a.current_txn_start_offset == -1);
}

TEST_CASE("batches without a producer id pass untouched") {
  Fixture f;
  AppendCheck c = f.append(batch(-1, -1, -1, 3));
  CHECK(c.error == ErrorCode::kNone);
  CHECK_FALSE(c.duplicate_of.has_value());
  CHECK(c.writes.empty());
  CHECK(f.psm->active(f.topic, kPartition).empty());
}

TEST_CASE("a retry of each of the last five batches is answered with its first offset") {
  Fixture f;
  // Six batches of different sizes: sequences 0, 1-2, 3-5, 6, 7-8, 9.
  const std::vector<std::pair<std::int32_t, std::int32_t>> sent = {{0, 1}, {1, 2}, {3, 3},
                                                                   {6, 1}, {7, 2}, {9, 1}};
  std::vector<std::int64_t> offsets;
  for (const auto& [seq, n] : sent) offsets.push_back(f.accepted(batch(7, 0, seq, n)));
  const std::int64_t log_end = f.log_end;

  for (std::size_t i = 1; i < sent.size(); ++i) {
    CAPTURE(i);
    AppendCheck c = f.append(batch(7, 0, sent[i].first, sent[i].second));
    CHECK(c.error == ErrorCode::kNone);
    REQUIRE(c.duplicate_of.has_value());
    CHECK(*c.duplicate_of == offsets[i]);
    CHECK(c.writes.empty());
  }
  CHECK(f.log_end == log_end);

  SUBCASE("a retry older than the last five is out of order") {
    // Kafka keeps five batches; an older one is no longer recognised and
    // fails the sequence check: OUT_OF_ORDER_SEQUENCE_NUMBER (current Kafka
    // no longer answers DUPLICATE_SEQUENCE_NUMBER for it).
    require_refused(f.append(batch(7, 0, 0, 1)), ErrorCode::kOutOfOrderSequenceNumber);
  }
  SUBCASE("a batch with a known base sequence but another length is no retry") {
    require_refused(f.append(batch(7, 0, 9, 2)), ErrorCode::kOutOfOrderSequenceNumber);
  }
  SUBCASE("a retry mixed with a new batch in one request is refused") {
    require_refused(f.append(std::vector{batch(7, 0, 9, 1), batch(7, 0, 10, 1)}),
                    ErrorCode::kOutOfOrderSequenceNumber);
  }
  // Retries changed nothing: the producer goes on where it was.
  CHECK(f.producer(7).last_sequence == 9);
  CHECK(f.accepted(batch(7, 0, 10, 1)) == log_end);
}

TEST_CASE("a gap in sequence is refused with OUT_OF_ORDER_SEQUENCE_NUMBER") {
  Fixture f;
  f.accepted(batch(7, 0, 0, 2));  // sequences 0-1
  require_refused(f.append(batch(7, 0, 3, 1)), ErrorCode::kOutOfOrderSequenceNumber);
  require_refused(f.append(batch(7, 0, 1, 1)), ErrorCode::kOutOfOrderSequenceNumber);
  // A refused request leaves the state as it was: 2 still follows on.
  CHECK(f.producer(7).last_sequence == 1);
  CHECK(f.accepted(batch(7, 0, 2, 1)) == 2);
}

TEST_CASE("a refused batch in a request leaves the others' state untouched") {
  Fixture f;
  f.accepted(batch(7, 0, 0));
  f.accepted(batch(8, 0, 0));
  // Producer 7's batch is fine, producer 8's has a gap: nothing is applied.
  require_refused(f.append(std::vector{batch(7, 0, 1), batch(8, 0, 5)}),
                  ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(f.producer(7).last_sequence == 0);
  CHECK(f.producer(8).last_sequence == 0);
}

TEST_CASE("an older epoch is refused with INVALID_PRODUCER_EPOCH") {
  Fixture f;
  f.accepted(batch(7, 2, 0));
  f.accepted(batch(7, 3, 0));

  // New data from the fenced epoch, and a retry of what it once wrote: the
  // retry is not recognised across epochs.
  require_refused(f.append(batch(7, 2, 1)), ErrorCode::kInvalidProducerEpoch);
  require_refused(f.append(batch(7, 2, 0)), ErrorCode::kInvalidProducerEpoch);
  CHECK(f.producer(7).epoch == 3);
}

TEST_CASE("a newer epoch must start at sequence 0, and then starts afresh") {
  Fixture f;
  for (std::int32_t seq = 0; seq < 5; ++seq) f.accepted(batch(7, 0, seq));

  require_refused(f.append(batch(7, 1, 5)), ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(f.producer(7).epoch == 0);

  const std::int64_t first = f.accepted(batch(7, 1, 0, 2));
  ActiveProducer a = f.producer(7);
  CHECK(a.epoch == 1);
  CHECK(a.last_sequence == 1);

  // The old epoch's batches are forgotten: their retries are fenced, and
  // sequence 0 of the new epoch is the one remembered.
  require_refused(f.append(batch(7, 0, 4)), ErrorCode::kInvalidProducerEpoch);
  AppendCheck retry = f.append(batch(7, 1, 0, 2));
  REQUIRE(retry.duplicate_of.has_value());
  CHECK(*retry.duplicate_of == first);
  f.accepted(batch(7, 1, 2));
}

TEST_CASE("a batch across INT32_MAX wraps to 0 and is recognised on retry") {
  Fixture f;
  // A producer whose last batch is sequences INT32_MAX-2 .. INT32_MAX-1.
  ProducerStateRecord r;
  r.epoch = 0;
  r.last_timestamp = kNow;
  r.batches.push_back({INT32_MAX - 2, INT32_MAX - 1, 0, 1, kNow});
  f.psm->load_state(f.topic, kPartition, 7, r);
  f.log_end = 2;

  // INT32_MAX, 0, 1: last_offset_delta 2.
  const std::int64_t first = f.accepted(batch(7, 0, INT32_MAX, 3));
  CHECK(f.producer(7).last_sequence == 1);
  AppendCheck retry = f.append(batch(7, 0, INT32_MAX, 3));
  REQUIRE(retry.duplicate_of.has_value());
  CHECK(*retry.duplicate_of == first);
  f.accepted(batch(7, 0, 2, 1));
}

// Sequence wrap-around: only 0 follows INT32_MAX (Kafka compares in 64
// bits, lastSeq + 1L). A 32-bit last_seq + 1 once overflowed here, and the
// optimiser dropped the wrap-around case.
namespace {
struct AtInt32Max : Fixture {
  AtInt32Max() {
    ProducerStateRecord r;
    r.epoch = 0;
    r.last_timestamp = kNow;
    r.batches.push_back({INT32_MAX - 1, INT32_MAX, 0, 1, kNow});
    psm->load_state(topic, kPartition, 7, r);
    log_end = 2;
  }
};
}  // namespace

TEST_CASE_FIXTURE(AtInt32Max, "after INT32_MAX the next sequence is 0") {
  CHECK(accepted(batch(7, 0, 0, 1)) == 2);
  CHECK(producer(7).last_sequence == 0);
}

TEST_CASE_FIXTURE(AtInt32Max, "after INT32_MAX, INT32_MIN is out of order") {
  require_refused(append(batch(7, 0, INT32_MIN, 1)), ErrorCode::kOutOfOrderSequenceNumber);
}

TEST_CASE("an open transaction bounds the last stable offset until its marker") {
  Fixture f;
  f.accepted(batch(5, 0, 0, 10));  // plain idempotent data: 0..9
  CHECK(f.lso() == f.log_end);
  CHECK_FALSE(f.psm->has_open_transaction(f.topic, kPartition, 7));

  const std::int64_t txn_first = f.accepted(txn_batch(7, 0, 0, 3));  // 10..12
  CHECK(txn_first == 10);
  CHECK(f.psm->has_open_transaction(f.topic, kPartition, 7));
  CHECK(f.producer(7).current_txn_start_offset == 10);
  CHECK(f.lso() == 10);

  // More of the same transaction, and other producers' data, do not move it.
  f.accepted(txn_batch(7, 0, 3, 2));  // 13..14
  f.accepted(batch(5, 0, 10, 1));     // 15
  CHECK(f.lso() == 10);
  // Nor does a high watermark below it.
  CHECK(f.psm->last_stable_offset(f.topic, kPartition, 8) == 8);

  std::vector<RecordWrite> writes = f.marker(7, 0, /*commit=*/true);  // 16
  CHECK(writes.size() == 1);  // the producer state only: nothing aborted
  CHECK_FALSE(f.psm->has_open_transaction(f.topic, kPartition, 7));
  CHECK(f.producer(7).current_txn_start_offset == -1);
  CHECK(f.lso() == f.log_end);
  CHECK(f.lso() == 17);
  CHECK(f.aborted(0, f.log_end) == "");

  // The producer's sequence goes on after the marker; a new transaction
  // opens at its own first offset.
  CHECK(f.accepted(txn_batch(7, 0, 5, 1)) == 17);
  CHECK(f.lso() == 17);
}

TEST_CASE("the last stable offset is the first of several open transactions") {
  Fixture f;
  f.accepted(txn_batch(7, 0, 0, 2));  // 0..1
  f.accepted(txn_batch(8, 0, 0, 2));  // 2..3
  CHECK(f.lso() == 0);
  f.marker(7, 0, /*commit=*/false);  // 4
  CHECK(f.lso() == 2);
  f.marker(8, 0, /*commit=*/true);  // 5
  CHECK(f.lso() == 6);
}

TEST_CASE("an aborted transaction is handed to fetches whose range overlaps it") {
  Fixture f;
  f.accepted(batch(5, 0, 0, 10));                                      // 0..9
  f.accepted(txn_batch(7, 0, 0, 3));                                   // 10..12
  std::vector<RecordWrite> writes = f.marker(7, 0, /*commit=*/false);  // abort at 13
  CHECK(writes.size() == 2);  // the aborted transaction and the producer state
  CHECK(f.lso() == 14);
  CHECK_FALSE(f.psm->has_open_transaction(f.topic, kPartition, 7));

  // Overlap: last offset >= from and first offset < to.
  CHECK(f.aborted(0, 14) == "7:10-13");
  CHECK(f.aborted(11, 12) == "7:10-13");
  CHECK(f.aborted(0, 11) == "7:10-13");
  CHECK(f.aborted(13, 20) == "7:10-13");
  CHECK(f.aborted(0, 10) == "");
  CHECK(f.aborted(14, 20) == "");
  // Another partition knows nothing of it.
  CHECK(f.psm->aborted(f.topic, kPartition + 1, 0, 100).empty());
}

TEST_CASE("aborted transactions come ordered by first offset") {
  Fixture f;
  f.accepted(txn_batch(7, 0, 0, 2));  // 0..1
  f.accepted(txn_batch(8, 0, 0, 2));  // 2..3
  f.marker(8, 0, /*commit=*/false);   // 4: producer 8 aborted first
  f.marker(7, 0, /*commit=*/false);   // 5
  CHECK(f.aborted(0, 6) == "7:0-5 8:2-4");
  CHECK(f.aborted(5, 6) == "7:0-5");
  CHECK(f.aborted(2, 3) == "7:0-5 8:2-4");
}

TEST_CASE("a marker at a bumped epoch restarts the producer's sequences") {
  Fixture f;
  f.accepted(txn_batch(7, 0, 0, 2));
  f.marker(7, 1, /*commit=*/false);  // the coordinator fenced epoch 0
  CHECK(f.producer(7).epoch == 1);
  CHECK(f.producer(7).last_sequence == -1);
  require_refused(f.append(txn_batch(7, 0, 2)), ErrorCode::kInvalidProducerEpoch);
  require_refused(f.append(txn_batch(7, 1, 2)), ErrorCode::kOutOfOrderSequenceNumber);
  f.accepted(txn_batch(7, 1, 0));
}

TEST_CASE("the state written survives a restart with the same answers") {
  Fixture f;
  // Producer 5: plain idempotent, six batches (the first falls out of the
  // last five). Producer 7: an aborted transaction. Producer 8: a
  // committed one, then an open one. Producer 9: a bumped epoch.
  std::vector<std::int64_t> offsets5;
  for (std::int32_t seq = 0; seq < 12; seq += 2)
    offsets5.push_back(f.accepted(batch(5, 0, seq, 2)));
  f.accepted(txn_batch(7, 0, 0, 3));
  f.marker(7, 0, /*commit=*/false);
  f.accepted(txn_batch(8, 2, 0, 1));
  f.marker(8, 2, /*commit=*/true);
  const std::int64_t open8 = f.accepted(txn_batch(8, 2, 1, 2));
  f.accepted(batch(9, 0, 0, 1));
  const std::int64_t first9 = f.accepted(batch(9, 1, 0, 1));
  f.accepted(batch(5, 0, 12, 1));

  const std::vector<ActiveProducer> before = f.psm->active(f.topic, kPartition);
  const std::int64_t lso = f.lso();
  const std::string aborted = f.aborted(0, f.log_end);
  CHECK(lso == open8);
  CHECK(aborted == "7:12-15");

  f.restart();

  const std::vector<ActiveProducer> after = f.psm->active(f.topic, kPartition);
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    CAPTURE(before[i].producer_id);
    CHECK(after[i].producer_id == before[i].producer_id);
    CHECK(after[i].epoch == before[i].epoch);
    CHECK(after[i].last_sequence == before[i].last_sequence);
    CHECK(after[i].last_timestamp == before[i].last_timestamp);
    CHECK(after[i].coordinator_epoch == before[i].coordinator_epoch);
    CHECK(after[i].current_txn_start_offset == before[i].current_txn_start_offset);
  }
  CHECK(f.lso() == lso);
  CHECK(f.aborted(0, f.log_end) == aborted);
  CHECK(f.aborted(16, f.log_end) == "");
  CHECK(f.psm->has_open_transaction(f.topic, kPartition, 8));
  CHECK_FALSE(f.psm->has_open_transaction(f.topic, kPartition, 7));

  // Retries are still recognised (the last five of producer 5: seqs 4..12).
  for (std::size_t i = 2; i < offsets5.size(); ++i) {
    CAPTURE(i);
    AppendCheck c = f.append(batch(5, 0, static_cast<std::int32_t>(2 * i), 2));
    REQUIRE(c.duplicate_of.has_value());
    CHECK(*c.duplicate_of == offsets5[i]);
  }
  require_refused(f.append(batch(5, 0, 2, 2)), ErrorCode::kOutOfOrderSequenceNumber);
  AppendCheck retry9 = f.append(batch(9, 1, 0, 1));
  REQUIRE(retry9.duplicate_of.has_value());
  CHECK(*retry9.duplicate_of == first9);
  require_refused(f.append(batch(9, 0, 1, 1)), ErrorCode::kInvalidProducerEpoch);
  require_refused(f.append(batch(5, 0, 14, 1)), ErrorCode::kOutOfOrderSequenceNumber);
  f.accepted(batch(5, 0, 13, 1));

  // The open transaction still ends with its marker after the restart.
  f.marker(8, 2, /*commit=*/true);
  CHECK(f.lso() == f.log_end);
}

TEST_CASE("an aborted transaction below the log start is forgotten, on disk too") {
  Fixture f;
  f.accepted(txn_batch(7, 0, 0, 2));  // 0..1
  f.marker(7, 0, /*commit=*/false);   // 2
  f.accepted(txn_batch(8, 0, 0, 2));  // 3..4
  f.marker(8, 0, /*commit=*/false);   // 5
  REQUIRE(f.aborted(0, 6) == "7:0-2 8:3-5");

  f.psm->on_log_start(f.topic, kPartition, 2);  // the marker at 2 is still in the log
  CHECK(f.aborted(0, 6) == "7:0-2 8:3-5");
  f.psm->on_log_start(f.topic, kPartition, 3);
  CHECK(f.aborted(0, 6) == "8:3-5");

  f.restart();  // stop() writes what on_log_start queued
  CHECK(f.aborted(0, 6) == "8:3-5");
}

TEST_CASE("producer.id.expiration.ms forgets idle producers, on disk too, but not open ones") {
  Fixture f;
  auto all_written = [&f](const Uuid&, std::int32_t) -> std::optional<std::int64_t> {
    return f.log_end;
  };
  f.accepted(batch(5, 0, 0, 2));      // 0..1, last written at kNow
  f.accepted(txn_batch(7, 0, 0, 1));  // 2, open transaction
  REQUIRE(f.psm->size() == 2);

  // One ms short of the expiration: nothing goes.
  CHECK(f.psm->expire(kNow + 999, 1000, all_written).empty());
  CHECK(f.psm->size() == 2);
  // At the expiration: the idle producer goes, the open transaction stays.
  std::vector<RecordWrite> deletes = f.psm->expire(kNow + 1000, 1000, all_written);
  REQUIRE(deletes.size() == 1);
  CHECK_FALSE(deletes[0].value.has_value());
  CHECK(f.psm->size() == 1);
  CHECK(f.producer(5).producer_id == -1);
  CHECK(f.producer(7).producer_id == 7);
  f.persist(deletes);

  // Forgotten: a batch of producer 5 is a new producer's, at any sequence
  // (Kafka accepts an unknown producer's first batch at any sequence).
  f.accepted(batch(5, 0, 40, 1));
  // A batch not yet written keeps its producer, however old.
  auto nothing_written = [](const Uuid&, std::int32_t) -> std::optional<std::int64_t> { return 0; };
  CHECK(f.psm->expire(kNow + 1'000'000, 1000, nothing_written).empty());

  f.restart();
  CHECK(f.producer(5).producer_id == 5);
  CHECK(f.producer(7).producer_id == 7);
  f.marker(7, 0, /*commit=*/true);
  deletes = f.psm->expire(kNow + 1'000'000, 1000, all_written);
  CHECK(deletes.size() == 2);
  f.persist(deletes);
  CHECK(f.psm->size() == 0);
  f.restart();
  CHECK(f.psm->size() == 0);
}

TEST_CASE("after a failed write a retry of a batch never stored is not a duplicate") {
  Fixture f;
  f.accepted(batch(5, 0, 0, 1));  // 0, written
  const std::int64_t written = f.log_end;
  // Accepted, then its write fails: the log ends at `written` again.
  AppendCheck c =
      f.psm->check_append(f.topic, kPartition, std::vector{batch(5, 0, 1, 1)}, f.log_end, kNow);
  REQUIRE(c.error == ErrorCode::kNone);
  // Before the failure is known, a retry is a duplicate to wait for.
  AppendCheck retry =
      f.psm->check_append(f.topic, kPartition, std::vector{batch(5, 0, 1, 1)}, f.log_end + 1, kNow);
  REQUIRE(retry.duplicate_of.has_value());
  CHECK(retry.duplicate_end == written + 1);

  f.psm->on_write_failed(
      [&](const Uuid&, std::int32_t) -> std::optional<std::int64_t> { return written; });
  AppendCheck after =
      f.psm->check_append(f.topic, kPartition, std::vector{batch(5, 0, 1, 1)}, written, kNow);
  CHECK(after.error == ErrorCode::kNone);
  CHECK_FALSE(after.duplicate_of.has_value());
  // The batch that was stored is still recognised.
  AppendCheck old =
      f.psm->check_append(f.topic, kPartition, std::vector{batch(5, 0, 0, 1)}, written + 1, kNow);
  REQUIRE(old.duplicate_of.has_value());
  CHECK(*old.duplicate_of == 0);

  // A producer whose epoch came with a batch never stored is forgotten.
  AppendCheck bumped =
      f.psm->check_append(f.topic, kPartition, std::vector{batch(6, 3, 0, 1)}, written + 1, kNow);
  REQUIRE(bumped.error == ErrorCode::kNone);
  f.psm->on_write_failed(
      [&](const Uuid&, std::int32_t) -> std::optional<std::int64_t> { return written + 1; });
  CHECK(f.producer(6).producer_id == -1);
  CHECK(f.producer(5).producer_id == 5);
}

// --- Followers: apply_replicated, truncate, reset.

namespace {

// A batch as the leader's log holds it: `records` records at `base`.
std::vector<std::uint8_t> wire_batch(const RecordBatchHeader& h, std::int64_t base) {
  RecordBatchOptions o;
  o.base_offset = base;
  o.transactional = h.is_transactional();
  o.producer_id = h.producer_id;
  o.producer_epoch = h.producer_epoch;
  o.base_sequence = h.base_sequence;
  RecordBatchBuilder b(o);
  for (std::int32_t i = 0; i < h.record_count; ++i) {
    REQUIRE(b.add(kNow, std::nullopt, Bytes(std::string_view("v"))) == RecordError::kNone);
  }
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

// A COMMIT/ABORT marker batch at `offset`, as TxnMarkerChannel builds it.
std::vector<std::uint8_t> wire_marker(std::int64_t pid, std::int16_t epoch, bool commit,
                                      std::int64_t offset, std::int32_t coordinator_epoch) {
  RecordBatchOptions o;
  o.base_offset = offset;
  o.control = true;
  o.transactional = true;
  o.producer_id = pid;
  o.producer_epoch = epoch;
  RecordBatchBuilder b(o);
  std::vector<std::uint8_t> key, value;
  encode_control_record_key(commit ? ControlRecordType::kCommit : ControlRecordType::kAbort, key);
  encode_end_txn_marker(coordinator_epoch, value);
  REQUIRE(b.add(kNow, Bytes(key), Bytes(value)) == RecordError::kNone);
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

std::vector<RecordWrite> replicate(Fixture& f, const std::vector<std::uint8_t>& batch) {
  std::vector<std::span<const std::uint8_t>> views{std::span<const std::uint8_t>(batch)};
  std::vector<RecordWrite> w = f.psm->apply_replicated(f.topic, kPartition, views, kNow);
  f.persist(w);
  return w;
}

bool same_writes(const std::vector<RecordWrite>& a, const std::vector<RecordWrite>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].value != b[i].value) return false;
  }
  return true;
}

void same_state(const Fixture& a, const Fixture& b) {
  const std::vector<ActiveProducer> x = a.psm->active(a.topic, kPartition);
  const std::vector<ActiveProducer> y = b.psm->active(b.topic, kPartition);
  REQUIRE(x.size() == y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    CAPTURE(x[i].producer_id);
    CHECK(x[i].producer_id == y[i].producer_id);
    CHECK(x[i].epoch == y[i].epoch);
    CHECK(x[i].last_sequence == y[i].last_sequence);
    CHECK(x[i].last_timestamp == y[i].last_timestamp);
    CHECK(x[i].coordinator_epoch == y[i].coordinator_epoch);
    CHECK(x[i].current_txn_start_offset == y[i].current_txn_start_offset);
  }
  CHECK(a.lso() == b.lso());
  CHECK(a.aborted(0, a.log_end) == b.aborted(0, b.log_end));
}

}  // namespace

TEST_CASE("apply_replicated of the leader's batches and markers writes what the leader wrote") {
  Fixture leader;
  Fixture follower;
  // Each step on the leader, then its batch on the follower at the same
  // offset: the records to persist are the same, byte for byte.
  auto data = [&](const RecordBatchHeader& h) {
    const std::int64_t at = leader.log_end;
    AppendCheck c = leader.append(h);
    REQUIRE(c.error == ErrorCode::kNone);
    CHECK(same_writes(replicate(follower, wire_batch(h, at)), c.writes));
    follower.log_end = leader.log_end;
  };
  auto marker = [&](std::int64_t pid, std::int16_t epoch, bool commit) {
    const std::int64_t at = leader.log_end;
    std::vector<RecordWrite> w =
        leader.psm->on_marker(leader.topic, kPartition, pid, epoch, commit, at, 3, kNow);
    leader.persist(w);
    ++leader.log_end;
    CHECK(same_writes(replicate(follower, wire_marker(pid, epoch, commit, at, 3)), w));
    follower.log_end = leader.log_end;
  };
  data(batch(5, 0, 0, 2));
  data(batch(5, 0, 2, 1));
  data(txn_batch(7, 0, 0, 3));
  marker(7, 0, /*commit=*/false);
  data(txn_batch(8, 1, 0, 1));
  marker(8, 1, /*commit=*/true);
  data(txn_batch(8, 1, 1, 2));
  marker(9, 4, /*commit=*/false);  // a fenced producer's abort: epoch bump, no transaction
  same_state(leader, follower);
  CHECK(follower.aborted(0, follower.log_end) == "7:3-6");
  CHECK(follower.lso() == 9);

  // Non-idempotent batches pass; a replica that restarts has the same.
  RecordBatchHeader plain = batch(-1, -1, -1, 4);
  CHECK(replicate(follower, wire_batch(plain, follower.log_end)).empty());
  follower.restart();
  same_state(leader, follower);
  // As the new leader, the follower knows the producers' sequences.
  follower.log_end = leader.log_end + 4;
  AppendCheck retry = follower.append(batch(5, 0, 2, 1));
  REQUIRE(retry.duplicate_of.has_value());
  CHECK(*retry.duplicate_of == 2);
  require_refused(follower.append(batch(5, 0, 5, 1)), ErrorCode::kOutOfOrderSequenceNumber);
}

TEST_CASE("truncate: batches at or after the end are forgotten, the ones before still dedupe") {
  Fixture f;
  f.accepted(batch(5, 0, 0, 2));  // [0,1]
  f.accepted(batch(5, 0, 2, 1));  // 2
  f.accepted(batch(5, 0, 3, 1));  // 3, truncated below
  f.accepted(batch(6, 0, 0, 1));  // 4
  f.accepted(batch(6, 1, 0, 1));  // 5: epoch 1 comes from a truncated batch
  f.persist(f.psm->truncate(f.topic, kPartition, 3));
  f.log_end = 3;
  auto check = [&] {
    AppendCheck dup = f.append(batch(5, 0, 2, 1));
    REQUIRE(dup.duplicate_of.has_value());
    CHECK(*dup.duplicate_of == 2);
    CHECK(f.producer(6).producer_id == -1);  // forgotten: its epoch went
  };
  check();
  f.restart();
  check();
  // The retry of the truncated batch is appended again, not a duplicate.
  CHECK(f.accepted(batch(5, 0, 3, 1)) == 3);
  CHECK(f.accepted(batch(6, 0, 1, 1)) == 4);  // an unknown producer's batch is taken
}

TEST_CASE("truncate: transactions follow their batches and markers") {
  Fixture f;
  const std::int64_t t7 = f.accepted(txn_batch(7, 0, 0, 2));  // [0,1]
  f.marker(7, 0, /*commit=*/true);                            // 2
  const std::int64_t t8 = f.accepted(txn_batch(8, 0, 0, 1));  // 3
  f.marker(8, 0, /*commit=*/false);                           // 4
  f.accepted(txn_batch(9, 0, 0, 1));                          // 5
  CHECK(f.aborted(0, f.log_end) == "8:3-4");
  CHECK(f.lso() == 5);

  SUBCASE("an ABORT marker truncated: the transaction is open again, not aborted") {
    f.persist(f.psm->truncate(f.topic, kPartition, 4));
    f.log_end = 4;
    f.restart();
    CHECK(f.psm->has_open_transaction(f.topic, kPartition, 8));
    CHECK_FALSE(f.psm->has_open_transaction(f.topic, kPartition, 9));  // began at 5
    CHECK(f.aborted(0, f.log_end) == "");
    CHECK(f.lso() == t8);
    // The coordinator's marker, written again, ends it.
    f.marker(8, 0, /*commit=*/false);
    CHECK(f.aborted(0, f.log_end) == "8:3-4");
    CHECK(f.lso() == f.log_end);
  }
  SUBCASE("a COMMIT marker truncated: the transaction is open again") {
    f.persist(f.psm->truncate(f.topic, kPartition, 2));
    f.log_end = 2;
    f.restart();
    CHECK(f.psm->has_open_transaction(f.topic, kPartition, 7));
    CHECK(f.producer(8).producer_id == -1);  // all of it was at or after 2
    CHECK(f.aborted(0, f.log_end) == "");
    CHECK(f.lso() == t7);
    f.marker(7, 0, /*commit=*/true);
    CHECK(f.lso() == f.log_end);
  }
}

TEST_CASE("reset forgets the partition's producers, on disk too") {
  Fixture f;
  f.accepted(txn_batch(7, 0, 0, 2));
  f.marker(7, 0, /*commit=*/false);
  f.accepted(txn_batch(8, 0, 0, 1));
  f.persist(f.psm->reset(f.topic, kPartition));
  CHECK(f.psm->active(f.topic, kPartition).empty());
  f.log_end = 100;
  CHECK(f.lso() == 100);
  f.restart();
  CHECK(f.psm->active(f.topic, kPartition).empty());
  CHECK(f.aborted(0, f.log_end) == "");
  CHECK(f.lso() == 100);
}

TEST_CASE("a producer state record written before the truncation offsets still decodes") {
  ProducerStateRecord r;
  r.epoch = 3;
  r.txn_first_offset = 10;
  r.batches.push_back(ProducerBatchRecord{0, 4, 10, 14, kNow});
  r.epoch_offset = 10;
  r.marker_offset = 7;
  r.marker_txn_first_offset = 2;
  const std::string v = encode_producer_state(r);
  ProducerStateRecord back;
  REQUIRE(decode_producer_state(v, back));
  CHECK(back == r);
  // The older value: the same without the three trailing offsets.
  REQUIRE(decode_producer_state(std::string_view(v).substr(0, v.size() - 24), back));
  CHECK(back.batches == r.batches);
  CHECK(back.epoch_offset == -1);
  CHECK(back.marker_offset == -1);
  CHECK(back.marker_txn_first_offset == -1);
  CHECK_FALSE(decode_producer_state(std::string_view(v).substr(0, v.size() - 8), back));
}
