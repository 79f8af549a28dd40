// Three brokers as the cluster wires them: each an EtcdMetadataLog (with
// its own store) and a Controller on one in-memory etcd. A change
// submitted on any broker is decided by whichever is controller and seen
// by all; a broker that shuts down hands its leadership over; the
// controller's lease lapsing moves the role.
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"
#include "src/cluster/etcd_metadata_log.h"
#include "storage/store.h"
#include "tests/cluster/fake_kv.h"

using namespace kgw;
using namespace kgw::etcd;

namespace {

struct Broker {
  std::unique_ptr<Store> store;
  std::unique_ptr<EtcdMetadataLog> log;
  std::unique_ptr<Controller> controller;
};

class Cluster {
 public:
  explicit Cluster(int n) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    kv = std::make_unique<FakeKv>(&loop_);
    for (int id = 1; id <= n; ++id) {
      auto b = std::make_unique<Broker>();
      StoreOptions so;
      so.data_dir = "controller-log-test-" + std::to_string(id);
      so.in_memory = true;
      std::string error;
      b->store = Store::open(&loop_, so, error);
      REQUIRE(b->store != nullptr);
      EtcdMetadataLogOptions o;
      o.node_id = id;
      o.registration.host = "127.0.0.1";
      o.registration.port = 9090 + id;
      o.registration.listeners["PLAINTEXT"] = "127.0.0.1:" + std::to_string(9090 + id);
      o.session_timeout_ms = 1000;
      o.heartbeat_interval_ms = 20;
      o.retry_backoff_ms = 10;
      o.retry_backoff_max_ms = 50;
      b->log = std::make_unique<EtcdMetadataLog>(&loop_, *kv, *b->store, o);
      ControllerOptions c;
      c.node_id = id;
      EtcdMetadataLog* log = b->log.get();
      c.lease = [log] { return log->lease(); };
      c.image_revision = [log] { return log->revision(); };
      c.retry_ms = 20;
      c.followers_in_sync = true;
      b->controller = std::make_unique<Controller>(&loop_, *kv, *b->log, std::move(c));
      Controller* controller = b->controller.get();
      b->log->on_revision([controller](std::int64_t) { controller->image_advanced(); });
      brokers.push_back(std::move(b));
    }
    for (auto& b : brokers) {
      std::optional<std::string> ready;
      b->log->start([&](std::string error) { ready = error; });
      run_until([&] { return ready.has_value(); });
      REQUIRE(*ready == "");
      b->controller->start();
    }
  }
  ~Cluster() {
    for (auto& b : brokers) {
      b->controller.reset();
      b->log.reset();
    }
    kv.reset();
    for (auto& b : brokers) {
      CHECK(b->store->stop() == "");
      b->store.reset();
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }

  void run_until(const std::function<bool()>& done, int seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  int controller() const {
    int found = 0;
    for (std::size_t i = 0; i < brokers.size(); ++i) {
      if (brokers[i]->controller->is_controller()) found = static_cast<int>(i) + 1;
    }
    return found;
  }

  ErrorCode submit(int on, MetadataChange change) {
    std::optional<ErrorCode> answer;
    brokers[static_cast<std::size_t>(on - 1)]->log->submit(
        std::move(change), [&](ErrorCode e, std::string) { answer = e; });
    run_until([&] { return answer.has_value(); });
    return *answer;
  }

  uv_loop_t loop_{};
  std::unique_ptr<FakeKv> kv;
  std::vector<std::unique_ptr<Broker>> brokers;
};

CreateTopic create(const std::string& name, std::int32_t partitions, std::int32_t rf) {
  CreateTopic c;
  c.name = name;
  c.partitions = partitions;
  c.replication_factor = rf;
  return c;
}

}  // namespace

TEST_CASE("a CreateTopics on any broker is placed by the controller and seen by all") {
  Cluster c(3);
  c.run_until([&] { return c.controller() != 0; });
  const int ctl = c.controller();
  const int other = ctl % 3 + 1;
  CHECK(c.submit(other, create("events", 6, 2)) == ErrorCode::kNone);
  for (auto& b : c.brokers) {
    c.run_until([&] { return b->log->image()->topic("events") != nullptr; });
    TopicPtr t = b->log->image()->topic("events");
    REQUIRE(t->partition_count() == 6);
    std::map<std::int32_t, int> leaders;
    for (const PartitionImage& p : t->partitions) {
      CHECK(p.replicas.size() == 2);
      ++leaders[p.leader];
    }
    CHECK(leaders.size() == 3);  // spread over the three brokers
    CHECK(b->log->image()->controller_id() == ctl);
  }
  CHECK(c.submit(other, create("events", 1, 1)) == ErrorCode::kTopicAlreadyExists);

  SUBCASE("a broker's controlled shutdown moves its leadership before its lease goes") {
    const int leaving = other;
    bool done = false;
    c.brokers[static_cast<std::size_t>(leaving - 1)]->controller->controlled_shutdown(
        [&] { done = true; });
    c.run_until([&] { return done; });
    Broker& watcher = *c.brokers[static_cast<std::size_t>(ctl - 1)];
    c.run_until([&] {
      for (const PartitionImage& p : watcher.log->image()->topic("events")->partitions) {
        if (p.leader == leaving) return false;
      }
      return true;
    });
    CHECK(watcher.log->image()->broker(leaving)->fenced == false);  // still registered
  }
  SUBCASE("the controller's lease lapses: another broker (or it, re-registered) takes over") {
    Broker& old = *c.brokers[static_cast<std::size_t>(ctl - 1)];
    const std::int64_t epoch = old.controller->epoch();
    c.kv->expire_lease(old.log->lease());
    c.run_until([&] {
      return c.controller() != 0 &&
             c.brokers[static_cast<std::size_t>(c.controller() - 1)]->controller->epoch() > epoch;
    });
    CHECK(c.submit(1, create("after", 3, 3)) == ErrorCode::kNone);
    c.run_until([&] {
      TopicPtr t = c.brokers[2]->log->image()->topic("after");
      return t != nullptr && t->partition_count() == 3;
    });
  }
}

TEST_CASE("a leader's AlterPartition: when it is answered, its own image shows the new ISR") {
  Cluster c(3);
  c.run_until([&] { return c.controller() != 0; });
  CHECK(c.submit(1, create("isr", 1, 3)) == ErrorCode::kNone);
  EtcdMetadataLog* any = c.brokers[0]->log.get();
  c.run_until([&] { return any->image()->topic("isr") != nullptr; });
  const PartitionImage p = any->image()->topic("isr")->partitions[0];
  REQUIRE(p.isr.size() == 3);
  EtcdMetadataLog& leader = *c.brokers[static_cast<std::size_t>(p.leader - 1)]->log;
  c.run_until([&] { return leader.image()->topic("isr") != nullptr; });
  const Uuid id = leader.image()->topic("isr")->id;
  const AlterPartition shrink{p.leader,
                              leader.broker_epoch(),
                              id,
                              0,
                              p.leader_epoch,
                              p.partition_epoch,
                              {{p.leader, leader.broker_epoch()}}};

  std::optional<ErrorCode> answer;
  std::optional<PartitionImage> seen;
  leader.submit(shrink, [&](ErrorCode e, std::string) {
    answer = e;
    seen = leader.image()->topic(id)->partitions[0];
  });
  c.run_until([&] { return answer.has_value(); });
  CHECK(*answer == ErrorCode::kNone);
  CHECK(seen->isr == std::vector<std::int32_t>{p.leader});
  CHECK(seen->partition_epoch == p.partition_epoch + 1);
  CHECK(seen->leader_epoch == p.leader_epoch);
  CHECK(seen->leader == p.leader);

  // Sent again it is stale: refused by the leader's own image at once.
  CHECK(c.submit(p.leader, shrink) == ErrorCode::kInvalidUpdateVersion);
}
