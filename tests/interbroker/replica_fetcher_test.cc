// ReplicaFetchers against a fake leader on a loopback socket whose log is a
// real (in-memory) Store: the follower's own in-memory Store must end up
// byte for byte the leader's, offsets and leader epochs included, at every
// Fetch version family (v9: names and the header's replica id, v12: last
// fetched epoch, v17: topic ids and ReplicaState); a diverging follower is
// truncated (by OffsetForLeaderEpoch, and by a Fetch answer's diverging
// epoch); a follower below the leader's log start starts afresh there;
// after unfollow() an answer that comes back appends nothing.
#include "src/interbroker/replica_fetcher.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "all_messages.h"
#include "protocol/records/record_batch_builder.h"
#include "src/cluster/metadata_image.h"
#include "src/interbroker/inter_broker_client.h"
#include "src/txn/producer_state_manager.h"
#include "storage/producer_store.h"
#include "storage/store.h"
#include "tests/interbroker/loopback_server.h"
#include "tests/replica/test_loop.h"

namespace kgw {
namespace {

constexpr std::int32_t kLeader = 1;
constexpr std::int32_t kFollower = 2;
constexpr std::int64_t kBrokerEpoch = 77;
using test::TestLoop;

std::unique_ptr<Store> open_store(uv_loop_t* loop, const std::string& name) {
  StoreOptions o;
  o.data_dir = name;
  o.in_memory = true;
  std::string error;
  auto s = Store::open(loop, o, error);
  INFO(error);
  REQUIRE(s != nullptr);
  return s;
}

// A leader whose log is `store`: answers ApiVersions, OffsetForLeaderEpoch
// and Fetch as a kgw leader does (OFFSET_OUT_OF_RANGE outside [log start,
// high watermark], diverging_epoch from v12), an answer without data after
// a short wait (the long poll).
class FakeLeader {
 public:
  FakeLeader(uv_loop_t* loop, Store& store)
      : store_(store),
        timers_(loop),
        server_(loop, [this](test::LoopbackServer::Request& r) { return on_request(r); }) {}

  std::int32_t port() const { return server_.port(); }

  std::int16_t fetch_max_version = 17;
  // OffsetForLeaderEpoch answers "your epoch ends where your log does" (a
  // leader that cannot tell), so only a Fetch answer's diverging epoch
  // can truncate.
  bool epochs_agree = false;
  // Keep Fetch requests unanswered until release().
  bool hold = false;
  // Answer every Fetch partition FENCED_LEADER_EPOCH.
  bool fence = false;
  int connections() const { return server_.connections; }
  void drop_connections() { server_.close_all(); }

  std::vector<std::int16_t> fetch_versions;
  std::vector<std::int32_t> fetch_replica_ids;
  std::vector<std::int64_t> fetch_replica_epochs;
  int epoch_requests = 0;
  int diverging_answers = 0;
  int out_of_range_answers = 0;
  std::size_t held() const { return held_.size(); }
  void release() {
    hold = false;
    auto held = std::move(held_);
    for (auto& ask : held) serve(std::make_shared<Ask>(std::move(ask)));
  }

 private:
  struct PartAsk {
    Uuid topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::int32_t last_fetched_epoch = -1;
    std::int32_t max_bytes = 0;
    // The answer.
    FetchResponse::PartitionData out;
    std::vector<std::uint8_t> data;
  };
  struct Ask {
    std::uint64_t client = 0;
    std::int16_t version = 0;
    std::int32_t correlation_id = 0;
    std::vector<PartAsk> parts;
    int pending = 0;
    bool long_polled = false;
  };

  bool on_request(test::LoopbackServer::Request& q) {
    if (q.key == ApiVersionsRequest::api_key) {
      ApiVersionsRequest req;
      REQUIRE(req.decode(q.body, q.version));
      ApiVersionsResponse resp;
      resp.api_keys.push_back({ApiVersionsRequest::api_key, 0, 3, {}});
      resp.api_keys.push_back({FetchRequest::api_key, 4, fetch_max_version, {}});
      resp.api_keys.push_back({OffsetForLeaderEpochRequest::api_key, 0, 4, {}});
      server_.answer(q.client, q.key, q.version, q.correlation_id, resp);
      return true;
    }
    if (q.key == OffsetForLeaderEpochRequest::api_key) {
      ++epoch_requests;
      OffsetForLeaderEpochRequest req;
      REQUIRE(req.decode(q.body, q.version));
      CHECK(req.replica_id == kFollower);
      OffsetForLeaderEpochResponse resp;
      for (const auto& t : req.topics) {
        auto& rt = resp.topics.emplace_back();
        rt.topic = t.topic;
        const TopicInfo* info = store_.find_topic(t.topic);
        REQUIRE(info != nullptr);
        for (const auto& p : t.partitions) {
          auto& rp = rt.partitions.emplace_back();
          rp.partition = p.partition;
          if (epochs_agree) {
            rp.leader_epoch = p.leader_epoch;
            rp.end_offset = std::int64_t{1} << 40;
            continue;
          }
          const Store::EpochEnd e =
              store_.end_offset_for_epoch(info->id, p.partition, p.leader_epoch);
          rp.leader_epoch = e.epoch;
          rp.end_offset = e.end_offset;
        }
      }
      server_.answer(q.client, q.key, q.version, q.correlation_id, resp);
      return true;
    }
    REQUIRE(q.key == FetchRequest::api_key);
    FetchRequest req;
    REQUIRE(req.decode(q.body, q.version));
    fetch_versions.push_back(q.version);
    fetch_replica_ids.push_back(q.version >= 15 ? req.replica_state.replica_id : req.replica_id);
    fetch_replica_epochs.push_back(q.version >= 15 ? req.replica_state.replica_epoch : -1);
    Ask ask;
    ask.client = q.client;
    ask.version = q.version;
    ask.correlation_id = q.correlation_id;
    for (const auto& t : req.topics) {
      const TopicInfo* info =
          q.version >= 13 ? store_.find_topic(t.topic_id) : store_.find_topic(t.topic);
      REQUIRE(info != nullptr);
      for (const auto& p : t.partitions) {
        PartAsk& pa = ask.parts.emplace_back();
        pa.topic = info->id;
        pa.partition = p.partition;
        pa.offset = p.fetch_offset;
        pa.last_fetched_epoch = p.last_fetched_epoch;
        pa.max_bytes = p.partition_max_bytes;
      }
    }
    if (hold) {
      held_.push_back(std::move(ask));
    } else {
      serve(std::make_shared<Ask>(std::move(ask)));
    }
    return true;
  }

  void serve(const std::shared_ptr<Ask>& ask) {
    ask->pending = 1;
    for (PartAsk& pa : ask->parts) {
      const PartitionState* st = store_.partition(pa.topic, pa.partition);
      REQUIRE(st != nullptr);
      pa.out.partition_index = pa.partition;
      pa.out.high_watermark = st->high_watermark;
      pa.out.log_start_offset = st->log_start_offset;
      if (fence) {
        pa.out.error_code = code(ErrorCode::kFencedLeaderEpoch);
        continue;
      }
      if (ask->version >= 12 && pa.last_fetched_epoch >= 0) {
        const Store::EpochEnd e =
            store_.end_offset_for_epoch(pa.topic, pa.partition, pa.last_fetched_epoch);
        if (e.epoch < pa.last_fetched_epoch || e.end_offset < pa.offset) {
          ++diverging_answers;
          pa.out.diverging_epoch.epoch = e.epoch;
          pa.out.diverging_epoch.end_offset = e.end_offset;
          continue;
        }
      }
      if (pa.offset < st->log_start_offset || pa.offset > st->high_watermark) {
        ++out_of_range_answers;
        pa.out.error_code = code(ErrorCode::kOffsetOutOfRange);
        continue;
      }
      ++ask->pending;
      store_.read(pa.topic, pa.partition, pa.offset, pa.max_bytes, [this, ask, &pa](ReadResult r) {
        REQUIRE(r.error == "");
        pa.data = std::move(r.data);
        if (--ask->pending == 0) answer(ask);
      });
    }
    if (--ask->pending == 0) answer(ask);
  }

  void answer(const std::shared_ptr<Ask>& ask) {
    bool any = false;
    for (const PartAsk& pa : ask->parts) {
      any = any || !pa.data.empty() || pa.out.error_code != 0 || pa.out.diverging_epoch.epoch >= 0;
    }
    if (!any && !ask->long_polled) {
      // The long poll, shortened: answer empty a little later.
      ask->long_polled = true;
      timers_.schedule(10, [this, ask] { answer(ask); });
      return;
    }
    FetchResponse resp;
    std::map<Uuid, std::size_t> topics;
    for (PartAsk& pa : ask->parts) {
      auto [it, added] = topics.emplace(pa.topic, resp.responses.size());
      if (added) {
        auto& t = resp.responses.emplace_back();
        t.topic_id = pa.topic;
        t.topic = store_.find_topic(pa.topic)->name;
      }
      pa.out.records = Bytes(pa.data);
      resp.responses[it->second].partitions.push_back(pa.out);
    }
    server_.answer(ask->client, FetchRequest::api_key, ask->version, ask->correlation_id, resp);
  }

  Store& store_;
  TimerQueue timers_;
  test::LoopbackServer server_;
  std::vector<Ask> held_;
};

struct Fixture {
  explicit Fixture(std::int16_t fetch_max_version = 17) {
    leader_store = open_store(loop.get(), "leader");
    follower_store = open_store(loop.get(), "follower");
    producer_store = std::make_unique<ProducerStore>(*follower_store);
    producers = std::make_unique<ProducerStateManager>(*producer_store);
    leader = std::make_unique<FakeLeader>(loop.get(), *leader_store);
    leader->fetch_max_version = fetch_max_version;
    image = std::make_shared<const MetadataImage>()->apply(
        RegisterBroker{{kLeader, "127.0.0.1", leader->port(), std::nullopt}});
    client = std::make_unique<InterBrokerClient>(loop.get(), kFollower, [this] { return image; });
    ReplicaFetcherOptions options;
    options.fetch_backoff_ms = 20;
    options.fetch_wait_max_ms = 50;
    ReplicaFetcherHooks hooks;
    hooks.broker_epoch = [] { return kBrokerEpoch; };
    hooks.on_high_watermark = [this](const Uuid&, std::int32_t p, std::int64_t hw) {
      high_watermarks[p] = hw;
      reports[p].push_back(hw);
    };
    hooks.high_watermark = [this](const Uuid&, std::int32_t p) {
      auto it = high_watermarks.find(p);
      return it == high_watermarks.end() ? std::int64_t{-1} : it->second;
    };
    fetchers = std::make_unique<ReplicaFetchers>(loop.get(), *follower_store, *producers, *client,
                                                 kFollower, options, std::move(hooks));
  }
  ~Fixture() {
    fetchers->stop();
    client->stop();
    CHECK(follower_store->stop() == "");
    CHECK(leader_store->stop() == "");
    fetchers.reset();
    client.reset();
    leader.reset();
    producers.reset();
    producer_store.reset();
    follower_store.reset();
    leader_store.reset();
  }

  // The topic in both stores, with the same id.
  Uuid create_topic(const std::string& name, std::int32_t partitions) {
    TopicInfo info;
    info.name = name;
    info.partitions = partitions;
    int done = 0;
    leader_store->create_topic(info, [&](const std::string& e) {
      CHECK(e == "");
      ++done;
    });
    info.id = leader_store->find_topic(name)->id;
    follower_store->create_topic(info, [&](const std::string& e) {
      CHECK(e == "");
      ++done;
    });
    loop.run_until([&] { return done == 2; });
    return info.id;
  }

  // Appends `batches` batches of `records` records as leader of `epoch`.
  static void write(TestLoop& loop, Store& store, const Uuid& topic, std::int32_t partition,
                    std::int32_t epoch, int batches, int records, const std::string& tag) {
    store.set_leader_epoch(topic, partition, epoch);
    int done = 0;
    for (int b = 0; b < batches; ++b) {
      RecordBatchBuilder builder(RecordBatchOptions{});
      for (int r = 0; r < records; ++r) {
        const std::string value = tag + "-" + std::to_string(b) + "-" + std::to_string(r);
        REQUIRE(builder.add(1700000000000 + r, std::nullopt, Bytes(value)) == RecordError::kNone);
      }
      std::vector<std::uint8_t> batch;
      REQUIRE(builder.build(batch) == RecordError::kNone);
      store.append(topic, partition, {std::move(batch)}, [&](AppendResult r) {
        CHECK(r.error == "");
        ++done;
      });
    }
    loop.run_until([&] { return done == batches; });
    store.set_leader_epoch(topic, partition, -1);
  }
  void lead(const Uuid& topic, std::int32_t partition, std::int32_t epoch, int batches,
            int records = 3, const std::string& tag = "l") {
    write(loop, *leader_store, topic, partition, epoch, batches, records, tag);
  }

  static std::vector<std::uint8_t> read_all(TestLoop& loop, Store& store, const Uuid& topic,
                                            std::int32_t partition) {
    std::optional<ReadResult> got;
    const PartitionState* st = store.partition(topic, partition);
    store.read(topic, partition, st->log_start_offset, 64 << 20,
               [&](ReadResult r) { got = std::move(r); });
    loop.run_until([&] { return got.has_value(); });
    REQUIRE(got->error == "");
    return got->data;
  }

  // The follower's log is the leader's: ends, starts, bytes, epochs (but
  // for a follower that started afresh at the leader's log start: its
  // epochs start there, while the leader keeps its entries below).
  void check_same(const Uuid& topic, std::int32_t partition, bool same_epochs = true) {
    const PartitionState* l = leader_store->partition(topic, partition);
    const PartitionState* f = follower_store->partition(topic, partition);
    CHECK(f->log_end_offset == l->log_end_offset);
    CHECK(f->log_start_offset == l->log_start_offset);
    CHECK(read_all(loop, *follower_store, topic, partition) ==
          read_all(loop, *leader_store, topic, partition));
    if (same_epochs) {
      CHECK(follower_store->leader_epochs(topic, partition) ==
            leader_store->leader_epochs(topic, partition));
    }
  }
  void wait_caught_up(const Uuid& topic, std::int32_t partition) {
    const std::int64_t end = leader_store->partition(topic, partition)->log_end_offset;
    loop.run_until([&] {
      auto it = high_watermarks.find(partition);
      return follower_store->partition(topic, partition)->high_watermark == end &&
             it != high_watermarks.end() && it->second == end;
    });
  }

  TestLoop loop;
  std::unique_ptr<Store> leader_store;
  std::unique_ptr<Store> follower_store;
  std::unique_ptr<ProducerStore> producer_store;
  std::unique_ptr<ProducerStateManager> producers;
  std::unique_ptr<FakeLeader> leader;
  ImagePtr image;
  std::unique_ptr<InterBrokerClient> client;
  std::unique_ptr<ReplicaFetchers> fetchers;
  std::map<std::int32_t, std::int64_t> high_watermarks;
  std::map<std::int32_t, std::vector<std::int64_t>> reports;  // every high watermark reported
};

TEST_CASE("a follower's log becomes the leader's: offsets, epochs and bytes, at each version") {
  for (std::int16_t version : {std::int16_t{17}, std::int16_t{12}, std::int16_t{9}}) {
    CAPTURE(version);
    Fixture fx(version);
    const Uuid topic = fx.create_topic("t", 2);
    fx.lead(topic, 0, 1, 3);
    fx.lead(topic, 0, 3, 2, 5);
    fx.lead(topic, 1, 2, 4, 1);
    fx.fetchers->follow(topic, 0, kLeader, 3);
    fx.fetchers->follow(topic, 1, kLeader, 2);
    fx.wait_caught_up(topic, 0);
    fx.wait_caught_up(topic, 1);
    fx.check_same(topic, 0);
    fx.check_same(topic, 1);
    CHECK(fx.follower_store->partition(topic, 0)->log_end_offset == 19);
    CHECK(fx.follower_store->leader_epochs(topic, 0) ==
          std::map<std::int32_t, std::int64_t>{{1, 0}, {3, 9}});
    // One fetcher carries both partitions.
    CHECK(fx.fetchers->fetcher_count() == 1);
    REQUIRE(!fx.leader->fetch_versions.empty());
    CHECK(fx.leader->fetch_versions.back() == version);
    for (std::int32_t id : fx.leader->fetch_replica_ids) CHECK(id == kFollower);
    if (version >= 15) CHECK(fx.leader->fetch_replica_epochs.back() == kBrokerEpoch);

    // Later appends follow, through the long poll.
    fx.lead(topic, 0, 3, 2, 2, "more");
    fx.wait_caught_up(topic, 0);
    fx.check_same(topic, 0);
  }
}

// Leader and follower share epoch 1's batches; then the follower wrote
// epoch 2 alone (a leader that lost its leadership before replicating)
// and the leader wrote epoch 3.
void diverge(Fixture& fx, const Uuid& topic) {
  fx.lead(topic, 0, 1, 3);
  fx.fetchers->follow(topic, 0, kLeader, 1);
  fx.wait_caught_up(topic, 0);
  fx.fetchers->unfollow(topic, 0);
  Fixture::write(fx.loop, *fx.follower_store, topic, 0, 2, 2, 4, "lost");
  fx.lead(topic, 0, 3, 3, 2, "new");
  CHECK(fx.follower_store->partition(topic, 0)->log_end_offset == 17);
  CHECK(fx.leader_store->partition(topic, 0)->log_end_offset == 15);
}

TEST_CASE("a diverging follower truncates to where the leader's epoch ends") {
  SUBCASE("asked with OffsetForLeaderEpoch") {
    Fixture fx;
    const Uuid topic = fx.create_topic("t", 1);
    diverge(fx, topic);
    // As if this replica's high watermark had reached its own end: the
    // truncation to 9 brings it down to 9 (then the leader's 15 comes).
    fx.high_watermarks[0] = 17;
    fx.reports[0].clear();
    fx.fetchers->follow(topic, 0, kLeader, 3);
    fx.wait_caught_up(topic, 0);
    fx.check_same(topic, 0);
    CHECK(fx.leader->epoch_requests >= 1);
    REQUIRE(!fx.reports[0].empty());
    CHECK(fx.reports[0].front() == 9);
    CHECK(fx.follower_store->leader_epochs(topic, 0) ==
          std::map<std::int32_t, std::int64_t>{{1, 0}, {3, 9}});
  }
  SUBCASE("told by a Fetch answer's diverging epoch") {
    Fixture fx;
    const Uuid topic = fx.create_topic("t", 1);
    diverge(fx, topic);
    fx.leader->epochs_agree = true;
    fx.fetchers->follow(topic, 0, kLeader, 3);
    fx.wait_caught_up(topic, 0);
    fx.check_same(topic, 0);
    CHECK(fx.leader->diverging_answers >= 1);
  }
}

TEST_CASE("a follower below the leader's log start starts afresh there") {
  Fixture fx;
  const Uuid topic = fx.create_topic("t", 1);
  fx.lead(topic, 0, 1, 4);
  int done = 0;
  fx.leader_store->set_log_start_offset(topic, 0, 6, [&](const std::string& e) {
    CHECK(e == "");
    ++done;
  });
  fx.loop.run_until([&] { return done == 1; });
  fx.fetchers->follow(topic, 0, kLeader, 1);
  fx.wait_caught_up(topic, 0);
  CHECK(fx.leader->out_of_range_answers >= 1);
  CHECK(fx.follower_store->partition(topic, 0)->log_start_offset == 6);
  fx.check_same(topic, 0, false);
  CHECK(fx.follower_store->leader_epochs(topic, 0) == std::map<std::int32_t, std::int64_t>{{1, 6}});
}

TEST_CASE("after unfollow an answer that comes back appends nothing") {
  Fixture fx;
  const Uuid topic = fx.create_topic("t", 2);
  fx.lead(topic, 0, 1, 2);
  fx.lead(topic, 1, 1, 2);
  fx.fetchers->follow(topic, 0, kLeader, 1);
  fx.wait_caught_up(topic, 0);
  const std::int64_t end = fx.follower_store->partition(topic, 0)->log_end_offset;

  // A Fetch waits at the leader when the partition is dropped; data
  // arrives and the leader answers with it.
  fx.leader->hold = true;
  fx.loop.run_until([&] { return fx.leader->held() == 1; });
  fx.fetchers->unfollow(topic, 0);
  CHECK(!fx.fetchers->status(topic, 0).has_value());
  fx.lead(topic, 0, 1, 2, 3, "late");
  fx.leader->release();
  // The fetcher handles one answer at a time: once partition 1 (same
  // leader, same fetcher) caught up, the late answer was handled.
  fx.fetchers->follow(topic, 1, kLeader, 1);
  fx.wait_caught_up(topic, 1);
  CHECK(fx.follower_store->partition(topic, 0)->log_end_offset == end);
  CHECK(fx.leader_store->partition(topic, 0)->log_end_offset > end);

  // A partition without a leader, or led here, is not fetched.
  fx.fetchers->follow(topic, 1, -1, 2);
  CHECK(!fx.fetchers->status(topic, 1).has_value());
  fx.fetchers->follow(topic, 1, kLeader, 2);
  CHECK(fx.fetchers->status(topic, 1).has_value());
  fx.fetchers->follow(topic, 1, kFollower, 3);
  CHECK(!fx.fetchers->status(topic, 1).has_value());
  CHECK(fx.fetchers->partition_count() == 0);
}

TEST_CASE("a fenced partition waits for a newer epoch; a dropped connection is retried") {
  Fixture fx;
  const Uuid topic = fx.create_topic("t", 1);
  fx.lead(topic, 0, 1, 2);
  fx.fetchers->follow(topic, 0, kLeader, 1);
  fx.wait_caught_up(topic, 0);

  fx.leader->drop_connections();
  fx.lead(topic, 0, 1, 1, 1, "after-drop");
  fx.wait_caught_up(topic, 0);
  CHECK(fx.leader->connections() >= 2);

  fx.leader->fence = true;
  fx.loop.run_until(
      [&] { return fx.fetchers->status(topic, 0)->state == ReplicaFetchers::State::kFenced; });
  fx.leader->fence = false;
  fx.lead(topic, 0, 2, 1, 1, "epoch-2");
  // The same epoch again changes nothing: still fenced.
  fx.fetchers->follow(topic, 0, kLeader, 1);
  CHECK(fx.fetchers->status(topic, 0)->state == ReplicaFetchers::State::kFenced);
  fx.fetchers->follow(topic, 0, kLeader, 2);
  fx.wait_caught_up(topic, 0);
  fx.check_same(topic, 0);
}

}  // namespace
}  // namespace kgw
