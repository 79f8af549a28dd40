// The controller against the in-memory etcd: election and deposition,
// requests turned into one txn each, leadership moved off fenced brokers
// and back, producer id blocks.
#include "src/cluster/controller.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <map>
#include <memory>
#include <set>

#include "src/cluster/etcd_image.h"
#include "src/cluster/etcd_layout.h"
#include "tests/cluster/fake_kv.h"

using namespace kgw;
using namespace kgw::etcd;

namespace {

const std::string kPrefix = "/kgw/";

// A broker's view of etcd as the etcd metadata log keeps it: a range read
// of the prefix, then every watch revision as MetadataChanges.
class TestEtcdLog : public MetadataLog {
 public:
  explicit TestEtcdLog(FakeKv& kv) : kv_(kv) {}
  void start() {
    kv_.range(kPrefix, prefix_end(kPrefix), 0, [this](Status, RangeResult r) {
      image_ = layout::build_image(kPrefix, r.kvs);
      revision_ = r.revision;
      kv_.watch(
          kPrefix, prefix_end(kPrefix), r.revision + 1,
          [this](std::int64_t rev, std::vector<Event> events) {
            for (const MetadataChange& c : layout::changes_of_revision(kPrefix, *image_, events)) {
              ImagePtr before = image_;
              image_ = image_->apply(c);
              for (auto& l : listeners_) l(*before, *image_, c);
            }
            revision_ = rev;
            if (on_revision_) on_revision_();
          },
          [](Status) {});
    });
  }
  void submit(MetadataChange, Done done) override { done(ErrorCode::kInvalidRequest, "test"); }
  void elect_leaders(ElectLeaders, ElectDone done) override {
    done(ErrorCode::kInvalidRequest, "test", {});
  }
  ImagePtr image() const override { return image_; }
  ImagePtr latest() const override { return image_; }
  void add_listener(Listener fn) override { listeners_.push_back(std::move(fn)); }
  std::int64_t revision() const { return revision_; }
  void on_revision(std::function<void()> fn) { on_revision_ = std::move(fn); }

 private:
  std::function<void()> on_revision_;
  FakeKv& kv_;
  ImagePtr image_ = std::make_shared<MetadataImage>();
  std::int64_t revision_ = 0;
  std::vector<Listener> listeners_;
};

// Forwards to the fake etcd, calling `before_txn` first: a test's way to
// change etcd between a controller's decision and its write.
class InterceptKv : public KvApi {
 public:
  explicit InterceptKv(KvApi& kv) : kv_(kv) {}
  std::function<void(const TxnRequest&)> before_txn;

  void range(std::string key, std::string end, std::int64_t rev, RangeDone done) override {
    kv_.range(std::move(key), std::move(end), rev, std::move(done));
  }
  void txn(TxnRequest request, TxnDone done) override {
    if (before_txn) before_txn(request);
    kv_.txn(std::move(request), std::move(done));
  }
  void put(std::string key, std::string value, std::int64_t lease, PutDone done) override {
    kv_.put(std::move(key), std::move(value), lease, std::move(done));
  }
  void lease_grant(std::int64_t ttl, GrantDone done) override {
    kv_.lease_grant(ttl, std::move(done));
  }
  void lease_keepalive(std::int64_t id, KeepAliveDone done) override {
    kv_.lease_keepalive(id, std::move(done));
  }
  void lease_revoke(std::int64_t id, RevokeDone done) override {
    kv_.lease_revoke(id, std::move(done));
  }
  std::uint64_t watch(std::string key, std::string end, std::int64_t rev, OnEvents on_events,
                      OnEnd on_end) override {
    return kv_.watch(std::move(key), std::move(end), rev, std::move(on_events), std::move(on_end));
  }
  void cancel_watch(std::uint64_t id) override { kv_.cancel_watch(id); }

 private:
  KvApi& kv_;
};

struct Node {
  std::int32_t id = -1;
  std::int64_t lease = 0;
  std::unique_ptr<TestEtcdLog> log;
  std::unique_ptr<Controller> controller;
};

class Cluster {
 public:
  Cluster() {
    uv_loop_init(&loop_);
    kv_ = std::make_unique<FakeKv>(&loop_);
    uv_timer_init(&loop_, &keep_);
    uv_timer_start(
        &keep_, [](uv_timer_t*) {}, 1, 1);
  }
  ~Cluster() {
    nodes_.clear();
    kv_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&keep_), nullptr);
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&loop_);
  }

  FakeKv& kv() { return *kv_; }
  std::size_t max_txn_ops = 128;
  // As when followers replicate (the election logic); false is kgw's
  // default until they do: the ISR is the leader alone.
  bool followers_in_sync = true;
  // The automatic preferred-leader rebalance's period (as Kafka's default
  // unless a test sets it).
  std::uint64_t rebalance_interval_ms = 300000;
  uv_loop_t* loop() { return &loop_; }

  // Runs the loop until `done` holds (false after ~3 s of loop time).
  template <typename Pred>
  bool run_until(Pred done) {
    const std::uint64_t until = uv_now(&loop_) + 3000;
    while (!done()) {
      if (uv_now(&loop_) > until) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  std::int64_t grant() {
    std::int64_t lease = 0;
    kv_->lease_grant(9, [&](Status, std::int64_t id, std::int64_t) { lease = id; });
    run_until([&] { return lease != 0; });
    return lease;
  }

  // Registers broker `id` (with a new lease) as the broker itself does.
  // `log_dir` and `previous_log_dir`: the registration's log identities
  // (BrokerImage::log_dir_id).
  void register_broker(Node& n, std::optional<std::string> rack = std::nullopt,
                       std::string log_dir = "", std::string previous_log_dir = "") {
    n.lease = grant();
    layout::BrokerRegistration r;
    r.id = n.id;
    r.host = "127.0.0.1";
    r.port = 9000 + n.id;
    r.rack = std::move(rack);
    r.log_dir_id = std::move(log_dir);
    r.previous_log_dir_id = std::move(previous_log_dir);
    bool put = false;
    kv_->put(layout::registered_key(kPrefix, n.id), layout::encode_broker(r, false), 0,
             [](Status, std::int64_t) {});
    kv_->put(layout::broker_key(kPrefix, n.id), layout::encode_broker(r), n.lease,
             [&](Status, std::int64_t) { put = true; });
    run_until([&] { return put; });
  }

  Node& add_node(std::int32_t id, bool with_controller, KvApi* through = nullptr) {
    auto n = std::make_unique<Node>();
    n->id = id;
    register_broker(*n);
    n->log = std::make_unique<TestEtcdLog>(*kv_);
    n->log->start();
    if (with_controller) {
      ControllerOptions o;
      o.node_id = id;
      o.prefix = kPrefix;
      Node* raw = n.get();
      o.lease = [raw] { return raw->lease; };
      TestEtcdLog* log = n->log.get();
      o.image_revision = [log] { return log->revision(); };
      o.retry_ms = 20;
      o.max_txn_ops = max_txn_ops;
      o.followers_in_sync = followers_in_sync;
      o.leader_imbalance_check_interval_ms = rebalance_interval_ms;
      o.placement.start_index = 0;
      o.placement.replica_shift = 0;
      n->controller = std::make_unique<Controller>(&loop_, through != nullptr ? *through : *kv_,
                                                   *n->log, std::move(o));
      Controller* c = n->controller.get();
      n->log->on_revision([c] { c->image_advanced(); });
    }
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // Puts a request as broker `from` would and waits for its result.
  layout::ChangeResult request(Node& from, const MetadataChange& change) {
    const std::uint64_t seq = ++seq_;
    kv_->put(layout::request_key(kPrefix, from.id, seq), layout::encode_change(change), from.lease,
             [](Status, std::int64_t) {});
    const std::string result = layout::result_key(kPrefix, from.id, seq);
    layout::ChangeResult out;
    out.error = ErrorCode::kUnknownServerError;
    out.message = "no result";
    if (!run_until([&] { return kv_->data().count(result) != 0; })) return out;
    const KeyValue& kv = kv_->data().at(result);
    CHECK(kv.lease == from.lease);  // lapses with the requester
    CHECK(layout::decode_result(kv.value, out).empty());
    return out;
  }

  std::vector<KeyValue> under(const std::string& prefix) {
    std::vector<KeyValue> out;
    for (const auto& [k, v] : kv_->data()) {
      if (k.rfind(prefix, 0) == 0) out.push_back(v);
    }
    return out;
  }

 private:
  uv_loop_t loop_;
  uv_timer_t keep_;
  std::unique_ptr<FakeKv> kv_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::uint64_t seq_ = 0;
};

// Brokers 1 (the controller, elected), 2 and 3, a new partition's ISR its
// leader alone (kgw's default until followers replicate).
struct ThreeBrokers {
  Node& a;
  Node& b;
  Node& x;
};
ThreeBrokers three_brokers(Cluster& c) {
  c.followers_in_sync = false;
  ThreeBrokers t{c.add_node(1, true), c.add_node(2, false), c.add_node(3, false)};
  t.a.controller->start();
  REQUIRE(c.run_until([&] { return t.a.controller->is_controller(); }));
  return t;
}

CreateTopic create(std::string name, std::int32_t partitions, std::int32_t rf) {
  CreateTopic c;
  c.name = std::move(name);
  c.partitions = partitions;
  c.replication_factor = rf;
  return c;
}

}  // namespace

TEST_CASE("one controller wins, the other follows and takes over when its lease lapses") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, true);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  b.controller->start();
  REQUIRE(c.run_until([&] { return b.log->image()->controller_id() == 1; }));
  c.run_until([] { return false; });  // let b's campaign settle (3 s of loop time)
  CHECK_FALSE(b.controller->is_controller());
  const std::int64_t first_epoch = a.controller->epoch();
  CHECK(b.log->image()->controller_epoch() == first_epoch);

  c.kv().expire_lease(a.lease);
  a.lease = 0;  // the broker knows its lease is gone (keepalive answered ttl 0)
  REQUIRE(c.run_until([&] { return b.controller->is_controller(); }));
  CHECK_FALSE(a.controller->is_controller());
  CHECK(b.controller->epoch() > first_epoch);
  REQUIRE(c.run_until([&] { return a.log->image()->controller_id() == 2; }));

  // A write as the deposed controller makes it (its epoch compared) fails.
  TxnRequest deposed;
  deposed.compare.push_back(
      Compare{layout::controller_key(kPrefix), Compare::kCreate, Compare::kEqual, first_epoch, ""});
  deposed.success.push_back(Op{Op::kPut, layout::topic_key(kPrefix, "x"), "", "{}", 0});
  bool answered = false;
  bool succeeded = true;
  c.kv().txn(deposed, [&](Status s, TxnResult r) {
    answered = s.ok();
    succeeded = r.succeeded;
  });
  REQUIRE(c.run_until([&] { return answered; }));
  CHECK_FALSE(succeeded);
  CHECK(c.kv().data().count(layout::topic_key(kPrefix, "x")) == 0);
}

TEST_CASE("a deposed controller's write is refused by the epoch compare and it stops acting") {
  Cluster c;
  InterceptKv through(c.kv());
  Node& a = c.add_node(1, true, &through);
  c.add_node(2, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  // Between a's decision and its write, its key lapses and broker 2 takes
  // the role: a's write, which compares a's epoch, must fail.
  const std::string key = layout::controller_key(kPrefix);
  const std::string topic = layout::topic_key(kPrefix, "t");
  bool stolen = false;
  through.before_txn = [&](const TxnRequest& t) {
    if (stolen) return;
    for (const Op& op : t.success) {
      if (op.key != topic) continue;
      stolen = true;
      TxnRequest del;
      del.success.push_back(Op{Op::kDelete, key, "", "", 0});
      c.kv().txn(del, [](Status, TxnResult) {});
      c.kv().put(key, layout::encode_controller({2}), 0, [](Status, std::int64_t) {});
    }
  };
  const int refused_before = c.kv().failed_txns();
  c.kv().put(layout::request_key(kPrefix, 1, 1), layout::encode_change(create("t", 1, 1)), a.lease,
             [](Status, std::int64_t) {});
  REQUIRE(c.run_until([&] { return stolen && !a.controller->is_controller(); }));
  CHECK(c.kv().failed_txns() > refused_before);
  CHECK(c.kv().data().count(topic) == 0);
  CHECK(c.kv().data().count(layout::result_key(kPrefix, 1, 1)) == 0);
  CHECK(c.kv().data().at(key).value == layout::encode_controller({2}));
}

TEST_CASE("a CreateTopic request becomes topic, partitions and result in one txn") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, false);
  c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));

  const layout::ChangeResult r = c.request(b, create("orders", 6, 2));
  CHECK(r.error == ErrorCode::kNone);
  const KeyValue topic = c.kv().data().at(layout::topic_key(kPrefix, "orders"));
  layout::TopicRecord rec;
  REQUIRE(layout::decode_topic(topic.value, rec).empty());
  CHECK(rec.partitions == 6);
  CHECK_FALSE(rec.id.is_zero());
  const auto parts = c.under(layout::topic_partitions_prefix(kPrefix, rec.id));
  REQUIRE(parts.size() == 6);
  std::map<std::int32_t, int> leaders;
  for (const KeyValue& kv : parts) {
    CHECK(kv.mod_revision == topic.mod_revision);  // the same txn
    PartitionImage p;
    REQUIRE(layout::decode_partition(kv.value, p).empty());
    CHECK(p.replicas.size() == 2);
    CHECK(p.leader == p.replicas.front());
    CHECK(p.isr == p.replicas);
    CHECK(p.leader_epoch == 0);
    ++leaders[p.leader];
  }
  CHECK(leaders == std::map<std::int32_t, int>{{1, 2}, {2, 2}, {3, 2}});
  CHECK(c.kv().data().at(layout::result_key(kPrefix, 2, 1)).mod_revision == topic.mod_revision);
  CHECK(c.under(layout::requests_prefix(kPrefix)).empty());
  REQUIRE(c.run_until([&] { return b.log->image()->topic("orders") != nullptr; }));
  CHECK(b.log->image()->topic("orders")->partition_count() == 6);

  SUBCASE("a create of an existing name answers TOPIC_ALREADY_EXISTS and writes nothing else") {
    const std::size_t keys = c.kv().data().size();
    const layout::ChangeResult again = c.request(b, create("orders", 3, 1));
    CHECK(again.error == ErrorCode::kTopicAlreadyExists);
    CHECK(again.message == "Topic 'orders' already exists.");
    CHECK(c.kv().data().at(layout::topic_key(kPrefix, "orders")).mod_revision ==
          topic.mod_revision);
    CHECK(c.kv().data().size() == keys + 1);  // the result only; the request is gone
    CHECK(c.under(layout::topic_partitions_prefix(kPrefix, rec.id)).size() == 6);
  }
  SUBCASE("a replication factor above the live brokers is refused as Kafka does") {
    const layout::ChangeResult big = c.request(b, create("big", 1, 4));
    CHECK(big.error == ErrorCode::kInvalidReplicationFactor);
    CHECK(c.kv().data().count(layout::topic_key(kPrefix, "big")) == 0);
  }
  SUBCASE("more partitions continue the placement; a delete removes every key") {
    CreatePartitions more;
    more.id = rec.id;
    more.total = 9;
    CHECK(c.request(b, more).error == ErrorCode::kNone);
    CHECK(c.under(layout::topic_partitions_prefix(kPrefix, rec.id)).size() == 9);
    REQUIRE(c.run_until([&] { return a.log->image()->topic("orders")->partition_count() == 9; }));
    CHECK(c.request(b, DeleteTopic{rec.id}).error == ErrorCode::kNone);
    CHECK(c.kv().data().count(layout::topic_key(kPrefix, "orders")) == 0);
    CHECK(c.under(layout::topic_partitions_prefix(kPrefix, rec.id)).empty());
  }
}

TEST_CASE("a fenced broker's leadership moves to another ISR member; RF=1 goes offline") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  REQUIRE(c.request(b, create("r3", 3, 3)).error == ErrorCode::kNone);
  CreateTopic single = create("r1", 1, 1);
  single.assignments = {{3}};
  REQUIRE(c.request(b, single).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r1") != nullptr; }));
  // Placement from index 0: partition 2 of r3 is led by broker 3.
  REQUIRE(a.log->image()->topic("r3")->partitions[2].leader == 3);

  c.kv().expire_lease(x.lease);
  auto led_by_3 = [&] {
    int n = 0;
    for (const TopicPtr& t : a.log->image()->topics()) {
      for (const PartitionImage& p : t->partitions) n += p.leader == 3 ? 1 : 0;
    }
    return n;
  };
  REQUIRE(c.run_until([&] { return led_by_3() == 0; }));
  const PartitionImage moved = a.log->image()->topic("r3")->partitions[2];
  CHECK(moved.replicas == std::vector<std::int32_t>{3, 1, 2});
  CHECK(moved.leader == 1);  // the first alive ISR member
  CHECK(moved.leader_epoch == 1);
  CHECK(moved.partition_epoch == 1);
  CHECK(moved.isr == std::vector<std::int32_t>{1, 2});
  // A partition it followed only loses it from the ISR.
  const PartitionImage followed = a.log->image()->topic("r3")->partitions[0];
  CHECK(followed.leader == 1);
  CHECK(followed.leader_epoch == 0);
  CHECK(followed.partition_epoch == 1);
  CHECK(followed.isr == std::vector<std::int32_t>{1, 2});
  // RF=1: offline, the broker stays the last ISR member.
  const PartitionImage offline = a.log->image()->topic("r1")->partitions[0];
  CHECK(offline.leader == -1);
  CHECK(offline.leader_epoch == 1);
  CHECK(offline.isr == std::vector<std::int32_t>{3});

  // It comes back: the offline partition is led by it again.
  c.register_broker(x);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r1")->partitions[0].leader == 3; }));
  const PartitionImage back = a.log->image()->topic("r1")->partitions[0];
  CHECK(back.leader_epoch == 2);
  CHECK(back.partition_epoch == 2);
  // Leadership it lost elsewhere stays where it went.
  CHECK(a.log->image()->topic("r3")->partitions[2].leader == 1);
}

TEST_CASE("until followers replicate, a fenced leader's partition waits for it") {
  Cluster c;
  auto [a, b, x] = three_brokers(c);
  REQUIRE(c.request(b, create("r3", 3, 3)).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3") != nullptr; }));
  const PartitionImage created = a.log->image()->topic("r3")->partitions[2];
  REQUIRE(created.leader == 3);
  // Followers have none of the leader's data yet: only it is in sync.
  CHECK(created.isr == std::vector<std::int32_t>{3});

  c.kv().expire_lease(x.lease);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3")->partitions[2].leader != 3; }));
  const PartitionImage offline = a.log->image()->topic("r3")->partitions[2];
  CHECK(offline.leader == -1);  // not broker 1 or 2, which lack its records
  CHECK(offline.isr == std::vector<std::int32_t>{3});
  CHECK(a.log->image()->topic("r3")->partitions[0].leader == 1);

  c.register_broker(x);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3")->partitions[2].leader == 3; }));
}

TEST_CASE("a new controller fences what lapsed before it took over") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, true);
  Node& x = c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic t = create("t", 1, 2);
  t.assignments = {{3, 2}};
  REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  a.controller->stop();  // a controller that no longer acts
  c.kv().expire_lease(x.lease);
  c.run_until([] { return false; });
  CHECK(b.log->image()->topic("t")->partitions[0].leader == 3);  // nobody acted
  c.kv().expire_lease(a.lease);
  b.controller->start();
  REQUIRE(c.run_until([&] { return b.log->image()->topic("t")->partitions[0].leader == 2; }));
  CHECK(b.log->image()->topic("t")->partitions[0].isr == std::vector<std::int32_t>{2});
}

TEST_CASE("controlled shutdown moves leadership away and resigns") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, true);
  a.controller->start();
  b.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic t = create("t", 2, 2);
  t.assignments = {{1, 2}, {2, 1}};
  REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return b.log->image()->topic("t") != nullptr; }));

  SUBCASE("the controller itself") {
    bool done = false;
    a.controller->controlled_shutdown([&] { done = true; });
    REQUIRE(c.run_until([&] { return done; }));
    CHECK_FALSE(a.controller->is_controller());
    REQUIRE(c.run_until([&] { return b.controller->is_controller(); }));
    const PartitionImage p = b.log->image()->topic("t")->partitions[0];
    CHECK(p.leader == 2);
    CHECK(p.leader_epoch == 1);
  }
  SUBCASE("a broker asks the controller") {
    bool done = false;
    b.controller->controlled_shutdown([&] { done = true; });
    REQUIRE(c.run_until([&] { return done; }));
    REQUIRE(c.run_until([&] { return a.log->image()->topic("t")->partitions[1].leader == 1; }));
    CHECK(a.log->image()->topic("t")->partitions[0].leader == 1);
    CHECK(a.controller->is_controller());
  }
}

TEST_CASE("producer id blocks from any broker are disjoint") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, true);
  std::vector<std::pair<std::int64_t, std::int32_t>> blocks;
  int answered = 0;
  for (int i = 0; i < 10; ++i) {
    for (Node* n : {&a, &b}) {
      n->controller->allocate_producer_ids(
          1000, [&](ErrorCode e, std::int64_t first, std::int32_t count) {
            CHECK(e == ErrorCode::kNone);
            blocks.emplace_back(first, count);
            ++answered;
          });
    }
  }
  REQUIRE(c.run_until([&] { return answered == 20; }));
  std::set<std::int64_t> firsts;
  for (const auto& [first, count] : blocks) {
    CHECK(count == 1000);
    CHECK(first % 1000 == 0);
    firsts.insert(first);
  }
  CHECK(firsts.size() == 20);
  CHECK(*firsts.rbegin() == 19000);
  // A block never starts below what a former single node handed out.
  std::int64_t first = -1;
  a.controller->allocate_producer_ids(
      10, [&](ErrorCode, std::int64_t f, std::int32_t) { first = f; }, 50000);
  REQUIRE(c.run_until([&] { return first != -1; }));
  CHECK(first == 50000);
  first = -1;
  b.controller->allocate_producer_ids(10,
                                      [&](ErrorCode, std::int64_t f, std::int32_t) { first = f; });
  REQUIRE(c.run_until([&] { return first != -1; }));
  CHECK(first == 50010);
}

TEST_CASE("a topic too big for one txn is written in several, and a new controller resumes it") {
  Cluster c;
  c.max_txn_ops = 20;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, true);
  c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  const int before = c.kv().failed_txns();
  CHECK(c.request(b, create("wide", 100, 2)).error == ErrorCode::kNone);
  CHECK(c.kv().failed_txns() == before);
  REQUIRE(c.run_until([&] {
    TopicPtr t = b.log->image()->topic("wide");
    if (t == nullptr || t->partition_count() != 100) return false;
    for (const PartitionImage& p : t->partitions) {
      if (p.replicas.size() != 2 || p.leader != p.replicas[0]) return false;
    }
    return true;
  }));
  CHECK(c.under(layout::requests_prefix(kPrefix)).empty());

  // A controller died after the first txn: the topic key and some
  // partitions exist, the request holds the decision.
  CreateTopic half = create("half", 30, 1);
  half.id.bytes[0] = 0x42;
  half.id.bytes[15] = 0x07;
  for (int i = 0; i < 30; ++i) half.assignments.push_back({1 + i % 3});
  TxnRequest first;
  first.success.push_back(Op{Op::kPut, layout::topic_key(kPrefix, "half"), "",
                             layout::encode_topic(layout::TopicRecord{half.id, {}, 30}), 0});
  for (int i = 0; i < 10; ++i) {
    PartitionImage p;
    p.index = i;
    p.replicas = half.assignments[static_cast<std::size_t>(i)];
    p.isr = p.replicas;
    p.leader = p.replicas[0];
    first.success.push_back(Op{Op::kPut, layout::partition_key(kPrefix, half.id, i), "",
                               layout::encode_partition(p), 0});
  }
  bool written = false;
  c.kv().txn(first, [&](Status, TxnResult) { written = true; });
  REQUIRE(c.run_until([&] { return written; }));
  const std::int64_t kept =
      c.kv().data().at(layout::partition_key(kPrefix, half.id, 0)).mod_revision;
  const layout::ChangeResult r = c.request(b, half);
  CHECK(r.error == ErrorCode::kNone);
  CHECK(c.under(layout::topic_partitions_prefix(kPrefix, half.id)).size() == 30);
  CHECK(c.kv().data().at(layout::partition_key(kPrefix, half.id, 0)).mod_revision == kept);
  REQUIRE(c.run_until([&] {
    TopicPtr t = b.log->image()->topic("half");
    return t != nullptr && t->partitions[29].leader == 3;
  }));
}

TEST_CASE("UnregisterBroker deletes a fenced broker's registration; live or unknown is refused") {
  Cluster c;
  InterceptKv through(c.kv());
  Node& a = c.add_node(1, true, &through);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic single = create("r1", 1, 1);
  single.assignments = {{3}};
  REQUIRE(c.request(b, single).error == ErrorCode::kNone);

  const std::string registered = layout::registered_key(kPrefix, 3);
  CHECK(c.request(b, UnregisterBroker{3}).error == ErrorCode::kInvalidRequest);
  CHECK(c.kv().data().count(registered) == 1);
  const layout::ChangeResult unknown = c.request(b, UnregisterBroker{9});
  CHECK(unknown.error == ErrorCode::kBrokerIdNotRegistered);
  CHECK(unknown.message == "Broker ID 9 is not currently registered");

  c.kv().expire_lease(x.lease);
  auto fenced = [&](const Node& n) {
    const BrokerImage* br = n.log->image()->broker(3);
    return br != nullptr && br->fenced;
  };
  REQUIRE(c.run_until([&] { return fenced(a) && fenced(b); }));

  SUBCASE("fenced: the registration goes in one txn and every image forgets the broker") {
    CHECK(c.request(b, UnregisterBroker{3}).error == ErrorCode::kNone);
    CHECK(c.kv().data().count(registered) == 0);
    REQUIRE(c.run_until([&] {
      return a.log->image()->broker(3) == nullptr && b.log->image()->broker(3) == nullptr;
    }));
    // The partition still names it, offline, as Kafka leaves it.
    const PartitionImage p = b.log->image()->topic("r1")->partitions[0];
    CHECK(p.replicas == std::vector<std::int32_t>{3});
    CHECK(p.leader == -1);
    CHECK(layout::build_image(kPrefix, c.under(kPrefix))->broker(3) == nullptr);
    CHECK(c.request(b, UnregisterBroker{3}).error == ErrorCode::kBrokerIdNotRegistered);
  }
  SUBCASE("back between the decision and the write: the compare refuses it, then it is alive") {
    const std::int64_t lease = c.grant();
    bool back = false;
    through.before_txn = [&](const TxnRequest& t) {
      for (const Op& op : t.success) {
        if (op.kind != Op::kDelete || op.key != registered || back) continue;
        back = true;
        layout::BrokerRegistration r;
        r.id = 3;
        r.host = "127.0.0.1";
        r.port = 9003;
        c.kv().put(layout::broker_key(kPrefix, 3), layout::encode_broker(r), lease,
                   [](Status, std::int64_t) {});
      }
    };
    CHECK(c.request(b, UnregisterBroker{3}).error == ErrorCode::kInvalidRequest);
    CHECK(back);
    CHECK(c.kv().data().count(registered) == 1);
    REQUIRE(c.run_until([&] { return a.log->image()->broker(3) != nullptr && !fenced(a); }));
  }
}

TEST_CASE("an AlterPartition from the leader is written in one txn, the partition epoch + 1") {
  Cluster c;
  c.followers_in_sync = false;  // the ISR starts as the leader alone
  InterceptKv through(c.kv());
  Node& a = c.add_node(1, true, &through);
  Node& b = c.add_node(2, false);
  c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic t = create("t", 1, 3);
  t.assignments = {{2, 1, 3}};
  REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return b.log->image()->topic("t") != nullptr; }));
  const Uuid id = b.log->image()->topic("t")->id;
  const std::string key = layout::partition_key(kPrefix, id, 0);
  auto stored = [&] {
    PartitionImage p;
    REQUIRE(layout::decode_partition(c.kv().data().at(key).value, p).empty());
    return p;
  };
  auto epoch_of = [&](std::int32_t broker) { return b.log->image()->broker(broker)->epoch; };
  REQUIRE(stored().isr == std::vector<std::int32_t>{2});
  // Broker 2 leads; broker 1 caught up.
  const AlterPartition expand{2, epoch_of(2), id, 0, 0, 0, {{2, epoch_of(2)}, {1, epoch_of(1)}}};

  const layout::ChangeResult r = c.request(b, expand);
  CHECK(r.error == ErrorCode::kNone);
  const PartitionImage after = stored();
  CHECK(after.isr == std::vector<std::int32_t>{2, 1});
  CHECK(after.partition_epoch == 1);
  CHECK(after.leader == 2);
  CHECK(after.leader_epoch == 0);
  const std::int64_t written = c.kv().data().at(key).mod_revision;
  CHECK(c.kv().data().at(layout::result_key(kPrefix, 2, 2)).mod_revision == written);
  REQUIRE(
      c.run_until([&] { return b.log->image()->topic(id)->partitions[0].partition_epoch == 1; }));

  SUBCASE("the same request again is from a stale partition epoch: refused, nothing written") {
    const layout::ChangeResult again = c.request(b, expand);
    CHECK(again.error == ErrorCode::kInvalidUpdateVersion);
    CHECK(again.message.find("the partition epoch is 1, not 0") != std::string::npos);
    CHECK(c.kv().data().at(key).mod_revision == written);
  }
  SUBCASE("the ISR it has: answered without a write") {
    AlterPartition same = expand;
    same.partition_epoch = 1;
    CHECK(c.request(b, same).error == ErrorCode::kNone);
    CHECK(c.kv().data().at(key).mod_revision == written);
  }
  SUBCASE("the partition moved between the decision and the write: the compare refuses it") {
    AlterPartition shrink = expand;
    shrink.partition_epoch = 1;
    shrink.isr = {{2, epoch_of(2)}};
    bool moved = false;
    through.before_txn = [&](const TxnRequest& txn) {
      for (const Op& op : txn.success) {
        if (op.key != key || moved) continue;
        moved = true;
        // Another writer (a liveness pass) got there first.
        PartitionImage other = stored();
        other.isr = {2, 3};
        ++other.partition_epoch;
        c.kv().put(key, layout::encode_partition(other), 0, [](Status, std::int64_t) {});
      }
    };
    const int refused_before = c.kv().failed_txns();
    const layout::ChangeResult late = c.request(b, shrink);
    CHECK(moved);
    CHECK(c.kv().failed_txns() > refused_before);
    // Decided again on the image that shows the other write.
    CHECK(late.error == ErrorCode::kInvalidUpdateVersion);
    CHECK(stored().isr == std::vector<std::int32_t>{2, 3});
    CHECK(stored().partition_epoch == 2);
  }
  SUBCASE("a leader that restarted asks with its old broker epoch: refused") {
    AlterPartition old = expand;
    old.partition_epoch = 1;
    old.broker_epoch = epoch_of(2) - 1;
    old.isr = {{2, -1}};
    CHECK(c.request(b, old).error == ErrorCode::kStaleBrokerEpoch);
    CHECK(c.kv().data().at(key).mod_revision == written);
  }
}

TEST_CASE(
    "unclean.leader.election.enable: off, a dead ISR leaves the partition offline; on, a "
    "live replica leads") {
  Cluster c;
  auto [a, b, x] = three_brokers(c);
  for (const char* name : {"clean", "unclean"}) {
    CreateTopic t = create(name, 1, 3);
    t.assignments = {{3, 2, 1}};
    if (std::string(name) == "unclean") t.configs = {{"unclean.leader.election.enable", "true"}};
    REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  }
  REQUIRE(c.run_until([&] { return a.log->image()->topic("unclean") != nullptr; }));
  REQUIRE(a.log->image()->topic("clean")->partitions[0].isr == std::vector<std::int32_t>{3});

  c.kv().expire_lease(x.lease);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("unclean")->partitions[0].leader != 3; }));
  const PartitionImage unclean = a.log->image()->topic("unclean")->partitions[0];
  CHECK(unclean.leader == 2);  // the first live replica
  CHECK(unclean.isr == std::vector<std::int32_t>{2});
  CHECK(unclean.leader_epoch == 1);
  CHECK(unclean.partition_epoch == 1);
  const PartitionImage clean = a.log->image()->topic("clean")->partitions[0];
  CHECK(clean.leader == -1);
  CHECK(clean.isr == std::vector<std::int32_t>{3});

  SUBCASE("turned on cluster-wide: the offline partition gets a leader then") {
    SetBrokerConfigs on;
    on.configs = {{"unclean.leader.election.enable", "true"}};
    REQUIRE(c.request(b, on).error == ErrorCode::kNone);
    REQUIRE(c.run_until([&] { return a.log->image()->topic("clean")->partitions[0].leader == 2; }));
    CHECK(a.log->image()->topic("clean")->partitions[0].isr == std::vector<std::int32_t>{2});
  }
  SUBCASE("the topic's false overrides a cluster-wide true") {
    const Uuid id = a.log->image()->topic("clean")->id;
    REQUIRE(
        c.request(b, SetTopicConfigs{id, {{"unclean.leader.election.enable", "false"}}}).error ==
        ErrorCode::kNone);
    SetBrokerConfigs on;
    on.configs = {{"unclean.leader.election.enable", "true"}};
    REQUIRE(c.request(b, on).error == ErrorCode::kNone);
    REQUIRE(c.run_until([&] { return !a.log->image()->broker_configs(std::nullopt).empty(); }));
    c.run_until([] { return false; });  // let any pass run (3 s of loop time)
    CHECK(a.log->image()->topic("clean")->partitions[0].leader == -1);
  }
}

namespace {

// Puts a partition state as an AlterPartition from its leader would (the
// ISR growing back is the leader's to ask; here the test's).
void put_partition(Cluster& c, const Uuid& topic, const PartitionImage& p) {
  bool put = false;
  c.kv().put(layout::partition_key(kPrefix, topic, p.index), layout::encode_partition(p), 0,
             [&](Status, std::int64_t) { put = true; });
  REQUIRE(c.run_until([&] { return put; }));
}

// r3 (3 partitions, RF=3, placed from index 0) with broker 3 fenced and
// back: partition 2 (replicas 3,1,2) moved to broker 1, and broker 3,
// which left its ISR, is put back in it.
Uuid preferred_leader_away(Cluster& c, Node& a, Node& b, Node& x) {
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  REQUIRE(c.request(b, create("r3", 3, 3)).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3") != nullptr; }));
  const Uuid id = a.log->image()->topic("r3")->id;
  c.kv().expire_lease(x.lease);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3")->partitions[2].leader == 1; }));
  c.register_broker(x);
  REQUIRE(c.run_until([&] { return !a.log->image()->broker(3)->fenced; }));
  // The new incarnation's liveness pass (it leaves every ISR it was in)
  // runs first; then its leader adds it back.
  c.run_until([] { return false; });
  PartitionImage p = a.log->image()->topic("r3")->partitions[2];
  CHECK(p.isr == std::vector<std::int32_t>{1, 2});
  p.isr = {1, 2, 3};
  ++p.partition_epoch;
  put_partition(c, id, p);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3")->partitions[2].isr.size() == 3; }));
  return id;
}

ElectLeaders elect(std::int8_t type, const Uuid& id, std::vector<std::int32_t> partitions) {
  ElectLeaders e;
  e.election_type = type;
  for (std::int32_t p : partitions) e.partitions.emplace_back(id, p);
  return e;
}

}  // namespace

TEST_CASE("a preferred ElectLeaders request moves leadership back, with per-partition results") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  const Uuid id = preferred_leader_away(c, a, b, x);
  const PartitionImage before = a.log->image()->topic("r3")->partitions[2];
  CHECK(before.leader == 1);

  const layout::ChangeResult r = c.request(b, elect(ElectLeaders::kPreferred, id, {0, 2, 7}));
  CHECK(r.error == ErrorCode::kNone);
  REQUIRE(r.partitions.size() == 3);
  CHECK(r.partitions[0].partition == 0);
  CHECK(r.partitions[0].error == ErrorCode::kElectionNotNeeded);
  CHECK(r.partitions[1].partition == 2);
  CHECK(r.partitions[1].error == ErrorCode::kNone);
  CHECK(r.partitions[2].error == ErrorCode::kUnknownTopicOrPartition);
  // The change and its result are one txn: the image shows it once the
  // result is there.
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3")->partitions[2].leader == 3; }));
  const PartitionImage after = a.log->image()->topic("r3")->partitions[2];
  CHECK(after.leader_epoch == before.leader_epoch + 1);
  CHECK(after.partition_epoch == before.partition_epoch + 1);
  CHECK(after.isr == before.isr);

  // Asked again: nothing to do.
  const layout::ChangeResult again = c.request(b, elect(ElectLeaders::kPreferred, id, {2}));
  REQUIRE(again.partitions.size() == 1);
  CHECK(again.partitions[0].error == ErrorCode::kElectionNotNeeded);
  ElectLeaders all;
  all.all = true;
  CHECK(c.request(b, all).partitions.empty());
}

TEST_CASE("an election decided on a stale image is refused by etcd and decided again") {
  Cluster c;
  InterceptKv through(c.kv());
  Node& a = c.add_node(1, true, &through);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  const Uuid id = preferred_leader_away(c, a, b, x);
  // Between the decision and its write the partition changes (broker 3
  // leaves the ISR again): the write compares the partition key, fails,
  // and the new decision finds the preferred replica unavailable.
  const std::string key = layout::partition_key(kPrefix, id, 2);
  bool changed = false;
  through.before_txn = [&](const TxnRequest& t) {
    if (changed) return;
    for (const Op& op : t.success) {
      if (op.key != key) continue;
      changed = true;
      PartitionImage p = a.log->image()->topic("r3")->partitions[2];
      p.isr = {1, 2};
      ++p.partition_epoch;
      c.kv().put(key, layout::encode_partition(p), 0, [](Status, std::int64_t) {});
    }
  };
  const int refused_before = c.kv().failed_txns();
  const layout::ChangeResult r = c.request(b, elect(ElectLeaders::kPreferred, id, {2}));
  CHECK(changed);
  CHECK(c.kv().failed_txns() > refused_before);
  REQUIRE(r.partitions.size() == 1);
  CHECK(r.partitions[0].error == ErrorCode::kPreferredLeaderNotAvailable);
  CHECK(a.log->image()->topic("r3")->partitions[2].leader == 1);
}

TEST_CASE("unclean election: an offline partition gets an alive replica outside its ISR") {
  Cluster c;
  c.followers_in_sync = false;  // the ISR is the leader alone
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic t = create("u", 2, 2);
  t.assignments = {{3, 1}, {3}};
  REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("u") != nullptr; }));
  const Uuid id = a.log->image()->topic("u")->id;
  c.kv().expire_lease(x.lease);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("u")->partitions[0].leader == -1; }));
  const PartitionImage offline = a.log->image()->topic("u")->partitions[0];
  CHECK(offline.isr == std::vector<std::int32_t>{3});

  const layout::ChangeResult preferred = c.request(b, elect(ElectLeaders::kPreferred, id, {0}));
  REQUIRE(preferred.partitions.size() == 1);
  CHECK(preferred.partitions[0].error == ErrorCode::kPreferredLeaderNotAvailable);

  const layout::ChangeResult r = c.request(b, elect(ElectLeaders::kUnclean, id, {0, 1}));
  REQUIRE(r.partitions.size() == 2);
  CHECK(r.partitions[0].error == ErrorCode::kNone);
  CHECK(r.partitions[1].error == ErrorCode::kEligibleLeadersNotAvailable);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("u")->partitions[0].leader == 1; }));
  const PartitionImage elected = a.log->image()->topic("u")->partitions[0];
  CHECK(elected.isr == std::vector<std::int32_t>{1});
  CHECK(elected.leader_epoch == offline.leader_epoch + 1);
  CHECK(elected.partition_epoch == offline.partition_epoch + 1);
  // It has a leader now.
  const layout::ChangeResult again = c.request(b, elect(ElectLeaders::kUnclean, id, {0}));
  REQUIRE(again.partitions.size() == 1);
  CHECK(again.partitions[0].error == ErrorCode::kElectionNotNeeded);
}

TEST_CASE("the automatic rebalance moves leadership back once the preferred replica is in sync") {
  Cluster c;
  c.rebalance_interval_ms = 50;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  preferred_leader_away(c, a, b, x);
  // Broker 3 is preferred for 1 of 3 partitions and leads none: 100% > 10%.
  REQUIRE(c.run_until([&] { return a.log->image()->topic("r3")->partitions[2].leader == 3; }));
  CHECK(a.log->image()->topic("r3")->partitions[2].isr == std::vector<std::int32_t>{1, 2, 3});
}

TEST_CASE("a reassignment: started by the controller, completed by the ISR change, cancelled") {
  Cluster c;
  ThreeBrokers t = three_brokers(c);
  CreateTopic ct = create("mv", 2, 1);
  ct.assignments = {{1}, {1}};
  REQUIRE(c.request(t.b, ct).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return t.b.log->image()->topic("mv") != nullptr; }));
  const Uuid id = t.b.log->image()->topic("mv")->id;
  auto stored = [&](std::int32_t index) {
    PartitionImage p;
    REQUIRE(layout::decode_partition(
                c.kv().data().at(layout::partition_key(kPrefix, id, index)).value, p)
                .empty());
    return p;
  };
  using Ids = std::vector<std::int32_t>;

  // Refused by the controller's check, nothing written.
  CHECK(c.request(t.b, AlterReassignment{id, 0, Ids{2, 9}}).error ==
        ErrorCode::kInvalidReplicaAssignment);
  CHECK(c.request(t.b, AlterReassignment{id, 0, std::nullopt}).error ==
        ErrorCode::kNoReassignmentInProgress);
  CHECK(stored(0).partition_epoch == 0);

  // Start: the union, adding and removing; leader 1 keeps leading.
  REQUIRE(c.request(t.b, AlterReassignment{id, 0, Ids{2, 3}}).error == ErrorCode::kNone);
  PartitionImage p = stored(0);
  CHECK(p.replicas == Ids{2, 3, 1});
  CHECK(p.adding == Ids{2, 3});
  CHECK(p.removing == Ids{1});
  CHECK(p.leader == 1);
  CHECK(p.partition_epoch == 1);
  REQUIRE(c.run_until([&] {
    return t.b.log->image()->topic(id)->partitions[0].adding == Ids{2, 3};
  }));

  // The leader adds broker 2: in the ISR, not complete yet.
  auto epoch_of = [&](std::int32_t broker) { return t.b.log->image()->broker(broker)->epoch; };
  AlterPartition expand{1, epoch_of(1), id, 0, 0, 1, {{1, epoch_of(1)}, {2, epoch_of(2)}}};
  REQUIRE(c.request(t.a, expand).error == ErrorCode::kNone);
  p = stored(0);
  CHECK(p.isr == Ids{1, 2});
  CHECK(p.reassigning());
  REQUIRE(c.run_until([&] { return t.b.log->image()->topic(id)->partitions[0].isr.size() == 2; }));
  // Then broker 3: complete in the same write, broker 1 gone, 2 leads.
  expand.partition_epoch = 2;
  expand.isr.push_back({3, epoch_of(3)});
  REQUIRE(c.request(t.a, expand).error == ErrorCode::kNone);
  p = stored(0);
  CHECK(p.replicas == Ids{2, 3});
  CHECK(p.isr == Ids{2, 3});
  CHECK(p.leader == 2);
  CHECK(p.leader_epoch == 1);
  CHECK(p.partition_epoch == 3);
  CHECK_FALSE(p.reassigning());

  // Partition 1: started, then cancelled back to [1].
  REQUIRE(c.request(t.b, AlterReassignment{id, 1, Ids{3}}).error == ErrorCode::kNone);
  CHECK(stored(1).replicas == Ids{3, 1});
  REQUIRE(c.run_until([&] { return t.b.log->image()->topic(id)->partitions[1].reassigning(); }));
  REQUIRE(c.request(t.b, AlterReassignment{id, 1, std::nullopt}).error == ErrorCode::kNone);
  p = stored(1);
  CHECK(p.replicas == Ids{1});
  CHECK(p.isr == Ids{1});
  CHECK(p.leader == 1);
  CHECK_FALSE(p.reassigning());
  CHECK(p.partition_epoch == 2);
}

TEST_CASE("a leader back with a wiped disk does not lead: an eligible leader replica does") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, false);
  Node& x = c.add_node(3, false);
  c.register_broker(x, std::nullopt, "dir-A", "");
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic t = create("t", 1, 3);
  t.assignments = {{3, 1, 2}};
  t.configs["min.insync.replicas"] = "2";
  REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return a.log->image()->topic("t") != nullptr; }));
  const Uuid id = a.log->image()->topic("t")->id;
  auto now = [&] { return a.log->image()->topic(id)->partitions[0]; };
  REQUIRE(now().leader == 3);
  REQUIRE(now().isr == std::vector<std::int32_t>{3, 1, 2});
  // The followers lag under load: the leader shrinks the ISR to itself.
  // They hold every committed record (the high watermark stops below
  // min.insync.replicas): the ELR.
  const std::int64_t epoch3 = a.log->image()->broker(3)->epoch;
  const AlterPartition shrink{3, epoch3, id, 0, 0, 0, {{3, epoch3}}};
  REQUIRE(c.request(x, shrink).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return now().isr.size() == 1; }));
  CHECK(now().elr == std::vector<std::int32_t>{1, 2});

  // Killed, its disk wiped, back before its session lapsed: a new
  // incarnation whose log is not the one it had.
  c.register_broker(x, std::nullopt, "dir-B", "dir-A");
  REQUIRE(c.run_until([&] { return now().leader != 3; }));
  const std::int64_t x_epoch = a.log->image()->broker(3)->epoch;
  const PartitionImage after = now();
  CHECK(after.leader == 1);
  CHECK(after.isr == std::vector<std::int32_t>{1});
  CHECK(after.elr == std::vector<std::int32_t>{2});  // not 3: its log is gone
  CHECK(after.leader_epoch == 1);
  // Handled for good: the registration no longer names the old log, so a
  // controller elected later does not take its (new) memberships again.
  REQUIRE(c.run_until([&] { return a.log->image()->broker(3)->previous_log_dir_id.empty(); }));
  CHECK(a.log->image()->broker(3)->log_dir_id == "dir-B");
  CHECK(a.log->image()->broker(3)->epoch == x_epoch);
  // It leads nothing later either (the next pass leaves the partition be).
  c.run_until([] { return false; });
  CHECK(now().leader == 1);
  CHECK(now().isr == std::vector<std::int32_t>{1});

  // Caught up, the leader takes it back into the ISR: at min ISR, no ELR.
  const std::int64_t epoch1 = a.log->image()->broker(1)->epoch;
  const AlterPartition expand{1,
                              epoch1,
                              id,
                              0,
                              after.leader_epoch,
                              after.partition_epoch,
                              {{1, epoch1}, {3, a.log->image()->broker(3)->epoch}}};
  REQUIRE(c.request(a, expand).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return now().isr.size() == 2; }));
  CHECK(now().elr.empty());
}

TEST_CASE("a controller elected after a wiped broker registered still keeps it from leading") {
  Cluster c;
  Node& a = c.add_node(1, true);
  Node& b = c.add_node(2, true);
  Node& x = c.add_node(3, false);
  c.register_broker(x, std::nullopt, "dir-A", "");
  a.controller->start();
  REQUIRE(c.run_until([&] { return a.controller->is_controller(); }));
  CreateTopic t = create("t", 1, 2);
  t.assignments = {{3, 2}};
  REQUIRE(c.request(b, t).error == ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return b.log->image()->topic("t") != nullptr; }));
  const Uuid id = b.log->image()->topic("t")->id;
  auto now = [&] { return b.log->image()->topic(id)->partitions[0]; };
  const std::int64_t epoch3 = b.log->image()->broker(3)->epoch;
  REQUIRE(c.request(x, AlterPartition{3, epoch3, id, 0, 0, 0, {{3, epoch3}}}).error ==
          ErrorCode::kNone);
  REQUIRE(c.run_until([&] { return now().isr.size() == 1; }));
  // The controller stops acting; broker 3 comes back wiped meanwhile.
  a.controller->stop();
  c.register_broker(x, std::nullopt, "dir-B", "dir-A");
  c.run_until([] { return false; });
  REQUIRE(now().leader == 3);  // nobody acted
  c.kv().expire_lease(a.lease);
  b.controller->start();
  // The registration says the log was replaced: 3 leaves the ISR it was
  // last in, and with no ELR (min ISR 1) the partition is offline rather
  // than led by an empty log.
  REQUIRE(c.run_until([&] { return now().leader != 3; }));
  CHECK(now().leader == -1);
  CHECK(now().isr.empty());
}
