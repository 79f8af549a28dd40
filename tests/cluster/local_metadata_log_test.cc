// Tests of LocalMetadataLog (src/cluster/local_metadata_log.h) against a
// real Store in a temp dir on a real libuv loop: changes are written and
// then applied, bad changes are refused with Kafka's error codes, and a
// reopened store rebuilds the same image.
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/cluster/local_metadata_log.h"
#include "storage/store.h"

namespace fs = std::filesystem;
using namespace kgw;

namespace {

struct Answer {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
};

// A store and a log on a loop in a temp dir, with helpers that run the
// loop until a change is answered.
class Harness {
 public:
  Harness() {
    std::string tmpl = (fs::temp_directory_path() / "kgw-cluster-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    REQUIRE(uv_loop_init(&loop_) == 0);
    open();
  }
  ~Harness() {
    close();
    CHECK(uv_loop_close(&loop_) == 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void open() {
    StoreOptions o;
    o.data_dir = dir_;
    std::string error;
    store = Store::open(&loop_, o, error);
    INFO(error);
    REQUIRE(store != nullptr);
    LocalMetadataLogOptions lo;
    lo.node_id = 3;
    lo.check_broker_config = [](const std::string& name, const std::string&) {
      return name == "retired.config" ? std::string("unknown") : std::string();
    };
    log = std::make_unique<LocalMetadataLog>(*store, lo);
    RegisterBroker self;
    self.broker = {3, "localhost", 9093, std::nullopt};
    CHECK(submit(std::move(self)).error == ErrorCode::kNone);
  }
  void close() {
    // The store runs what is still queued inside stop(): the log must be
    // there for it.
    CHECK(store->stop() == "");
    log.reset();
    store.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  void reopen() {
    close();
    open();
  }

  Answer submit(MetadataChange change) {
    std::optional<Answer> answer;
    log->submit(std::move(change), [&](ErrorCode e, std::string m) { answer = Answer{e, m}; });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!answer) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return *answer;
  }
  void run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  std::unique_ptr<Store> store;
  std::unique_ptr<LocalMetadataLog> log;

 private:
  std::string dir_;
  uv_loop_t loop_{};
};

CreateTopic topic(const std::string& name, std::int32_t partitions, ConfigMap configs = {}) {
  CreateTopic c;
  c.name = name;
  c.partitions = partitions;
  c.configs = std::move(configs);
  return c;
}

}  // namespace

TEST_CASE("a created topic is in the store and, once written, in the image on this node") {
  Harness h;
  const std::uint64_t v = h.log->image()->version();
  std::vector<std::uint64_t> seen;
  h.log->add_listener(
      [&](const MetadataImage& before, const MetadataImage& after, const MetadataChange& change) {
        CHECK(before.topic("t") == nullptr);
        CHECK(after.topic("t") != nullptr);
        CHECK(std::holds_alternative<CreateTopic>(change));
        // The log filled in the id the store picked and the replicas.
        CHECK(!std::get<CreateTopic>(change).id.is_zero());
        CHECK(std::get<CreateTopic>(change).assignments.size() == 2);
        seen.push_back(after.version());
      });
  Answer a = h.submit(topic("t", 2, {{"cleanup.policy", "compact"}}));
  CHECK(a.error == ErrorCode::kNone);
  ImagePtr img = h.log->image();
  CHECK(img->version() == v + 1);
  CHECK(seen == std::vector<std::uint64_t>{v + 1});
  TopicPtr t = img->topic("t");
  REQUIRE(t != nullptr);
  const TopicInfo* stored = h.store->find_topic("t");
  REQUIRE(stored != nullptr);
  CHECK(t->id == stored->id);
  CHECK(stored->partitions == 2);
  CHECK(stored->configs.at("cleanup.policy") == "compact");
  REQUIRE(t->partition_count() == 2);
  CHECK(t->partition(1)->leader == 3);
  CHECK(t->partition(1)->leader_epoch == 0);
  CHECK(t->partition(1)->replicas == std::vector<std::int32_t>{3});
  CHECK(t->partition(1)->isr == std::vector<std::int32_t>{3});
}

TEST_CASE("the image changes when the write completes, not before") {
  Harness h;
  std::optional<ErrorCode> first, second;
  h.log->submit(topic("t", 1), [&](ErrorCode e, std::string) { first = e; });
  CHECK(h.log->image()->topic("t") == nullptr);  // being written
  CHECK(h.log->latest()->topic("t") != nullptr);
  CHECK(h.store->find_topic("t") != nullptr);
  // The same name again while the first is written: refused at once.
  h.log->submit(topic("t", 1), [&](ErrorCode e, std::string) { second = e; });
  REQUIRE(second.has_value());
  CHECK(*second == ErrorCode::kTopicAlreadyExists);
  h.run_until([&] { return first.has_value(); });
  CHECK(*first == ErrorCode::kNone);
  CHECK(h.log->image()->topic("t") != nullptr);
  CHECK(h.log->latest() == h.log->image());
}

TEST_CASE("delete, partitions, configs and quotas go through the store and the image") {
  Harness h;
  REQUIRE(h.submit(topic("t", 1)).error == ErrorCode::kNone);
  REQUIRE(h.submit(topic("u", 1)).error == ErrorCode::kNone);
  const Uuid t = h.log->image()->topic("t")->id;
  const Uuid u = h.log->image()->topic("u")->id;

  CHECK(h.submit(CreatePartitions{t, 4, {}}).error == ErrorCode::kNone);
  CHECK(h.store->find_topic(t)->partitions == 4);
  CHECK(h.log->image()->topic(t)->partition_count() == 4);
  CHECK(h.log->image()->topic(t)->partition(3)->leader == 3);
  CHECK(h.log->image()->partition_count() == 5);

  CHECK(h.submit(SetTopicConfigs{t, {{"retention.ms", "1000"}}}).error == ErrorCode::kNone);
  CHECK(h.store->find_topic(t)->configs.at("retention.ms") == "1000");
  CHECK(h.log->image()->topic(t)->configs.at("retention.ms") == "1000");

  CHECK(h.submit(SetBrokerConfigs{3, {{"log.retention.ms", "5000"}}}).error == ErrorCode::kNone);
  CHECK(h.submit(SetBrokerConfigs{std::nullopt, {{"log.segment.bytes", "1048576"}}}).error ==
        ErrorCode::kNone);
  CHECK(h.log->image()->broker_configs(3).at("log.retention.ms") == "5000");
  REQUIRE(h.store->cluster_record("dynamic-broker-configs") != nullptr);
  CHECK(*h.store->cluster_record("dynamic-broker-configs") ==
        R"({"broker":{"log.retention.ms":"5000"},"default":{"log.segment.bytes":"1048576"}})");

  SetClientQuotas q;
  q.entries.push_back({{{"client-id", "app"}}, {{"producer_byte_rate", 2048, false}}});
  CHECK(h.submit(q).error == ErrorCode::kNone);
  REQUIRE(h.store->cluster_record("client-quotas") != nullptr);
  CHECK(*h.store->cluster_record("client-quotas") == h.log->image()->quotas().encode());

  CHECK(h.submit(DeleteTopic{u}).error == ErrorCode::kNone);
  CHECK(h.store->find_topic("u") == nullptr);
  CHECK(h.log->image()->topic("u") == nullptr);
  CHECK(h.log->image()->topic(u) == nullptr);
}

TEST_CASE("bad changes are refused with Kafka's error codes and change nothing") {
  Harness h;
  REQUIRE(h.submit(topic("t", 2)).error == ErrorCode::kNone);
  const Uuid t = h.log->image()->topic("t")->id;
  const std::uint64_t v = h.log->image()->version();

  Answer a = h.submit(topic("t", 1));
  CHECK(a.error == ErrorCode::kTopicAlreadyExists);
  CHECK(a.message == "Topic 't' already exists.");
  CreateTopic same_id = topic("other", 1);
  same_id.id = t;
  CHECK(h.submit(same_id).error == ErrorCode::kTopicAlreadyExists);
  CHECK(h.store->find_topic("other") == nullptr);
  CHECK(h.submit(topic("zero", 0)).error == ErrorCode::kInvalidPartitions);
  CreateTopic wide = topic("wide", 1);
  wide.replication_factor = 2;
  CHECK(h.submit(wide).error == ErrorCode::kInvalidReplicationFactor);
  CHECK(h.submit(CreatePartitions{t, 1, {}}).error == ErrorCode::kInvalidPartitions);
  CHECK(h.submit(CreatePartitions{t, 3, {{4}}}).error == ErrorCode::kInvalidReplicaAssignment);
  Uuid missing;
  missing.bytes[0] = 0x42;
  CHECK(h.submit(DeleteTopic{missing}).error == ErrorCode::kUnknownTopicId);
  CHECK(h.submit(SetTopicConfigs{missing, {}}).error == ErrorCode::kUnknownTopicId);
  CHECK(h.submit(SetBrokerConfigs{9, {}}).error == ErrorCode::kInvalidRequest);
  SetClientQuotas bad;
  bad.entries.push_back({{}, {}});
  CHECK(h.submit(bad).error == ErrorCode::kInvalidRequest);
  // The one broker is this node: an unknown id is not registered, this one
  // is alive, and once fenced (its shutdown) it is still never forgotten.
  CHECK(h.submit(UnregisterBroker{9}).error == ErrorCode::kBrokerIdNotRegistered);
  const std::int32_t self = h.log->image()->brokers().begin()->first;
  CHECK(h.submit(UnregisterBroker{self}).error == ErrorCode::kInvalidRequest);

  CHECK(h.log->image()->version() == v);
  CHECK(h.store->find_topic(t)->partitions == 2);
  CHECK(h.store->cluster_record("client-quotas") == nullptr);

  REQUIRE(h.submit(FenceBroker{self}).error == ErrorCode::kNone);
  const Answer fenced = h.submit(UnregisterBroker{self});
  CHECK(fenced.error == ErrorCode::kInvalidRequest);
  CHECK(fenced.message.find("single node") != std::string::npos);
  CHECK(h.log->image()->broker(self) != nullptr);
}

TEST_CASE("a reopened store rebuilds the same image") {
  Harness h;
  REQUIRE(h.submit(topic("a", 3, {{"cleanup.policy", "compact"}})).error == ErrorCode::kNone);
  REQUIRE(h.submit(topic("b", 1)).error == ErrorCode::kNone);
  REQUIRE(h.submit(topic("gone", 1)).error == ErrorCode::kNone);
  REQUIRE(h.submit(CreatePartitions{h.log->image()->topic("b")->id, 2, {}}).error ==
          ErrorCode::kNone);
  REQUIRE(h.submit(DeleteTopic{h.log->image()->topic("gone")->id}).error == ErrorCode::kNone);
  REQUIRE(h.submit(SetBrokerConfigs{3, {{"log.retention.ms", "5000"}, {"retired.config", "x"}}})
              .error == ErrorCode::kNone);
  SetClientQuotas q;
  q.entries.push_back({{{"user", std::nullopt}}, {{"consumer_byte_rate", 100, false}}});
  REQUIRE(h.submit(q).error == ErrorCode::kNone);
  ImagePtr before = h.log->image();

  h.reopen();
  ImagePtr after = h.log->image();
  REQUIRE(after->topics().size() == 2);
  for (const TopicPtr& t : before->topics()) {
    TopicPtr again = after->topic(t->name);
    REQUIRE(again != nullptr);
    CHECK(again->id == t->id);
    CHECK(again->configs == t->configs);
    REQUIRE(again->partition_count() == t->partition_count());
    for (std::int32_t p = 0; p < t->partition_count(); ++p) {
      CHECK(again->partition(p)->leader == t->partition(p)->leader);
      CHECK(again->partition(p)->leader_epoch == t->partition(p)->leader_epoch);
      CHECK(again->partition(p)->replicas == t->partition(p)->replicas);
      CHECK(again->partition(p)->isr == t->partition(p)->isr);
    }
  }
  CHECK(after->topic("gone") == nullptr);
  CHECK(after->partition_count() == 5);
  // A stored config the check refuses is dropped at start, the rest kept.
  CHECK(after->broker_configs(3) == ConfigMap{{"log.retention.ms", "5000"}});
  CHECK(after->quotas().encode() == before->quotas().encode());
  REQUIRE(after->broker(3) != nullptr);
  CHECK(after->broker(3)->port == 9093);
}

TEST_CASE(
    "one node: an AlterPartition to the ISR it has is accepted, others refused, none written") {
  Harness h;
  REQUIRE(h.submit(topic("t", 2)).error == ErrorCode::kNone);
  const Uuid t = h.log->image()->topic("t")->id;
  const std::uint64_t v = h.log->image()->version();
  // The leader (this node, broker epoch 0 on one node) at the epochs it sees.
  const AlterPartition self{3, 0, t, 1, 0, 0, {{3, 0}}};

  CHECK(h.submit(self).error == ErrorCode::kNone);
  const PartitionImage& p = h.log->image()->topic(t)->partitions[1];
  CHECK(p.isr == std::vector<std::int32_t>{3});
  CHECK(p.partition_epoch == 0);

  AlterPartition empty = self;
  empty.isr.clear();
  CHECK(h.submit(empty).error == ErrorCode::kInvalidRequest);
  AlterPartition other = self;
  other.isr.push_back({4, -1});
  CHECK(h.submit(other).error == ErrorCode::kInvalidRequest);
  AlterPartition stale = self;
  stale.broker_epoch = 7;
  CHECK(h.submit(stale).error == ErrorCode::kStaleBrokerEpoch);
  AlterPartition ahead = self;
  ahead.leader_epoch = 1;
  CHECK(h.submit(ahead).error == ErrorCode::kNotController);
  AlterPartition gone = self;
  gone.partition = 2;
  CHECK(h.submit(gone).error == ErrorCode::kUnknownTopicOrPartition);

  CHECK(h.log->image()->version() == v);
  CHECK(h.log->latest() == h.log->image());
}
