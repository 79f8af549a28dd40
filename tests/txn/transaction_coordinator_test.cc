// Unit tests of TransactionCoordinator's state machine against Kafka's
// TransactionCoordinator rules: InitProducerId hands out a producer id and
// bumps the epoch (fencing older producers), AddPartitionsToTxn opens a
// transaction, EndTxn goes through Prepare* to Complete* and writes a
// COMMIT/ABORT marker to each partition, requests during a transition are
// CONCURRENT_TRANSACTIONS, an open transaction past its timeout is fenced
// and aborted, KIP-360 bumps recover a producer, and idle transactional ids
// expire. Everything runs over a real store in a temp dir, on a real libuv
// loop, with the coordinator's clock injected through its config; markers
// are checked by reading the partitions' logs back.
#include <doctest/doctest.h>
#include <uv.h>

#include <climits>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/records/control_record.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_iterator.h"
#include "protocol/wire/error_code.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/offsets_store.h"
#include "storage/producer_store.h"
#include "storage/store.h"

namespace fs = std::filesystem;

using namespace kgw;

namespace {

constexpr std::int32_t kTimeoutMs = 60000;
constexpr std::int64_t kStart = 1'700'000'000'000;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/kgw-txn-coord-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// One control batch read back from a partition log.
struct Marker {
  std::int64_t offset = -1;
  std::int64_t producer_id = -1;
  std::int16_t epoch = -1;
  bool transactional = false;
  bool commit = false;
};

// A store with topic "t" (3 partitions), the group coordinator, the
// producer state and the transaction coordinator built as main.cc builds
// them; `now` is the coordinator's clock. restart() stops everything and
// rebuilds it from the data dir, as a kgw restart does.
struct Fixture {
  TempDir dir;
  uv_loop_t loop{};
  std::int64_t now = kStart;
  TransactionCoordinatorConfig config;
  std::unique_ptr<Store> store;
  std::unique_ptr<OffsetsStore> offsets;
  std::unique_ptr<GroupCoordinator> groups;
  std::unique_ptr<OffsetManager> offset_manager;
  std::unique_ptr<ProducerStore> records;
  std::unique_ptr<ProducerStateManager> psm;
  std::unique_ptr<TransactionCoordinator> txns;
  Uuid topic;

  Fixture() {
    uv_loop_init(&loop);
    config.clock = [this] { return now; };
    open();
    TopicInfo info;
    info.name = "t";
    info.partitions = 3;
    bool done = false;
    std::string error;
    store->create_topic(info, [&](std::string e) {
      error = std::move(e);
      done = true;
    });
    run_until([&] { return done; });
    REQUIRE(error == "");
    topic = store->find_topic("t")->id;
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
    offsets = std::make_unique<OffsetsStore>(*store);
    groups = std::make_unique<GroupCoordinator>(&loop, *offsets, GroupCoordinatorConfig{});
    REQUIRE(groups->load() == "");
    offset_manager =
        std::make_unique<OffsetManager>(&loop, *offsets, *groups, OffsetManagerConfig{});
    REQUIRE(offset_manager->load() == "");
    records = std::make_unique<ProducerStore>(*store);
    psm = std::make_unique<ProducerStateManager>(*records);
    txns = std::make_unique<TransactionCoordinator>(&loop, *records, *store, *psm, *offset_manager,
                                                    config);
    ProducerStore::Loaders l;
    l.state = [this](const Uuid& t, std::int32_t p, std::int64_t pid, ProducerStateRecord r) {
      psm->load_state(t, p, pid, std::move(r));
    };
    l.aborted = [this](const Uuid& t, std::int32_t p, std::int64_t pid, std::int64_t first,
                       std::int64_t last) { psm->load_aborted(t, p, pid, first, last); };
    l.transaction = [this](TransactionRecord r) { txns->load_transaction(std::move(r)); };
    l.next_producer_id = [this](std::int64_t next) { txns->load_next_producer_id(next); };
    REQUIRE(records->load(l) == "");
    txns->start();
  }
  void close() {
    if (txns) txns->stop();
    if (offset_manager) offset_manager->stop();
    if (groups) groups->stop();
    if (store) CHECK(store->stop() == "");
    txns.reset();
    psm.reset();
    records.reset();
    offset_manager.reset();
    groups.reset();
    offsets.reset();
    store.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  void restart() {
    close();
    open();
  }
  // Turns the loop until pred() or ~10 s (UV_RUN_NOWAIT: see group_test.cc).
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

  ProducerIdAndEpoch init(const std::string& id, std::int64_t expected_pid = -1,
                          std::int16_t expected_epoch = -1, std::int32_t timeout = kTimeoutMs) {
    std::optional<ProducerIdAndEpoch> r;
    txns->init_producer_id(id, timeout, expected_pid, expected_epoch,
                           [&](ProducerIdAndEpoch a) { r = a; });
    run_until([&] { return r.has_value(); });
    return *r;
  }
  ProducerIdAndEpoch init_idempotent() {
    std::optional<ProducerIdAndEpoch> r;
    txns->init_producer_id(std::nullopt, 0, -1, -1, [&](ProducerIdAndEpoch a) { r = a; });
    run_until([&] { return r.has_value(); });
    return *r;
  }
  ErrorCode add(const std::string& id, const ProducerIdAndEpoch& p,
                std::vector<std::int32_t> partitions) {
    std::vector<std::pair<std::string, std::int32_t>> tp;
    for (auto i : partitions) tp.emplace_back("t", i);
    std::optional<ErrorCode> r;
    txns->add_partitions(id, p.producer_id, p.epoch, std::move(tp), [&](ErrorCode e) { r = e; });
    run_until([&] { return r.has_value(); });
    return *r;
  }
  ErrorCode add_offsets(const std::string& id, const ProducerIdAndEpoch& p,
                        const std::string& group) {
    std::optional<ErrorCode> r;
    txns->add_offsets(id, p.producer_id, p.epoch, group, [&](ErrorCode e) { r = e; });
    run_until([&] { return r.has_value(); });
    return *r;
  }
  ErrorCode end(const std::string& id, const ProducerIdAndEpoch& p, bool commit) {
    std::optional<ErrorCode> r;
    txns->end_txn(id, p.producer_id, p.epoch, commit, [&](ErrorCode e) { r = e; });
    run_until([&] { return r.has_value(); });
    return *r;
  }
  TransactionDescription describe(const std::string& id) const {
    auto d = txns->describe({id});
    REQUIRE(d.size() == 1);
    return d[0];
  }
  std::string state(const std::string& id) const { return describe(id).state; }

  // Every control batch in partition `p`'s log.
  std::vector<Marker> markers(std::int32_t p) {
    std::optional<ReadResult> r;
    store->read(topic, p, 0, 1 << 20, [&](ReadResult rr) { r = std::move(rr); });
    run_until([&] { return r.has_value(); });
    REQUIRE(r->error == "");
    std::vector<Bytes> batches;
    REQUIRE(split_record_batches(Bytes(r->data), batches) == RecordError::kNone);
    std::vector<Marker> out;
    for (Bytes b : batches) {
      RecordBatchHeader h;
      REQUIRE(validate_record_batch(b, h) == RecordError::kNone);
      if (!h.is_control()) continue;
      std::vector<std::uint8_t> scratch;
      Bytes recs;
      REQUIRE(batch_records(b, h, scratch, recs, 1 << 20) == RecordError::kNone);
      RecordIterator it(recs, h.record_count);
      Record rec;
      REQUIRE(it.next(rec));
      ControlRecordKey key;
      REQUIRE(parse_control_record_key(rec.key, key) == RecordError::kNone);
      REQUIRE((key.is_commit() || key.is_abort()));
      out.push_back(Marker{h.base_offset, h.producer_id, h.producer_epoch, h.is_transactional(),
                           key.is_commit()});
    }
    return out;
  }
};

}  // namespace

// The states a transaction went through, sampled between loop turns: in
// the order of `path`, ending with its last state. A state may be missed
// (one delivery of the writer's completions can carry the Prepare record's
// write, the markers' and the Complete record's), never reordered.
static bool is_state_path(const std::vector<std::string>& seen,
                          const std::vector<std::string>& path) {
  if (seen.empty() || seen.back() != path.back()) return false;
  std::size_t at = 0;
  for (const std::string& s : seen) {
    while (at < path.size() && path[at] != s) ++at;
    if (at == path.size()) return false;
  }
  return true;
}

// Runs the loop until EndTxn has answered (`answer` is set), sampling the
// states of `id` between turns as DescribeTransactions shows them, and
// checks that they follow `path` (is_state_path).
static void check_states_until_answered(Fixture& f, const std::string& id,
                                        const std::optional<ErrorCode>& answer,
                                        const std::vector<std::string>& path) {
  std::vector<std::string> seen{f.state(id)};
  f.run_until([&] {
    const std::string s = f.state(id);
    if (s != seen.back()) seen.push_back(s);
    return answer.has_value();
  });
  std::string states;
  for (const auto& s : seen) states += s + " ";
  INFO("states seen: " << states);
  CHECK(is_state_path(seen, path));
}

TEST_CASE("InitProducerId issues producer ids and bumps the epoch, fencing the old one") {
  Fixture f;
  // Idempotent producers: a fresh id each time, epoch 0.
  const ProducerIdAndEpoch a = f.init_idempotent();
  const ProducerIdAndEpoch b = f.init_idempotent();
  CHECK(a.error == ErrorCode::kNone);
  CHECK(a.epoch == 0);
  CHECK(b.producer_id != a.producer_id);
  CHECK(f.txns->issued(a.producer_id));
  CHECK_FALSE(f.txns->issued(b.producer_id + 1000000));

  // A transactional id: its own producer id at epoch 0, state Empty.
  const ProducerIdAndEpoch p0 = f.init("tx");
  REQUIRE(p0.error == ErrorCode::kNone);
  CHECK(p0.epoch == 0);
  CHECK(p0.producer_id != a.producer_id);
  CHECK(p0.producer_id != b.producer_id);
  CHECK(f.state("tx") == "Empty");

  // Re-init: same producer id, next epoch; the old epoch is fenced.
  const ProducerIdAndEpoch p1 = f.init("tx");
  REQUIRE(p1.error == ErrorCode::kNone);
  CHECK(p1.producer_id == p0.producer_id);
  CHECK(p1.epoch == 1);
  CHECK(f.add("tx", p0, {0}) == ErrorCode::kProducerFenced);
  CHECK(f.end("tx", p0, true) == ErrorCode::kProducerFenced);
  CHECK(f.add_offsets("tx", p0, "g") == ErrorCode::kProducerFenced);
  CHECK(f.add("tx", ProducerIdAndEpoch{ErrorCode::kNone, p0.producer_id + 1, 1}, {0}) ==
        ErrorCode::kInvalidProducerIdMapping);
  CHECK(f.add("unknown", p1, {0}) == ErrorCode::kInvalidProducerIdMapping);

  // The current producer's transaction is open: zombies of the older epoch
  // are PRODUCER_FENCED on TxnOffsetCommit, INVALID_PRODUCER_EPOCH on
  // Produce; a future epoch is INVALID_PRODUCER_EPOCH.
  REQUIRE(f.add("tx", p1, {0}) == ErrorCode::kNone);
  REQUIRE(f.add_offsets("tx", p1, "g") == ErrorCode::kNone);
  CHECK(f.txns->check_offset_commit("tx", p1.producer_id, 1, "g") == ErrorCode::kNone);
  CHECK(f.txns->check_offset_commit("tx", p1.producer_id, 0, "g") == ErrorCode::kProducerFenced);
  CHECK(f.txns->check_offset_commit("tx", p1.producer_id, 2, "g") ==
        ErrorCode::kInvalidProducerEpoch);
  CHECK(f.txns->check_offset_commit("tx", p1.producer_id, 1, "other") ==
        ErrorCode::kInvalidTxnState);
  CHECK(f.txns->check_produce(p1.producer_id, 1, "t", 0) == ErrorCode::kNone);
  CHECK(f.txns->check_produce(p1.producer_id, 0, "t", 0) == ErrorCode::kInvalidProducerEpoch);
  CHECK(f.txns->check_produce(p1.producer_id, 1, "t", 1) == ErrorCode::kInvalidTxnState);

  // Timeouts outside (0, transaction.max.timeout.ms], and an empty id.
  CHECK(f.init("tx2", -1, -1, 0).error == ErrorCode::kInvalidTransactionTimeout);
  CHECK(f.init("tx2", -1, -1, f.config.max_timeout_ms + 1).error ==
        ErrorCode::kInvalidTransactionTimeout);
  CHECK(f.init("", -1, -1).error == ErrorCode::kInvalidRequest);

  // Producer ids and epochs survive a restart: the next id is above all
  // handed out, the epoch goes on from 1.
  REQUIRE(f.end("tx", p1, false) == ErrorCode::kNone);
  f.restart();
  const ProducerIdAndEpoch p2 = f.init("tx");
  CHECK(p2.producer_id == p0.producer_id);
  CHECK(p2.epoch == 2);
  const ProducerIdAndEpoch c = f.init_idempotent();
  CHECK(c.producer_id > p0.producer_id);
  CHECK(c.producer_id > b.producer_id);
}

TEST_CASE("AddPartitionsToTxn opens the transaction: Empty -> Ongoing") {
  Fixture f;
  const ProducerIdAndEpoch p = f.init("tx");
  REQUIRE(f.state("tx") == "Empty");
  f.now = kStart + 5;
  REQUIRE(f.add("tx", p, {0, 1}) == ErrorCode::kNone);
  TransactionDescription d = f.describe("tx");
  CHECK(d.state == "Ongoing");
  CHECK(d.start_ms == kStart + 5);
  CHECK(d.timeout_ms == kTimeoutMs);
  CHECK(d.partitions == std::vector<std::pair<std::string, std::int32_t>>{{"t", 0}, {"t", 1}});

  // Adding again extends (no duplicates) and keeps the start time.
  f.now = kStart + 10;
  REQUIRE(f.add("tx", p, {1, 2}) == ErrorCode::kNone);
  d = f.describe("tx");
  CHECK(d.start_ms == kStart + 5);
  CHECK(d.partitions ==
        std::vector<std::pair<std::string, std::int32_t>>{{"t", 0}, {"t", 1}, {"t", 2}});

  const std::vector<std::pair<std::string, std::int32_t>> all{{"t", 0}, {"t", 2}};
  CHECK(f.txns->verify_partitions("tx", p.producer_id, p.epoch, all) == ErrorCode::kNone);
  CHECK(f.txns->verify_partitions("tx", p.producer_id, p.epoch, {{"t", 7}}) ==
        ErrorCode::kInvalidTxnState);
  CHECK(f.txns->verify_partitions("tx", p.producer_id, 5, all) == ErrorCode::kProducerFenced);

  // ListTransactions sees it Ongoing; the state is on disk.
  CHECK(f.txns->list({TxnState::kOngoing}, {}, -1).size() == 1);
  CHECK(f.txns->list({TxnState::kEmpty}, {}, -1).empty());
  f.restart();
  CHECK(f.state("tx") == "Ongoing");
  CHECK(f.describe("tx").partitions.size() == 3);
}

TEST_CASE("EndTxn commit: PrepareCommit -> CompleteCommit, a COMMIT marker per partition") {
  Fixture f;
  const ProducerIdAndEpoch p = f.init("tx");
  REQUIRE(f.add("tx", p, {0, 2}) == ErrorCode::kNone);

  std::optional<ErrorCode> r;
  f.txns->end_txn("tx", p.producer_id, p.epoch, true, [&](ErrorCode e) { r = e; });
  // While the commit runs, everything else on this id is refused as
  // CONCURRENT_TRANSACTIONS (retriable).
  std::optional<ErrorCode> again, add;
  std::optional<ProducerIdAndEpoch> reinit;
  f.txns->end_txn("tx", p.producer_id, p.epoch, true, [&](ErrorCode e) { again = e; });
  f.txns->add_partitions("tx", p.producer_id, p.epoch, {{"t", 1}}, [&](ErrorCode e) { add = e; });
  f.txns->init_producer_id("tx", kTimeoutMs, -1, -1, [&](ProducerIdAndEpoch a) { reinit = a; });
  REQUIRE(again == ErrorCode::kConcurrentTransactions);
  REQUIRE(add == ErrorCode::kConcurrentTransactions);
  REQUIRE(reinit.has_value());
  CHECK(reinit->error == ErrorCode::kConcurrentTransactions);

  // The states it passes through, as DescribeTransactions shows them.
  check_states_until_answered(f, "tx", r, {"Ongoing", "PrepareCommit", "CompleteCommit"});
  CHECK(*r == ErrorCode::kNone);
  CHECK(f.describe("tx").partitions.empty());

  for (std::int32_t part : {0, 2}) {
    const auto m = f.markers(part);
    REQUIRE(m.size() == 1);
    CHECK(m[0].commit);
    CHECK(m[0].transactional);
    CHECK(m[0].producer_id == p.producer_id);
    CHECK(m[0].epoch == p.epoch);
    CHECK(m[0].offset == 0);
  }
  CHECK(f.markers(1).empty());  // not in the transaction

  // A retried commit is answered as done; an abort now is INVALID_TXN_STATE.
  CHECK(f.end("tx", p, true) == ErrorCode::kNone);
  CHECK(f.end("tx", p, false) == ErrorCode::kInvalidTxnState);
  CHECK(f.markers(0).size() == 1);

  // The next transaction starts afresh from CompleteCommit.
  REQUIRE(f.add("tx", p, {1}) == ErrorCode::kNone);
  CHECK(f.describe("tx").partitions == std::vector<std::pair<std::string, std::int32_t>>{{"t", 1}});
  f.restart();
  CHECK(f.markers(0).size() == 1);
  CHECK(f.state("tx") == "Ongoing");
}

TEST_CASE("EndTxn abort: PrepareAbort -> CompleteAbort, an ABORT marker per partition") {
  Fixture f;
  const ProducerIdAndEpoch p = f.init("tx");
  CHECK(f.end("tx", p, false) == ErrorCode::kInvalidTxnState);  // nothing open
  REQUIRE(f.add("tx", p, {1}) == ErrorCode::kNone);

  std::optional<ErrorCode> r;
  f.txns->end_txn("tx", p.producer_id, p.epoch, false, [&](ErrorCode e) { r = e; });
  check_states_until_answered(f, "tx", r, {"Ongoing", "PrepareAbort", "CompleteAbort"});
  CHECK(*r == ErrorCode::kNone);

  const auto m = f.markers(1);
  REQUIRE(m.size() == 1);
  CHECK_FALSE(m[0].commit);
  CHECK(m[0].producer_id == p.producer_id);
  CHECK(m[0].epoch == p.epoch);
  CHECK(f.markers(0).empty());
  CHECK(f.markers(2).empty());

  CHECK(f.end("tx", p, false) == ErrorCode::kNone);            // a retry
  CHECK(f.end("tx", p, true) == ErrorCode::kInvalidTxnState);  // the other outcome
  CHECK(f.markers(1).size() == 1);
}

TEST_CASE("InitProducerId during an open transaction aborts it and asks for a retry") {
  Fixture f;
  const ProducerIdAndEpoch p0 = f.init("tx");
  REQUIRE(f.add("tx", p0, {0}) == ErrorCode::kNone);
  // The open transaction is aborted with the producer fenced (epoch + 1 on
  // the marker); the caller hears CONCURRENT_TRANSACTIONS.
  CHECK(f.init("tx").error == ErrorCode::kConcurrentTransactions);
  CHECK(f.state("tx") == "CompleteAbort");
  const auto m = f.markers(0);
  REQUIRE(m.size() == 1);
  CHECK_FALSE(m[0].commit);
  CHECK(m[0].epoch == p0.epoch + 1);
  // The retry gets the epoch after the fence; the old producer is fenced.
  const ProducerIdAndEpoch p1 = f.init("tx");
  REQUIRE(p1.error == ErrorCode::kNone);
  CHECK(p1.producer_id == p0.producer_id);
  CHECK(p1.epoch == p0.epoch + 2);
  CHECK(f.end("tx", p0, false) == ErrorCode::kProducerFenced);
}

TEST_CASE("A transaction open past its timeout is fenced and aborted") {
  Fixture f;
  const ProducerIdAndEpoch p = f.init("tx");
  REQUIRE(f.add("tx", p, {0, 1}) == ErrorCode::kNone);
  // The timer is armed from the injected clock: jump past the timeout and
  // restart, so start() re-arms it with nothing left to wait.
  f.now = kStart + kTimeoutMs + 1;
  f.restart();
  f.run_until([&] { return f.state("tx") == "CompleteAbort"; });
  const TransactionDescription d = f.describe("tx");
  CHECK(d.producer_id == p.producer_id);
  CHECK(d.epoch == p.epoch + 1);  // fenced
  for (std::int32_t part : {0, 1}) {
    const auto m = f.markers(part);
    REQUIRE(m.size() == 1);
    CHECK_FALSE(m[0].commit);
    CHECK(m[0].epoch == p.epoch + 1);
  }
  // The timed-out producer cannot go on, nor recover by retrying its bump.
  CHECK(f.end("tx", p, true) == ErrorCode::kProducerFenced);
  CHECK(f.add("tx", p, {0}) == ErrorCode::kProducerFenced);
  CHECK(f.init("tx", p.producer_id, p.epoch).error == ErrorCode::kProducerFenced);
}

TEST_CASE("A short transaction timeout fires on the loop") {
  Fixture f;
  const ProducerIdAndEpoch p = f.init("tx", -1, -1, 50);
  REQUIRE(f.add("tx", p, {2}) == ErrorCode::kNone);
  CHECK(f.state("tx") == "Ongoing");
  f.run_until([&] { return f.state("tx") == "CompleteAbort"; });
  const auto m = f.markers(2);
  REQUIRE(m.size() == 1);
  CHECK_FALSE(m[0].commit);
  CHECK(m[0].epoch == p.epoch + 1);
}

TEST_CASE("KIP-360: InitProducerId with the expected producer id and epoch") {
  Fixture f;
  const ProducerIdAndEpoch p0 = f.init("tx");
  // The current producer bumps its own epoch.
  const ProducerIdAndEpoch p1 = f.init("tx", p0.producer_id, p0.epoch);
  REQUIRE(p1.error == ErrorCode::kNone);
  CHECK(p1.producer_id == p0.producer_id);
  CHECK(p1.epoch == p0.epoch + 1);
  // Its answer was lost: the retry (same expected epoch) gets the same.
  const ProducerIdAndEpoch retry = f.init("tx", p0.producer_id, p0.epoch);
  CHECK(retry.error == ErrorCode::kNone);
  CHECK(retry.producer_id == p1.producer_id);
  CHECK(retry.epoch == p1.epoch);
  // Neither the current nor the last epoch, or another producer id: fenced.
  CHECK(f.init("tx", p0.producer_id, 7).error == ErrorCode::kProducerFenced);
  CHECK(f.init("tx", p0.producer_id + 1, p1.epoch).error == ErrorCode::kProducerFenced);
  // A bump from the current epoch goes on.
  const ProducerIdAndEpoch p2 = f.init("tx", p1.producer_id, p1.epoch);
  CHECK(p2.epoch == p1.epoch + 1);

  // Epochs exhausted: a new producer id at epoch 0.
  TransactionRecord old;
  old.transactional_id = "worn";
  old.producer_id = p0.producer_id + 500;  // reserved block, not handed out
  old.epoch = SHRT_MAX - 1;
  old.last_epoch = SHRT_MAX - 2;
  old.timeout_ms = kTimeoutMs;
  old.state = static_cast<std::int8_t>(TxnState::kCompleteCommit);
  f.txns->load_transaction(old);
  const ProducerIdAndEpoch fresh = f.init("worn", old.producer_id, old.epoch);
  REQUIRE(fresh.error == ErrorCode::kNone);
  CHECK(fresh.producer_id != old.producer_id);
  CHECK(fresh.epoch == 0);
  CHECK(f.describe("worn").producer_id == fresh.producer_id);
}

TEST_CASE("Idle transactional ids expire after transactional.id.expiration.ms") {
  Fixture f;
  const ProducerIdAndEpoch done = f.init("done");
  REQUIRE(f.add("done", done, {0}) == ErrorCode::kNone);
  REQUIRE(f.end("done", done, true) == ErrorCode::kNone);
  const ProducerIdAndEpoch open = f.init("open");
  REQUIRE(f.add("open", open, {1}) == ErrorCode::kNone);
  f.init("empty");

  // Not idle long enough yet.
  f.now = kStart + f.config.transactional_id_expiration_ms - 1;
  CHECK(f.txns->expire_transactional_ids() == 0);
  // Past it: Empty and Complete* ids go, the open transaction stays.
  f.now = kStart + f.config.transactional_id_expiration_ms + 1;
  CHECK(f.txns->expire_transactional_ids() == 2);
  CHECK(f.describe("done").error == ErrorCode::kTransactionalIdNotFound);
  CHECK(f.describe("empty").error == ErrorCode::kTransactionalIdNotFound);
  CHECK(f.state("open") == "Ongoing");
  // Its producer id no longer maps to it.
  CHECK(f.end("done", done, true) == ErrorCode::kInvalidProducerIdMapping);

  // Forgotten on disk too; a new InitProducerId starts it over with a new
  // producer id.
  f.restart();
  CHECK(f.describe("done").error == ErrorCode::kTransactionalIdNotFound);
  CHECK(f.state("open") != "");
  const ProducerIdAndEpoch again = f.init("done");
  REQUIRE(again.error == ErrorCode::kNone);
  CHECK(again.producer_id != done.producer_id);
  CHECK(again.epoch == 0);
}

// --- In a cluster: the state in a replicated partition ----------------------

// The replicator stands for CoordinatorLog (the acks=all append to the
// transactional id's __transaction_state partition): every state change
// goes through it before the client is answered; a refused append leaves
// memory as it was; a new leader loads the records and resumes a prepared
// commit; while not loaded, requests are COORDINATOR_LOAD_IN_PROGRESS.
TEST_CASE("in a cluster, transaction state is replicated, loaded and resumed by a new leader") {
  Fixture f;
  std::vector<RecordWrite> replicated;
  bool refuse = false;
  bool serving = true;
  f.txns->set_replicator([&](std::vector<RecordWrite> writes, Store::Done done) {
    if (refuse) return done("NOT_ENOUGH_REPLICAS");
    for (const auto& w : writes) replicated.push_back(w);
    f.records->write(std::move(writes), std::move(done));
  });
  f.txns->set_serving_check([&](std::string_view) { return serving; });
  auto latest = [&](const std::string& id) {
    TransactionRecord r;
    for (const auto& w : replicated) {
      if (ProducerStore::transaction_id_of(w.key) != id || !w.value) continue;
      r = TransactionRecord{};
      r.transactional_id = id;
      REQUIRE(decode_transaction(*w.value, r));
    }
    return r;
  };

  const ProducerIdAndEpoch p = f.init("tx");
  REQUIRE(p.error == ErrorCode::kNone);
  CHECK(latest("tx").producer_id == p.producer_id);
  CHECK(latest("tx").state == static_cast<std::int8_t>(TxnState::kEmpty));
  REQUIRE(f.add("tx", p, {0, 2}) == ErrorCode::kNone);
  CHECK(latest("tx").state == static_cast<std::int8_t>(TxnState::kOngoing));
  CHECK(latest("tx").partitions.size() == 2);

  // The append cannot be committed: COORDINATOR_NOT_AVAILABLE, no change.
  refuse = true;
  CHECK(f.add("tx", p, {1}) == ErrorCode::kCoordinatorNotAvailable);
  CHECK(f.end("tx", p, true) == ErrorCode::kCoordinatorNotAvailable);
  CHECK(f.state("tx") == "Ongoing");
  CHECK(f.describe("tx").partitions.size() == 2);
  refuse = false;

  // The coordinator died after writing PrepareCommit; this broker leads
  // the partition now: nothing of it in memory until it is loaded.
  TransactionRecord prepared = latest("tx");
  prepared.state = static_cast<std::int8_t>(TxnState::kPrepareCommit);
  CHECK(f.txns->unload_transactions([](const std::string& id) { return id == "tx"; }) == 1);
  CHECK(f.describe("tx").error == ErrorCode::kTransactionalIdNotFound);
  serving = false;
  CHECK(f.init("tx").error == ErrorCode::kCoordinatorLoadInProgress);
  CHECK(f.end("tx", p, true) == ErrorCode::kCoordinatorLoadInProgress);
  CHECK(f.add("tx", p, {1}) == ErrorCode::kCoordinatorLoadInProgress);

  serving = true;
  f.txns->load_transactions({prepared});
  f.run_until([&] { return f.state("tx") == "CompleteCommit"; });
  CHECK(latest("tx").state == static_cast<std::int8_t>(TxnState::kCompleteCommit));
  // The producer's retried EndTxn hears its outcome; InitProducerId bumps.
  CHECK(f.end("tx", p, true) == ErrorCode::kNone);
  const ProducerIdAndEpoch bumped = f.init("tx");
  REQUIRE(bumped.error == ErrorCode::kNone);
  CHECK(bumped.producer_id == p.producer_id);
  CHECK(bumped.epoch == p.epoch + 1);
}

// --- In a cluster: markers on other brokers' partitions ---------------------

namespace {

// The MarkerTransport of a cluster test: keeps each request until the test
// answers it.
struct FakeTransport : MarkerTransport {
  struct Sent {
    std::int32_t node;
    TxnMarker marker;
    std::function<void(std::vector<ErrorCode>)> done;
  };
  std::vector<Sent> sent;
  void send(std::int32_t node, const TxnMarker& marker,
            std::function<void(std::vector<ErrorCode>)> done) override {
    sent.push_back(Sent{node, marker, std::move(done)});
  }
  // Answers request `i` with `e` for every partition.
  void answer(std::size_t i, ErrorCode e) {
    auto done = std::move(sent.at(i).done);
    done(std::vector<ErrorCode>(sent.at(i).marker.partitions.size(), e));
  }
};

using Part = std::pair<std::string, std::int32_t>;

}  // namespace

TEST_CASE("in a cluster, markers go to each leader, grouped, retried from the latest image") {
  Fixture f;
  FakeTransport transport;
  // t-0 here, t-1 on broker 2 (then on 3), t-2 on broker 3; the group's
  // coordinator is broker 3 (its __consumer_offsets partition 7); topic
  // "gone" was deleted.
  std::map<Part, std::int32_t> leaders{
      {{"t", 0}, 1}, {{"t", 1}, 2}, {{"t", 2}, 3}, {{"__consumer_offsets", 7}, 3}};
  MarkerCluster c;
  c.route = [&](const std::string& topic, std::int32_t p) {
    auto it = leaders.find({topic, p});
    if (it == leaders.end()) return MarkerRoute{MarkerRoute::Kind::kGone};
    if (it->second == 1) return MarkerRoute{MarkerRoute::Kind::kLocal, 1};
    return MarkerRoute{MarkerRoute::Kind::kRemote, it->second};
  };
  c.group_route = [](const std::string&) {
    return std::make_pair(MarkerRoute{MarkerRoute::Kind::kRemote, 3}, std::int32_t{7});
  };
  c.transport = &transport;
  f.txns->markers().set_cluster(std::move(c));
  f.txns->set_id_block_source([](std::int32_t count, TransactionCoordinator::IdBlockDone done) {
    done(ErrorCode::kNone, 5000, count);
  });

  const ProducerIdAndEpoch p = f.init("tx");
  REQUIRE(p.error == ErrorCode::kNone);
  REQUIRE(f.add("tx", p, {0, 1, 2}) == ErrorCode::kNone);
  REQUIRE(f.add_offsets("tx", p, "g") == ErrorCode::kNone);
  // A leader takes a batch of a transaction coordinated elsewhere.
  CHECK(f.txns->check_produce(p.producer_id + 77, 0, "t", 1) == ErrorCode::kNone);

  std::optional<ErrorCode> answer;
  f.txns->end_txn("tx", p.producer_id, p.epoch, true, [&](ErrorCode e) { answer = e; });
  f.run_until([&] { return transport.sent.size() == 2; });
  std::map<std::int32_t, std::vector<Part>> by_node;
  for (const auto& s : transport.sent) {
    CHECK(s.marker.producer_id == p.producer_id);
    CHECK(s.marker.commit);
    by_node[s.node] = s.marker.partitions;
  }
  CHECK(by_node[2] == std::vector<Part>{{"t", 1}});
  CHECK(by_node[3] == std::vector<Part>{{"__consumer_offsets", 7}, {"t", 2}});

  // Broker 2 no longer leads t-1: routed again, now to broker 3.
  leaders[{"t", 1}] = 3;
  const std::size_t to_2 = transport.sent[0].node == 2 ? 0 : 1;
  transport.answer(to_2, ErrorCode::kNotLeaderOrFollower);
  transport.answer(1 - to_2, ErrorCode::kNone);
  f.run_until([&] { return transport.sent.size() == 3; });
  CHECK(transport.sent[2].node == 3);
  CHECK(transport.sent[2].marker.partitions == std::vector<Part>{{"t", 1}});
  CHECK_FALSE(answer.has_value());  // not complete until every marker is written
  CHECK(f.state("tx") == "PrepareCommit");
  transport.answer(2, ErrorCode::kNone);
  f.run_until([&] { return answer.has_value(); });
  CHECK(*answer == ErrorCode::kNone);
  CHECK(f.state("tx") == "CompleteCommit");
  CHECK(f.markers(0).size() == 1);  // led here: appended here
  CHECK(f.markers(1).empty());      // led elsewhere: not in this store
  CHECK(f.markers(2).empty());
}
