// ReplicaManager against a real Store in a temp dir, with the loop running:
// appends, the high watermark, the waits on it, and leader epochs.
#include "src/replica/replica_manager.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "protocol/records/record_batch_builder.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/log_policy.h"
#include "storage/offsets_store.h"
#include "storage/producer_store.h"
#include "tests/replica/store_fixture.h"

namespace kgw {
namespace {

std::vector<std::uint8_t> make_batch(int records, std::int64_t producer_id = -1,
                                     std::int16_t epoch = -1, std::int32_t sequence = -1) {
  RecordBatchOptions o;
  o.producer_id = producer_id;
  o.producer_epoch = epoch;
  o.base_sequence = sequence;
  RecordBatchBuilder b(o);
  const std::string value = "value";
  for (int i = 0; i < records; ++i) {
    REQUIRE(b.add(wall_ms(), std::nullopt, Bytes(std::string_view(value))) == RecordError::kNone);
  }
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

// The whole replica layer on a fixture's store, as main.cc wires it.
struct Replicas {
  explicit Replicas(test::StoreFixture& f)
      : offsets(*f.store),
        groups(f.loop(), offsets, GroupCoordinatorConfig{}),
        offset_manager(f.loop(), offsets, groups, OffsetManagerConfig{}),
        records(*f.store),
        producers(records),
        txns(f.loop(), records, *f.store, producers, offset_manager,
             TransactionCoordinatorConfig{}),
        rm(f.loop(), *f.store, producers, txns, [this](const TopicInfo&) {
          AppendPolicy p;
          p.rules.max_timestamp_difference_ms = kNoLimit;
          p.min_insync_replicas = min_insync_replicas;
          return p;
        }) {}
  ~Replicas() {
    rm.stop();
    txns.stop();
    offset_manager.stop();
    groups.stop();
  }

  // An idempotent producer's id, from the transaction coordinator.
  ProducerIdAndEpoch init_producer_id(test::StoreFixture& f) {
    std::optional<ProducerIdAndEpoch> id;
    txns.init_producer_id(std::nullopt, 60000, -1, -1, [&](ProducerIdAndEpoch p) { id = p; });
    f.run_until([&] { return id.has_value(); });
    REQUIRE(id->error == ErrorCode::kNone);
    return *id;
  }
  // Leads partition 0 of `t` at epoch 1 with one follower, `follower`, in
  // its ISR; ISR change requests go nowhere.
  void lead_with_follower(const Uuid& t, std::int32_t follower, std::int64_t lag_time_max_ms) {
    const std::int32_t self = test::StoreFixture::kNode;
    ReplicationOptions options;
    options.lag_time_max_ms = lag_time_max_ms;
    options.isr_channel = [](IsrChangeRequest, std::function<void(ErrorCode, std::string)>) {};
    rm.configure_replication(std::move(options));
    rm.become_leader(t, 0, ReplicaRole{self, 1, 0, {self, follower}, {self, follower}});
  }

  OffsetsStore offsets;
  GroupCoordinator groups;
  OffsetManager offset_manager;
  ProducerStore records;
  ProducerStateManager producers;
  TransactionCoordinator txns;
  std::int64_t min_insync_replicas = 1;
  ReplicaManager rm;
};

// Appends `batch` (a buffer of its own, as a request frame would be).
void append(test::StoreFixture& f, ReplicaManager& rm, const Uuid& topic, std::int32_t partition,
            std::vector<std::uint8_t> batch, std::optional<AppendOutcome>& out,
            std::int16_t acks = 1, std::int32_t timeout_ms = 30000) {
  auto buffer = std::make_shared<std::vector<std::uint8_t>>(std::move(batch));
  Resolved r = PartitionResolver(*f.store, *f.metadata, test::StoreFixture::kNode)
                   .resolve(TopicKey::by_id(topic), partition);
  REQUIRE(r.ok());
  AppendRequest req;
  req.partition = r.local;
  req.records = std::span<std::uint8_t>(*buffer);
  req.owner = buffer;
  req.acks = acks;
  req.timeout_ms = timeout_ms;
  rm.append(std::move(req), [&out](AppendOutcome o) { out = std::move(o); });
}

TEST_CASE("append moves the high watermark and wakes a waiting fetch") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 2);
  {
    Replicas r(f);
    CHECK(r.rm.high_watermark(t, 0) == 0);
    CHECK(r.rm.high_watermark(t, 2) == -1);

    std::optional<bool> woken;
    r.rm.wait_for_data(1, {{t, 0}}, 20000, [&](bool timed_out) { woken = timed_out; });
    std::optional<bool> other;  // waits on the other partition: not woken
    r.rm.wait_for_data(2, {{t, 1}}, 20000, [&](bool timed_out) { other = timed_out; });

    std::optional<AppendOutcome> out;
    append(f, r.rm, t, 0, make_batch(3), out);
    f.run_until([&] { return out.has_value() && woken.has_value(); });
    CHECK(out->error == ErrorCode::kNone);
    CHECK(out->base_offset == 0);
    CHECK(out->log_start_offset == 0);
    CHECK(*woken == false);  // by the write, not the timer
    CHECK(r.rm.high_watermark(t, 0) == 3);
    CHECK(!other.has_value());

    // A second append goes after the first.
    out.reset();
    append(f, r.rm, t, 0, make_batch(2), out);
    f.run_until([&] { return out.has_value(); });
    CHECK(out->base_offset == 3);
    CHECK(r.rm.high_watermark(t, 0) == 5);

    // A connection that is gone: its wait is dropped, never woken.
    r.rm.forget_connection(2);
    out.reset();
    append(f, r.rm, t, 1, make_batch(1), out);
    f.run_until([&] { return out.has_value(); });
    CHECK(!other.has_value());

    // A wait that nothing satisfies times out.
    std::optional<bool> timer;
    r.rm.wait_for_data(3, {{t, 0}}, 10, [&](bool timed_out) { timer = timed_out; });
    f.run_until([&] { return timer.has_value(); });
    CHECK(*timer == true);
  }
  f.close_store();
}

TEST_CASE("refused records are answered without an append") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 1);
  {
    Replicas r(f);
    std::optional<AppendOutcome> out;
    append(f, r.rm, t, 0, {}, out);
    REQUIRE(out.has_value());  // answered at once, on the loop thread
    CHECK(out->error == ErrorCode::kCorruptMessage);

    std::vector<std::uint8_t> bad = make_batch(1);
    bad.back() ^= 0xff;  // the CRC no longer matches
    out.reset();
    append(f, r.rm, t, 0, bad, out);
    REQUIRE(out.has_value());
    CHECK(out->error == ErrorCode::kCorruptMessage);
    CHECK(r.rm.high_watermark(t, 0) == 0);
  }
  f.close_store();
}

TEST_CASE("an idempotent duplicate is answered once the original is written") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 1);
  {
    Replicas r(f);
    const ProducerIdAndEpoch id = r.init_producer_id(f);

    const std::vector<std::uint8_t> batch = make_batch(4, id.producer_id, id.epoch, 0);
    std::optional<AppendOutcome> first;
    std::optional<AppendOutcome> retry;
    bool first_done_before_retry = false;
    std::int64_t hw_at_retry = -1;
    append(f, r.rm, t, 0, batch, first);
    // The retry (same producer, epoch and sequence) is sent before the
    // first write is done.
    auto buffer = std::make_shared<std::vector<std::uint8_t>>(batch);
    AppendRequest req;
    req.partition = PartitionResolver(*f.store, *f.metadata, test::StoreFixture::kNode)
                        .resolve(TopicKey::by_id(t), 0)
                        .local;
    req.records = std::span<std::uint8_t>(*buffer);
    req.owner = buffer;
    r.rm.append(std::move(req), [&](AppendOutcome o) {
      first_done_before_retry = first.has_value();
      hw_at_retry = r.rm.high_watermark(t, 0);
      retry = std::move(o);
    });
    f.run_until([&] { return first.has_value() && retry.has_value(); });
    CHECK(first->error == ErrorCode::kNone);
    CHECK(first->base_offset == 0);
    CHECK(retry->error == ErrorCode::kNone);
    CHECK(retry->base_offset == 0);  // the original's offset, not a new one
    CHECK(first_done_before_retry);
    CHECK(hw_at_retry >= 4);
    CHECK(r.rm.high_watermark(t, 0) == 4);  // stored once

    // when_written: at once when reached, or when the partition is gone.
    std::optional<ReplicaManager::WaitOutcome> w;
    r.rm.when_written(t, 0, 4, [&](ReplicaManager::WaitOutcome o) { w = o; });
    REQUIRE(w.has_value());
    CHECK(*w == ReplicaManager::WaitOutcome::kWritten);
    w.reset();
    r.rm.when_written(t, 5, 1, [&](ReplicaManager::WaitOutcome o) { w = o; });
    REQUIRE(w.has_value());
    CHECK(*w == ReplicaManager::WaitOutcome::kGone);
    // Not yet reached: waits for the write that reaches it.
    w.reset();
    r.rm.when_written(t, 0, 6, [&](ReplicaManager::WaitOutcome o) { w = o; });
    CHECK(!w.has_value());
    std::optional<AppendOutcome> more;
    append(f, r.rm, t, 0, make_batch(2), more);
    f.run_until([&] { return w.has_value(); });
    CHECK(*w == ReplicaManager::WaitOutcome::kWritten);
    CHECK(r.rm.high_watermark(t, 0) >= 6);
    f.run_until([&] { return more.has_value(); });
  }
  f.close_store();
}

TEST_CASE("an idempotent retry of a batch the ISR has not replicated times out as its first send") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 1);
  {
    Replicas r(f);
    const std::int32_t a = test::StoreFixture::kNode + 100;
    r.lead_with_follower(t, a, 60000);
    const ProducerIdAndEpoch id = r.init_producer_id(f);
    const std::vector<std::uint8_t> batch = make_batch(2, id.producer_id, id.epoch, 0);
    // Written here, never fetched by `a`: acks=all times out.
    std::optional<AppendOutcome> first;
    append(f, r.rm, t, 0, batch, first, -1, 30);
    f.run_until([&] { return first.has_value(); });
    CHECK(first->error == ErrorCode::kRequestTimedOut);
    // Its retry waits for the same high watermark, and no longer: before,
    // it waited for good, holding its request.
    std::optional<AppendOutcome> retry;
    append(f, r.rm, t, 0, batch, retry, -1, 30);
    f.run_until([&] { return retry.has_value(); });
    REQUIRE(retry.has_value());
    CHECK(retry->error == ErrorCode::kRequestTimedOut);
    // Once replicated, a retry is answered with the original's offset.
    r.rm.on_follower_fetch(t, 0, a, 7, 2);
    retry.reset();
    append(f, r.rm, t, 0, batch, retry, -1, 30);
    f.run_until([&] { return retry.has_value(); });
    CHECK(retry->error == ErrorCode::kNone);
    CHECK(retry->base_offset == 0);
  }
  f.close_store();
}

TEST_CASE("leader epochs: 0 until become_leader, then what it set") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 2);
  {
    Replicas r(f);
    CHECK(r.rm.leader_epoch(t, 0) == 0);
    r.rm.become_leader(t, 0, 7);
    CHECK(r.rm.leader_epoch(t, 0) == 7);
    CHECK(r.rm.leader_epoch(t, 1) == 0);
    r.rm.become_leader(t, 0, 8);
    CHECK(r.rm.leader_epoch(t, 0) == 8);
  }
  f.close_store();
}

TEST_CASE("replication: the high watermark over the ISR, acks=all, ISR changes") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 1);
  {
    Replicas r(f);
    const std::int32_t self = test::StoreFixture::kNode;
    const std::int32_t a = self + 100;
    const std::int32_t b = self + 101;
    std::vector<IsrChangeRequest> asked;
    ReplicationOptions options;
    options.lag_time_max_ms = 500;
    options.isr_channel = [&](IsrChangeRequest req, std::function<void(ErrorCode, std::string)>) {
      asked.push_back(std::move(req));
    };
    r.rm.configure_replication(std::move(options));
    r.rm.become_leader(t, 0, ReplicaRole{self, 1, 0, {self, a, b}, {self, a, b}});
    CHECK(r.rm.leader_epoch(t, 0) == 1);
    CHECK(r.rm.isr_size(t, 0) == 3);
    auto written_end = [&] { return f.store->partition(t, 0)->high_watermark; };

    // acks=1: answered once written here; the high watermark waits for
    // both followers.
    std::optional<AppendOutcome> out;
    append(f, r.rm, t, 0, make_batch(3), out);
    f.run_until([&] { return out.has_value(); });
    CHECK(out->base_offset == 0);
    CHECK(r.rm.high_watermark(t, 0) == 0);
    CHECK(r.rm.on_follower_fetch(t, 0, a, 7, 3) == ErrorCode::kNone);
    CHECK(r.rm.high_watermark(t, 0) == 0);
    CHECK(r.rm.on_follower_fetch(t, 0, b, 7, 2) == ErrorCode::kNone);
    CHECK(r.rm.high_watermark(t, 0) == 2);
    CHECK(r.rm.on_follower_fetch(t, 0, b, 7, 3) == ErrorCode::kNone);
    CHECK(r.rm.high_watermark(t, 0) == 3);
    // Not a replica of the partition.
    CHECK(r.rm.on_follower_fetch(t, 0, self + 200, 7, 3) == ErrorCode::kNotLeaderOrFollower);

    // acks=all: answered when both followers fetched past it.
    out.reset();
    append(f, r.rm, t, 0, make_batch(2), out, -1);
    f.run_until([&] { return written_end() == 5; });
    f.run_for(20);
    CHECK(!out.has_value());
    r.rm.on_follower_fetch(t, 0, a, 7, 5);
    CHECK(!out.has_value());
    r.rm.on_follower_fetch(t, 0, b, 7, 5);
    REQUIRE(out.has_value());
    CHECK(out->error == ErrorCode::kNone);
    CHECK(out->base_offset == 3);
    CHECK(r.rm.high_watermark(t, 0) == 5);

    // acks=all that nobody replicates: REQUEST_TIMED_OUT after its timeout.
    out.reset();
    append(f, r.rm, t, 0, make_batch(1), out, -1, 30);
    f.run_until([&] { return out.has_value(); });
    CHECK(out->error == ErrorCode::kRequestTimedOut);

    // b lags behind the log end for longer than replica.lag.time.max.ms:
    // the leader asks for an ISR without it (a keeps up).
    for (int i = 0; i < 50 && asked.empty(); ++i) {
      r.rm.on_follower_fetch(t, 0, a, 7, written_end());
      f.run_for(40);
    }
    REQUIRE(asked.size() == 1);
    CHECK(asked[0].leader_epoch == 1);
    CHECK(asked[0].partition_epoch == 0);
    REQUIRE(asked[0].isr.size() == 2);
    CHECK(asked[0].isr[0].first == self);
    CHECK(asked[0].isr[1] == std::pair<std::int32_t, std::int64_t>{a, 7});
    // The committed change comes back through the image.
    r.rm.become_leader(t, 0, ReplicaRole{self, 1, 1, {self, a, b}, {self, a}});
    CHECK(r.rm.isr_size(t, 0) == 2);

    // min.insync.replicas=3 with an ISR of 2: refused before the append.
    r.min_insync_replicas = 3;
    out.reset();
    const std::int64_t end = written_end();
    append(f, r.rm, t, 0, make_batch(1), out, -1);
    REQUIRE(out.has_value());
    CHECK(out->error == ErrorCode::kNotEnoughReplicas);
    CHECK(written_end() == end);
    r.min_insync_replicas = 1;

    // b catches up to the high watermark: the leader asks to add it back.
    r.rm.on_follower_fetch(t, 0, b, 7, written_end());
    REQUIRE(asked.size() == 2);
    CHECK(asked[1].partition_epoch == 1);
    CHECK(asked[1].isr.size() == 3);

    // Leadership moves away: a waiting acks=all append is answered
    // NOT_LEADER_OR_FOLLOWER (the producer retries on the new leader), and
    // appends are refused.
    r.rm.become_leader(t, 0, ReplicaRole{self, 1, 2, {self, a, b}, {self, a, b}});
    out.reset();
    append(f, r.rm, t, 0, make_batch(1), out, -1);
    f.run_until([&] { return written_end() == end + 1; });
    CHECK(!out.has_value());
    r.rm.become_follower(t, 0, ReplicaRole{a, 2, 3, {self, a, b}, {self, a, b}});
    REQUIRE(out.has_value());
    CHECK(out->error == ErrorCode::kNotLeaderOrFollower);
    CHECK(!r.rm.leads(t, 0));
    CHECK(r.rm.leader_epoch(t, 0) == 2);
    out.reset();
    append(f, r.rm, t, 0, make_batch(1), out, -1);
    REQUIRE(out.has_value());
    CHECK(out->error == ErrorCode::kNotLeaderOrFollower);
    // A follower's high watermark is the leader's, never above its own log.
    r.rm.on_leader_high_watermark(t, 0, end);
    CHECK(r.rm.high_watermark(t, 0) == end);
    r.rm.on_leader_high_watermark(t, 0, end + 100);
    CHECK(r.rm.high_watermark(t, 0) == written_end());
  }
  f.close_store();
}

TEST_CASE("replication: an append accepted by a leader that stops leading meanwhile") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 1);
  {
    Replicas r(f);
    const std::int32_t self = test::StoreFixture::kNode;
    const std::int32_t a = self + 100;
    r.lead_with_follower(t, a, ReplicationOptions{}.lag_time_max_ms);
    auto written_end = [&] { return f.store->partition(t, 0)->high_watermark; };
    auto log_end = [&] { return f.store->partition(t, 0)->log_end_offset; };

    // Accepted at epoch 1; while its records are checked on the
    // threadpool, a (epoch 2) leads. The append must not reach this
    // node's log (a follower holds only its leader's batches), and the
    // producer hears NOT_LEADER_OR_FOLLOWER, never a success decided by
    // the new leader's high watermark over other records at its offsets
    // (the Jepsen rolling-restart loss: four acknowledged records lost).
    for (std::int16_t acks : {std::int16_t{-1}, std::int16_t{1}}) {
      CAPTURE(acks);
      std::optional<AppendOutcome> out;
      const std::int64_t end = log_end();
      r.rm.become_leader(t, 0, ReplicaRole{self, 1, 0, {self, a}, {self, a}});
      append(f, r.rm, t, 0, make_batch(4), out, acks, 2000);
      r.rm.become_follower(t, 0, ReplicaRole{a, 2, 1, {self, a}, {self, a}});
      f.run_until([&] { return out.has_value(); });
      CHECK(out->error == ErrorCode::kNotLeaderOrFollower);
      CHECK(log_end() == end);
      // Leading again, in a later epoch, does not revive it either.
      out.reset();
      append(f, r.rm, t, 0, make_batch(1), out, acks, 2000);
      REQUIRE(out.has_value());
      CHECK(out->error == ErrorCode::kNotLeaderOrFollower);
      out.reset();
      r.rm.become_leader(t, 0, ReplicaRole{self, 3, 2, {self, a}, {self, a}});
      append(f, r.rm, t, 0, make_batch(1), out, acks, 2000);
      r.rm.become_follower(t, 0, ReplicaRole{a, 4, 3, {self, a}, {self, a}});
      r.rm.become_leader(t, 0, ReplicaRole{self, 5, 4, {self, a}, {self, a}});
      f.run_until([&] { return out.has_value(); });
      CHECK(out->error == ErrorCode::kNotLeaderOrFollower);
      CHECK(log_end() == end);
      f.run_until([&] { return written_end() == log_end(); });
    }
  }
  f.close_store();
}

TEST_CASE("replication: strict min-ISR, nothing is committed while the ISR is too small") {
  test::StoreFixture f;
  const Uuid t = f.create("events", 1);
  {
    Replicas r(f);
    r.min_insync_replicas = 2;
    const std::int32_t self = test::StoreFixture::kNode;
    const std::int32_t a = self + 100;
    const std::int32_t b = self + 101;
    r.rm.become_leader(t, 0, ReplicaRole{self, 1, 0, {self, a, b}, {self}});
    std::optional<AppendOutcome> out;
    append(f, r.rm, t, 0, make_batch(2), out);
    f.run_until([&] { return out.has_value(); });
    CHECK(out->error == ErrorCode::kNone);
    CHECK(r.rm.high_watermark(t, 0) == 0);
    // a is back in the ISR and holds the records: they are committed.
    r.rm.become_leader(t, 0, ReplicaRole{self, 1, 1, {self, a, b}, {self, a}});
    r.rm.on_follower_fetch(t, 0, a, 7, 2);
    CHECK(r.rm.high_watermark(t, 0) == 2);
    // Replication factor 1 with min.insync.replicas=2: min(2, 1) is 1.
    const Uuid single = f.create("single", 1);
    r.rm.become_leader(single, 0, ReplicaRole{self, 1, 0, {self}, {self}});
    out.reset();
    append(f, r.rm, single, 0, make_batch(3), out);
    f.run_until([&] { return out.has_value(); });
    CHECK(r.rm.high_watermark(single, 0) == 3);
  }
  f.close_store();
}

}  // namespace
}  // namespace kgw
