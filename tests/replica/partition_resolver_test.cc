// PartitionResolver and for_each_partition() against a real Store.
#include "src/replica/partition_resolver.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/replica/store_fixture.h"

namespace kgw {
namespace {

// A request and response shaped like Kafka's partitioned ones.
struct InPartition {
  std::int32_t index = 0;
};
struct InTopic {
  std::string name;
  std::vector<InPartition> partitions;
};
struct OutPartition {
  std::int32_t index = -9;
  std::int16_t error_code = 0;
  std::int64_t answer = -1;
};
struct OutTopic {
  std::string name;
  std::vector<OutPartition> partitions;
};

struct TestShape {
  TopicKey topic(const InTopic& in, OutTopic& out) const {
    out.name = in.name;
    return TopicKey::by_name(in.name);
  }
  const auto& in_partitions(const InTopic& t) const { return t.partitions; }
  auto& out_partitions(OutTopic& t) const { return t.partitions; }
  std::int32_t index(const InPartition& p) const { return p.index; }
  void start(const InPartition& in, OutPartition& out) const { out.index = in.index; }
};

TEST_CASE("resolve: unknown topic, bad partition index, resolved handle") {
  test::StoreFixture f;
  const Uuid id = f.create("orders", 2);
  PartitionResolver resolver(*f.store, *f.metadata, test::StoreFixture::kNode);

  CHECK(resolver.resolve(TopicKey::by_name("nope"), 0).error ==
        ErrorCode::kUnknownTopicOrPartition);
  Uuid unknown_id;
  unknown_id.bytes[0] = 7;
  CHECK(resolver.resolve(TopicKey::by_id(unknown_id), 0).error == ErrorCode::kUnknownTopicId);
  CHECK(resolver.resolve(TopicKey::by_name("orders"), 2).error ==
        ErrorCode::kUnknownTopicOrPartition);
  CHECK(resolver.resolve(TopicKey::by_name("orders"), -1).error ==
        ErrorCode::kUnknownTopicOrPartition);

  const Resolved byname = resolver.resolve(TopicKey::by_name("orders"), 1);
  REQUIRE(byname.ok());
  CHECK(byname.local.topic->id == id);
  CHECK(byname.local.topic->name == "orders");
  CHECK(byname.local.partition == 1);
  CHECK(byname.local.state == f.store->partition(id, 1));
  const Resolved byid = resolver.resolve(TopicKey::by_id(id), 0);
  REQUIRE(byid.ok());
  CHECK(byid.local.topic->name == "orders");
  CHECK(byid.local.state == f.store->partition(id, 0));

  // Another node's view of the same image: it leads none of them.
  PartitionResolver other(*f.store, *f.metadata, test::StoreFixture::kNode + 1);
  CHECK(other.resolve(TopicKey::by_name("orders"), 0).error == ErrorCode::kNotLeaderOrFollower);
  CHECK(other.resolve(TopicKey::by_name("nope"), 0).error == ErrorCode::kUnknownTopicOrPartition);
}

TEST_CASE("exists: existence only, whoever leads") {
  test::StoreFixture f;
  f.create("orders", 2);
  // A node that leads none of them still finds them (group offsets are
  // taken for any existing partition).
  PartitionResolver other(*f.store, *f.metadata, test::StoreFixture::kNode + 1);
  const TopicInfo* orders = other.topic(TopicKey::by_name("orders"));
  REQUIRE(orders != nullptr);
  CHECK(PartitionResolver::exists(orders, 0) == ErrorCode::kNone);
  CHECK(PartitionResolver::exists(orders, 1) == ErrorCode::kNone);
  CHECK(PartitionResolver::exists(orders, 2) == ErrorCode::kUnknownTopicOrPartition);
  CHECK(PartitionResolver::exists(orders, -1) == ErrorCode::kUnknownTopicOrPartition);
  CHECK(other.topic(TopicKey::by_name("nope")) == nullptr);
  CHECK(PartitionResolver::exists(nullptr, 0) == ErrorCode::kUnknownTopicOrPartition);
}

TEST_CASE("resolve follows the metadata image, not the store") {
  test::StoreFixture f;
  PartitionResolver resolver(*f.store, *f.metadata, test::StoreFixture::kNode);
  // Written to the store behind the metadata log's back: no topic for the
  // resolver, which answers from the image.
  TopicInfo info;
  info.name = "behind";
  info.partitions = 1;
  std::optional<std::string> result;
  f.store->create_topic(info, [&](std::string e) { result = e; });
  f.run_until([&] { return result.has_value(); });
  REQUIRE(*result == "");
  REQUIRE(f.store->find_topic("behind") != nullptr);
  CHECK(resolver.resolve(TopicKey::by_name("behind"), 0).error ==
        ErrorCode::kUnknownTopicOrPartition);
  CHECK(resolver.topic(TopicKey::by_name("behind")) == nullptr);
}

// A legacy cluster that has `legacy` (3 partitions) and `mirrored` (2).
struct FakeUpstream : UpstreamCatalogue {
  std::int32_t partitions(std::string_view topic) const override {
    if (topic == "legacy") return 3;
    if (topic == "mirrored") return 2;
    return -1;
  }
  std::string_view name_of(const Uuid&) const override { return {}; }
  bool writes_fenced(std::string_view topic) const override { return fenced == topic; }
  std::string fenced;
};

TEST_CASE("route: upstream topics, and a mirrored local copy stays upstream but for kOwnCopy") {
  test::StoreFixture f;
  const Uuid mirrored = f.create("mirrored", 2, {{"kgw.migration.state", "mirroring"}});
  f.create("owned", 1, {{"kgw.migration.state", "local"}});
  PartitionResolver resolver(*f.store, *f.metadata, test::StoreFixture::kNode);
  const TopicKey key = TopicKey::by_name("mirrored");
  const TopicInfo* topic = resolver.topic(key);
  REQUIRE(topic != nullptr);

  // Not a proxy: the copy is an ordinary local topic.
  CHECK(resolver.route(key, topic, 0).route == Route::kLocal);

  FakeUpstream upstream;
  resolver.set_upstream(&upstream);
  // Only on the legacy cluster: upstream.
  const Resolved legacy = resolver.route(TopicKey::by_name("legacy"), nullptr, 2);
  CHECK(legacy.ok());
  CHECK(legacy.route == Route::kUpstream);
  // Mirroring: clients still go upstream, consumers' any-replica fetches too.
  for (Serving s : {Serving::kLeader, Serving::kAnyReplica}) {
    const Resolved r = resolver.route(key, topic, 1, s);
    CHECK(r.ok());
    CHECK(r.route == Route::kUpstream);
  }
  CHECK(resolver.route(key, topic, 2).error == ErrorCode::kUnknownTopicOrPartition);
  // The debugging replica's view reads the local copy (migrate status).
  const Resolved own = resolver.route(key, topic, 1, Serving::kOwnCopy);
  REQUIRE(own.ok());
  CHECK(own.route == Route::kLocal);
  CHECK(own.local.topic->id == mirrored);
  // A topic kgw owns is local, proxy or not.
  const TopicKey owned = TopicKey::by_name("owned");
  const Resolved local = resolver.route(owned, resolver.topic(owned), 0);
  CHECK(local.ok());
  CHECK(local.route == Route::kLocal);
}

TEST_CASE("route: a topic rolling back is served here, its writes fenced only at the switch") {
  test::StoreFixture f;
  f.create("back", 2, {{"kgw.migration.state", "rollback"}});
  PartitionResolver resolver(*f.store, *f.metadata, test::StoreFixture::kNode);
  FakeUpstream upstream;
  resolver.set_upstream(&upstream);
  const TopicKey key = TopicKey::by_name("back");
  const TopicInfo* topic = resolver.topic(key);
  REQUIRE(topic != nullptr);
  // kgw still serves it while it copies its records back.
  for (Serving s : {Serving::kLeader, Serving::kAnyReplica, Serving::kWrite}) {
    const Resolved r = resolver.route(key, topic, 1, s);
    CHECK(r.ok());
    CHECK(r.route == Route::kLocal);
  }
  // The switch's fence: writes refused (the producer retries), reads go on.
  upstream.fenced = "back";
  CHECK(resolver.route(key, topic, 1, Serving::kWrite).error == ErrorCode::kNotLeaderOrFollower);
  CHECK(resolver.route(key, topic, 1, Serving::kLeader).ok());
  CHECK(PartitionResolver::served_here("rollback"));
  CHECK(PartitionResolver::served_here("local"));
  CHECK_FALSE(PartitionResolver::served_here("mirroring"));
  CHECK_FALSE(PartitionResolver::served_here("cutover"));
  CHECK_FALSE(PartitionResolver::served_here("upstream"));
}

TEST_CASE("for_each_partition fills each partition's error in request order") {
  test::StoreFixture f;
  const Uuid id = f.create("orders", 2);
  PartitionResolver resolver(*f.store, *f.metadata, test::StoreFixture::kNode);

  std::vector<InTopic> in = {
      {"orders", {{0}, {5}, {1}, {0}}},
      {"missing", {{0}, {1}}},
  };
  std::vector<OutTopic> out;
  std::vector<std::pair<std::size_t, std::size_t>> called;
  std::vector<std::pair<std::size_t, std::size_t>> guarded;
  const std::size_t errors = for_each_partition(
      resolver, TestShape{}, in, out,
      [&](std::size_t ti, std::size_t pi, const InPartition&) {
        guarded.emplace_back(ti, pi);
        // The guard runs before the lookup: it wins over an unknown topic.
        return ti == 1 && pi == 1 ? ErrorCode::kInvalidRequest : ErrorCode::kNone;
      },
      [&](std::size_t ti, std::size_t pi, const InPartition& p, OutPartition& o,
          const LocalPartition& local) {
        called.emplace_back(ti, pi);
        CHECK(local.topic->id == id);
        CHECK(local.partition == p.index);
        if (pi == 3) return ErrorCode::kOffsetOutOfRange;  // the handler's own error
        o.answer = 100 + p.index;
        return ErrorCode::kNone;
      });

  CHECK(errors == 4);
  REQUIRE(out.size() == 2);
  CHECK(out[0].name == "orders");
  CHECK(out[1].name == "missing");
  REQUIRE(out[0].partitions.size() == 4);
  REQUIRE(out[1].partitions.size() == 2);
  // Every partition answered, in request order, with its index.
  CHECK(out[0].partitions[0].index == 0);
  CHECK(out[0].partitions[1].index == 5);
  CHECK(out[0].partitions[2].index == 1);
  CHECK(out[1].partitions[1].index == 1);
  CHECK(out[0].partitions[0].error_code == 0);
  CHECK(out[0].partitions[0].answer == 100);
  CHECK(out[0].partitions[1].error_code == code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(out[0].partitions[1].answer == -1);
  CHECK(out[0].partitions[2].error_code == 0);
  CHECK(out[0].partitions[2].answer == 101);
  CHECK(out[0].partitions[3].error_code == code(ErrorCode::kOffsetOutOfRange));
  CHECK(out[1].partitions[0].error_code == code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(out[1].partitions[1].error_code == code(ErrorCode::kInvalidRequest));
  // The guard saw every partition; the handler only the resolved ones.
  CHECK(guarded.size() == 6);
  CHECK(called == std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {0, 2}, {0, 3}});
}

}  // namespace

// Kafka's most common field names, as NamedTopicsShape expects them.
struct NamedInPartition {
  std::int32_t partition_index = 0;
};
struct NamedInTopic {
  std::string name;
  std::vector<NamedInPartition> partitions;
};
struct NamedOutPartition {
  std::int32_t partition_index = -9;
  std::int16_t error_code = 0;
};
struct NamedOutTopic {
  std::string name;
  std::vector<NamedOutPartition> partitions;
};

TEST_CASE("NamedTopicsShape: names, indexes and errors by Kafka's usual fields") {
  test::StoreFixture f;
  f.create("orders", 1);
  PartitionResolver resolver(*f.store, *f.metadata, test::StoreFixture::kNode);
  std::vector<NamedInTopic> in = {{"orders", {{0}, {3}}}, {"missing", {{0}}}};
  std::vector<NamedOutTopic> out;
  int called = 0;
  const std::size_t errors = for_each_partition(
      resolver, NamedTopicsShape{}, in, out, NoGuard{},
      [&](std::size_t, std::size_t, const auto&, auto&, const LocalPartition& local) {
        ++called;
        CHECK(local.partition == 0);
        return ErrorCode::kNone;
      });
  CHECK(errors == 2);
  CHECK(called == 1);
  REQUIRE(out.size() == 2);
  CHECK(out[0].name == "orders");
  REQUIRE(out[0].partitions.size() == 2);
  CHECK(out[0].partitions[0].partition_index == 0);
  CHECK(out[0].partitions[0].error_code == 0);
  CHECK(out[0].partitions[1].partition_index == 3);
  CHECK(out[0].partitions[1].error_code == code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(out[1].name == "missing");
  REQUIRE(out[1].partitions.size() == 1);
  CHECK(out[1].partitions[0].error_code == code(ErrorCode::kUnknownTopicOrPartition));
}

}  // namespace kgw
