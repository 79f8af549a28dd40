// Tests of EtcdMetadataLog (src/cluster/etcd_metadata_log.h) against the
// in-memory etcd (FakeKv) and a real Store (in memory) on a real libuv
// loop. The tests play the controller: they write the keys a controller
// writes (with the layout's encoders) and answer requests.
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "src/cluster/etcd_layout.h"
#include "src/cluster/etcd_metadata_log.h"
#include "storage/store.h"
#include "tests/cluster/fake_kv.h"

using namespace kgw;
using namespace kgw::etcd;

namespace {

const std::string P = "/kgw/";

struct Answer {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
};

Uuid uuid(std::uint8_t seed) {
  Uuid id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    id.bytes[i] = static_cast<std::uint8_t>(seed * 31 + i);
  }
  return id;
}

PartitionImage part(std::int32_t index, std::vector<std::int32_t> replicas, std::int32_t leader,
                    std::int32_t epoch = 0) {
  PartitionImage p;
  p.index = index;
  p.leader = leader;
  p.leader_epoch = epoch;
  p.partition_epoch = epoch;
  p.replicas = replicas;
  p.isr = replicas;
  return p;
}

Op put(std::string key, std::string value, std::int64_t lease = 0) {
  return put_op(std::move(key), std::move(value), lease);
}

Op del(std::string key) {
  return delete_op(std::move(key));
}

// The puts a controller makes for a topic.
std::vector<Op> topic_ops(const std::string& name, const Uuid& id, std::int32_t partitions,
                          std::vector<std::int32_t> replicas, ConfigMap configs = {}) {
  std::vector<Op> ops;
  ops.push_back(put(layout::topic_key(P, name), layout::encode_topic({id, configs, partitions})));
  for (std::int32_t i = 0; i < partitions; ++i) {
    ops.push_back(put(layout::partition_key(P, id, i),
                      layout::encode_partition(part(i, replicas, replicas.front()))));
  }
  return ops;
}

class Harness {
 public:
  explicit Harness(std::int64_t request_timeout_ms = 2000) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    kv = std::make_unique<FakeKv>(&loop_);
    StoreOptions o;
    o.data_dir = "etcd-metadata-log-test";
    o.in_memory = true;
    std::string error;
    store = Store::open(&loop_, o, error);
    INFO(error);
    REQUIRE(store != nullptr);
    options.node_id = 1;
    options.prefix = P;
    options.registration.host = "127.0.0.1";
    options.registration.port = 9092;
    options.registration.listeners["PLAINTEXT"] = "127.0.0.1:9092";
    options.cluster_id = "local-cluster-id";
    options.session_timeout_ms = 1000;
    options.heartbeat_interval_ms = 20;
    options.request_timeout_ms = request_timeout_ms;
    options.retry_backoff_ms = 10;
    options.retry_backoff_max_ms = 50;
  }
  ~Harness() {
    log.reset();
    kv.reset();
    CHECK(store->stop() == "");
    store.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }

  void start() {
    log = std::make_unique<EtcdMetadataLog>(&loop_, *kv, *store, options);
    log->add_listener([this](const MetadataImage& before, const MetadataImage& after,
                             const MetadataChange& change) {
      CHECK(after.version() == before.version() + 1);
      seen.push_back(change_name(change));
    });
    std::optional<std::string> ready;
    log->start([&](std::string error) { ready = error; });
    run_until([&] { return ready.has_value(); });
    REQUIRE(*ready == "");
  }

  // A txn as the controller writes it; true if it succeeded.
  bool txn(std::vector<Op> ops, std::vector<Compare> compare = {}) {
    TxnRequest t;
    t.compare = std::move(compare);
    t.success = std::move(ops);
    std::optional<bool> ok;
    kv->txn(std::move(t), [&](Status s, TxnResult r) { ok = s.ok() && r.succeeded; });
    run_until([&] { return ok.has_value(); });
    return *ok;
  }

  void run_until(const std::function<bool()>& done, int seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }
  void run_for(int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
  }

  // The first request key in etcd, if any.
  std::optional<KeyValue> request() const {
    for (const auto& [key, kv_] : kv->data()) {
      if (key.rfind(layout::requests_prefix(P), 0) == 0) return kv_;
    }
    return std::nullopt;
  }
  // The result key of a request key.
  static std::string result_of(const std::string& request_key) {
    return layout::results_prefix(P) + request_key.substr(layout::requests_prefix(P).size());
  }

  uv_loop_t loop_{};
  std::unique_ptr<FakeKv> kv;
  std::unique_ptr<Store> store;
  EtcdMetadataLogOptions options;
  std::unique_ptr<EtcdMetadataLog> log;
  std::vector<std::string> seen;
};

CreateTopic create(const std::string& name, std::int32_t partitions) {
  CreateTopic c;
  c.name = name;
  c.partitions = partitions;
  return c;
}

}  // namespace

TEST_CASE("a data dir of another cluster is refused, its topics kept") {
  Harness h;
  REQUIRE(h.txn({put(layout::cluster_key(P), layout::encode_cluster({"the-cluster"}))}));
  TopicInfo mine;
  mine.name = "mine";
  mine.partitions = 1;
  h.store->create_topic(mine, [](std::string) {});
  REQUIRE(h.store->find_topic("mine") != nullptr);
  h.options.cluster_id = "local-cluster-id";  // this data dir was a single node
  h.log = std::make_unique<EtcdMetadataLog>(&h.loop_, *h.kv, *h.store, h.options);
  std::optional<std::string> ready;
  h.log->start([&](std::string error) { ready = error; });
  h.run_until([&] { return ready.has_value(); });
  CHECK(ready->find("belongs to cluster local-cluster-id") != std::string::npos);
  CHECK(ready->find("holds cluster the-cluster") != std::string::npos);
  CHECK(h.store->find_topic("mine") != nullptr);
}

TEST_CASE("start adopts the cluster, builds the image from etcd, mirrors it and registers") {
  Harness h;
  // A cluster that exists: another broker and a topic.
  std::vector<Op> ops{
      put(layout::cluster_key(P), layout::encode_cluster({"the-cluster"})),
      put(layout::broker_key(P, 2), layout::encode_broker({2, "h2", 9093, {}, {}})),
      put(layout::registered_key(P, 2), layout::encode_broker({2, "h2", 9093, {}, {}}, false))};
  for (Op& op : topic_ops("orders", uuid(1), 3, {2}, {{"retention.ms", "1000"}})) {
    ops.push_back(std::move(op));
  }
  REQUIRE(h.txn(ops));
  // This data dir (of this cluster) holds a topic the cluster no longer
  // knows (deleted while it was down): it goes.
  h.options.cluster_id = "the-cluster";
  TopicInfo stray;
  stray.name = "stray";
  stray.partitions = 1;
  h.store->create_topic(stray, [](std::string) {});
  REQUIRE(h.store->find_topic("stray") != nullptr);

  h.start();
  CHECK(h.log->cluster_id() == "the-cluster");
  ImagePtr image = h.log->image();
  TopicPtr t = image->topic("orders");
  REQUIRE(t != nullptr);
  CHECK(t->id == uuid(1));
  CHECK(t->partition_count() == 3);
  CHECK(t->partitions[2].leader == 2);
  REQUIRE(image->broker(2) != nullptr);
  REQUIRE(image->broker(1) != nullptr);
  CHECK_FALSE(image->broker(1)->fenced);
  CHECK(image->broker(1)->epoch == h.log->broker_epoch());
  CHECK(h.log->revision() == h.kv->revision());

  const TopicInfo* stored = h.store->find_topic("orders");
  REQUIRE(stored != nullptr);
  CHECK(stored->id == uuid(1));
  CHECK(stored->partitions == 3);
  CHECK(stored->configs.at("retention.ms") == "1000");
  CHECK(h.store->find_topic("stray") == nullptr);

  const auto& data = h.kv->data();
  REQUIRE(data.count(layout::broker_key(P, 1)) == 1);
  CHECK(data.at(layout::broker_key(P, 1)).lease == h.log->lease());
  layout::BrokerRegistration reg;
  REQUIRE(layout::decode_broker(data.at(layout::broker_key(P, 1)).value, reg) == "");
  CHECK(reg.listeners.at("PLAINTEXT") == "127.0.0.1:9092");
  REQUIRE(data.count(layout::registered_key(P, 1)) == 1);
  CHECK(data.at(layout::registered_key(P, 1)).lease == 0);
}

TEST_CASE("a single node's metadata becomes the first node's of a new cluster") {
  Harness h;
  TopicInfo local;
  local.name = "local";
  local.partitions = 2;
  local.configs["cleanup.policy"] = "compact";
  h.store->create_topic(local, [](std::string) {});
  const Uuid id = h.store->find_topic("local")->id;

  h.start();
  CHECK(h.log->cluster_id() == "local-cluster-id");
  layout::ClusterRecord c;
  REQUIRE(layout::decode_cluster(h.kv->data().at(layout::cluster_key(P)).value, c) == "");
  CHECK(c.cluster_id == "local-cluster-id");
  TopicPtr t = h.log->image()->topic("local");
  REQUIRE(t != nullptr);
  CHECK(t->id == id);
  CHECK(t->configs.at("cleanup.policy") == "compact");
  REQUIRE(t->partition_count() == 2);
  CHECK(t->partitions[1].replicas == std::vector<std::int32_t>{1});
  CHECK(h.kv->data().count(layout::partition_key(P, id, 1)) == 1);
  // Still in the store, same id.
  REQUIRE(h.store->find_topic("local") != nullptr);
  CHECK(h.store->find_topic("local")->id == id);
}

TEST_CASE("what the controller writes reaches the image, the store and the listeners") {
  Harness h;
  h.start();
  h.seen.clear();
  std::vector<std::string> topics_seen;
  h.log->add_listener(
      [&](const MetadataImage& before, const MetadataImage& after, const MetadataChange& change) {
        if (std::holds_alternative<CreateTopic>(change)) {
          CHECK(before.topic("t") == nullptr);
          CHECK(after.topic("t") != nullptr);
          // The store holds the topic before the listeners run.
          CHECK(h.store->find_topic("t") != nullptr);
          topics_seen.push_back("t");
        }
      });
  REQUIRE(h.txn(topic_ops("t", uuid(2), 2, {1})));
  h.run_until([&] { return h.log->image()->topic("t") != nullptr; });
  CHECK(h.seen == std::vector<std::string>{"CreateTopic"});
  CHECK(topics_seen.size() == 1);
  REQUIRE(h.store->find_topic("t") != nullptr);
  CHECK(h.store->find_topic("t")->partitions == 2);

  // More partitions and new configs in one txn.
  std::vector<Op> grow = topic_ops("t", uuid(2), 3, {1}, {{"retention.ms", "5"}});
  grow.erase(grow.begin() + 1, grow.begin() + 3);  // partitions 0 and 1 unchanged
  REQUIRE(h.txn(grow));
  h.run_until([&] { return h.log->image()->topic("t")->partition_count() == 3; });
  CHECK(h.store->find_topic("t")->partitions == 3);
  CHECK(h.store->find_topic("t")->configs.at("retention.ms") == "5");

  // A leader change.
  REQUIRE(h.txn(
      {put(layout::partition_key(P, uuid(2), 0), layout::encode_partition(part(0, {1}, -1, 1)))}));
  h.run_until([&] { return h.log->image()->topic("t")->partitions[0].leader == -1; });

  // Deleted.
  REQUIRE(h.txn({del(layout::topic_key(P, "t")), del(layout::partition_key(P, uuid(2), 0)),
                 del(layout::partition_key(P, uuid(2), 1)),
                 del(layout::partition_key(P, uuid(2), 2))}));
  h.run_until([&] { return h.log->image()->topic("t") == nullptr; });
  CHECK(h.store->find_topic("t") == nullptr);
  CHECK(h.seen == std::vector<std::string>{"CreateTopic", "SetTopicConfigs", "CreatePartitions",
                                           "SetPartitionStates", "DeleteTopic"});
}

TEST_CASE("a submitted change is answered once the controller's result and change arrive") {
  Harness h;
  h.start();
  std::optional<Answer> answer;
  bool in_image_when_answered = false;
  h.log->submit(create("new", 2), [&](ErrorCode e, std::string m) {
    in_image_when_answered = h.log->image()->topic("new") != nullptr;
    answer = Answer{e, m};
  });
  h.run_until([&] { return h.request().has_value(); });
  KeyValue req = *h.request();
  CHECK(req.lease == h.log->lease());
  MetadataChange change;
  REQUIRE(layout::decode_change(req.value, change) == "");
  const CreateTopic& c = std::get<CreateTopic>(change);
  CHECK(c.name == "new");
  CHECK(c.partitions == 2);
  CHECK_FALSE(answer.has_value());

  // The controller: the change, its result, the request gone, one txn.
  std::vector<Op> ops = topic_ops("new", uuid(3), 2, {1});
  ops.push_back(put(Harness::result_of(req.key), layout::encode_result({}), req.lease));
  ops.push_back(del(req.key));
  REQUIRE(h.txn(ops));
  h.run_until([&] { return answer.has_value(); });
  CHECK(answer->error == ErrorCode::kNone);
  CHECK(in_image_when_answered);
  // The result key is deleted by the requester.
  h.run_until([&] { return h.kv->data().count(Harness::result_of(req.key)) == 0; });

  // The image refuses at once, nothing is written.
  std::optional<Answer> again;
  h.log->submit(create("new", 1), [&](ErrorCode e, std::string m) { again = Answer{e, m}; });
  REQUIRE(again.has_value());
  CHECK(again->error == ErrorCode::kTopicAlreadyExists);
  h.run_for(20);
  CHECK_FALSE(h.request().has_value());

  // A refusal by the controller reaches the submitter.
  std::optional<Answer> refused;
  h.log->submit(CreatePartitions{uuid(3), 5, {}}, [&](ErrorCode e, std::string m) {
    refused = Answer{e, m};
  });
  h.run_until([&] { return h.request().has_value(); });
  req = *h.request();
  REQUIRE(
      h.txn({put(Harness::result_of(req.key),
                 layout::encode_result({ErrorCode::kPolicyViolation, "not today", {}}), req.lease),
             del(req.key)}));
  h.run_until([&] { return refused.has_value(); });
  CHECK(refused->error == ErrorCode::kPolicyViolation);
  CHECK(refused->message == "not today");
}

TEST_CASE("a request no controller takes is deleted and answered REQUEST_TIMED_OUT") {
  Harness h(60);
  h.start();
  std::optional<Answer> answer;
  h.log->submit(create("late", 1), [&](ErrorCode e, std::string m) { answer = Answer{e, m}; });
  h.run_until([&] { return h.request().has_value(); });
  h.run_until([&] { return answer.has_value(); });
  CHECK(answer->error == ErrorCode::kRequestTimedOut);
  CHECK(answer->message.find("no controller took the change within 60 ms") != std::string::npos);
  CHECK_FALSE(h.request().has_value());

  // Taken (the request gone) but the result late: it is awaited.
  std::optional<Answer> slow;
  h.log->submit(create("slow", 1), [&](ErrorCode e, std::string m) { slow = Answer{e, m}; });
  h.run_until([&] { return h.request().has_value(); });
  KeyValue req = *h.request();
  REQUIRE(h.txn({del(req.key)}));
  h.run_for(100);  // past the timeout: its delete txn finds nothing
  CHECK_FALSE(slow.has_value());
  std::vector<Op> ops = topic_ops("slow", uuid(4), 1, {1});
  ops.push_back(put(Harness::result_of(req.key), layout::encode_result({}), req.lease));
  REQUIRE(h.txn(ops));
  h.run_until([&] { return slow.has_value(); });
  CHECK(slow->error == ErrorCode::kNone);
  CHECK(h.log->image()->topic("slow") != nullptr);
}

TEST_CASE("a lapsed lease fences the broker; it registers again with a higher epoch") {
  Harness h;
  h.start();
  const std::int64_t epoch = h.log->broker_epoch();
  const std::int64_t lease = h.log->lease();
  CHECK(epoch > 0);
  h.seen.clear();
  h.kv->expire_lease(lease);
  h.run_until([&] { return h.log->broker_epoch() > epoch; });
  CHECK(h.log->lease() != lease);
  CHECK_FALSE(h.log->image()->broker(1)->fenced);
  CHECK(h.log->image()->broker(1)->epoch == h.log->broker_epoch());
  REQUIRE(h.seen.size() >= 2);
  CHECK(h.seen[0] == "FenceBroker");
  CHECK(h.seen.back() == "RegisterBroker");
  CHECK(h.kv->data().at(layout::broker_key(P, 1)).lease == h.log->lease());
}

TEST_CASE("etcd down: the image is kept, changes are refused, and it recovers") {
  Harness h(60'000);
  h.start();
  REQUIRE(h.txn(topic_ops("kept", uuid(5), 1, {1})));
  h.run_until([&] { return h.log->image()->topic("kept") != nullptr; });
  h.kv->set_down(true);
  h.run_until([&] { return !h.log->reachable(); });
  h.run_for(100);
  CHECK(h.log->image()->topic("kept") != nullptr);
  std::optional<Answer> answer;
  h.log->submit(create("x", 1), [&](ErrorCode e, std::string m) { answer = Answer{e, m}; });
  // Answered by the failed put, long before the request timeout.
  h.run_until([&] { return answer.has_value(); });
  CHECK(answer->error == ErrorCode::kRequestTimedOut);
  CHECK(answer->message.find("etcd) is unreachable") != std::string::npos);

  h.kv->set_down(false);
  REQUIRE(h.txn(topic_ops("after", uuid(6), 1, {1})));
  h.run_until([&] { return h.log->image()->topic("after") != nullptr && h.log->reachable(); });
  CHECK(h.store->find_topic("after") != nullptr);
  CHECK(h.log->image()->topic("kept") != nullptr);
}

TEST_CASE("etcd back: a change is written before anything else says it is reachable") {
  // The CI failure this pins: a broker that had seen etcd fail refused a
  // CreateTopics after etcd was back, from a stale "unreachable" flag.
  Harness h;
  h.start();
  h.kv->set_down(true);
  h.run_until([&] { return !h.log->reachable(); });
  h.kv->set_down(false);
  REQUIRE_FALSE(h.log->reachable());
  std::optional<Answer> answer;
  h.log->submit(create("back", 1), [&](ErrorCode e, std::string m) { answer = Answer{e, m}; });
  CHECK_FALSE(answer.has_value());
  h.run_until([&] { return h.request().has_value(); });
  KeyValue req = *h.request();
  std::vector<Op> ops = topic_ops("back", uuid(7), 1, {1});
  ops.push_back(put(Harness::result_of(req.key), layout::encode_result({}), req.lease));
  ops.push_back(del(req.key));
  REQUIRE(h.txn(ops));
  h.run_until([&] { return answer.has_value(); });
  CHECK(answer->error == ErrorCode::kNone);
  CHECK(h.log->reachable());
}

TEST_CASE("after a compaction the image is rebuilt and the difference applied as changes") {
  Harness h;
  h.start();
  REQUIRE(h.txn(topic_ops("old", uuid(7), 1, {1})));
  h.run_until([&] { return h.log->image()->topic("old") != nullptr; });
  h.kv->set_down(true);
  h.run_until([&] { return !h.log->reachable(); });
  // While this broker is away: a topic deleted, one created, then the
  // history compacted (no loop run in between, so no retry yet).
  h.kv->set_down(false);
  h.seen.clear();
  REQUIRE(h.txn({del(layout::topic_key(P, "old")), del(layout::partition_key(P, uuid(7), 0))}));
  REQUIRE(h.txn(topic_ops("fresh", uuid(8), 2, {1})));
  h.kv->compact(h.kv->revision());
  h.run_until([&] {
    return h.log->image()->topic("fresh") != nullptr && h.log->image()->topic("old") == nullptr;
  });
  CHECK(h.seen == std::vector<std::string>{"DeleteTopic", "CreateTopic"});
  CHECK(h.store->find_topic("old") == nullptr);
  REQUIRE(h.store->find_topic("fresh") != nullptr);
  CHECK(h.log->revision() >= h.kv->revision() - 1);
  // And it follows again.
  REQUIRE(h.txn(topic_ops("later", uuid(9), 1, {1})));
  h.run_until([&] { return h.log->image()->topic("later") != nullptr; });
}

TEST_CASE("stop revokes the lease: the broker key goes at once") {
  Harness h;
  h.start();
  const std::int64_t lease = h.log->lease();
  bool stopped = false;
  h.log->stop([&] { stopped = true; });
  h.run_until([&] { return stopped; });
  CHECK_FALSE(h.kv->lease_alive(lease));
  CHECK(h.kv->data().count(layout::broker_key(P, 1)) == 0);
  CHECK(h.kv->data().count(layout::registered_key(P, 1)) == 1);
}

TEST_CASE("a restart replaces the previous incarnation's registration and drops its results") {
  Harness h;
  // What a killed broker 1 left: its key under a lease still alive, and a
  // result nobody will read.
  std::optional<std::int64_t> old_lease;
  h.kv->lease_grant(10, [&](Status, std::int64_t id, std::int64_t) { old_lease = id; });
  h.run_until([&] { return old_lease.has_value(); });
  const std::string stale_result = layout::result_key(P, 1, 5);
  REQUIRE(h.txn(
      {put(layout::cluster_key(P), layout::encode_cluster({"c"})),
       put(layout::broker_key(P, 1), layout::encode_broker({1, "old", 1, {}, {}}), *old_lease),
       put(stale_result, layout::encode_result({}))}));
  const std::int64_t old_epoch = h.kv->data().at(layout::broker_key(P, 1)).create_revision;
  h.options.cluster_id = "c";  // this broker's data dir, of that cluster
  h.start();
  CHECK_FALSE(h.kv->lease_alive(*old_lease));
  CHECK(h.log->broker_epoch() > old_epoch);
  CHECK(h.log->image()->broker(1)->host == "127.0.0.1");
  CHECK_FALSE(h.log->image()->broker(1)->fenced);
  h.run_until([&] { return h.kv->data().count(stale_result) == 0; });
}

TEST_CASE("a single node with more keys than one txn takes is copied in several") {
  Harness h;
  for (int i = 0; i < 70; ++i) {
    TopicInfo t;
    t.name = std::string("t").append(std::to_string(i));
    t.partitions = 1;
    h.store->create_topic(t, [](std::string) {});
  }
  h.start();
  CHECK(h.log->image()->topic_count() == 70);
  CHECK(h.store->topics().size() == 70);
  for (const TopicInfo* t : h.store->topics()) {
    REQUIRE(h.log->image()->topic(t->name) != nullptr);
    CHECK(h.log->image()->topic(t->name)->id == t->id);
  }
}
