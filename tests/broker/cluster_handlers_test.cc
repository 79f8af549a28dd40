// The handlers' answers when the metadata image describes several brokers
// (issue 15): a synthetic 3-broker image built through the fixture's
// LocalMetadataLog (brokers 2 and 3 registered, topics created with
// explicit replica assignments, a broker fenced, a controller set), then
// Metadata, DescribeCluster, Produce, Fetch, FindCoordinator and the group
// and transaction requests decoded field by field as a client reads them.
// Also coordinator placement (src/cluster/coordinator_placement.h) itself.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "all_messages.h"
#include "common/clock.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/wire/error_code.h"
#include "src/cluster/coordinator_placement.h"
#include "src/replica/replica_manager.h"
#include "tests/broker/handler_fixture.h"

namespace kgw {
namespace {

using test::HandlerFixture;

void submit(HandlerFixture& f, MetadataChange change) {
  bool done = false;
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  f.metadata->submit(std::move(change), [&](ErrorCode e, std::string m) {
    error = e;
    message = std::move(m);
    done = true;
  });
  f.run_until([&] { return done; });
  INFO(message);
  REQUIRE(error == ErrorCode::kNone);
}

void add_broker(HandlerFixture& f, std::int32_t id, std::int32_t port, std::string rack) {
  RegisterBroker r;
  r.broker.id = id;
  r.broker.host = "127.0.0.1";
  r.broker.port = port;
  r.broker.rack = std::move(rack);
  r.broker.epoch = 100 + id;
  submit(f, std::move(r));
}

Uuid create(HandlerFixture& f, std::string name, ReplicaAssignment assignments) {
  CreateTopic c;
  c.name = name;
  c.partitions = static_cast<std::int32_t>(assignments.size());
  c.replication_factor = static_cast<std::int32_t>(assignments.front().size());
  c.assignments = std::move(assignments);
  submit(f, std::move(c));
  const TopicPtr t = f.metadata->image()->topic(name);
  REQUIRE(t != nullptr);
  return t->id;
}

// Brokers 1 (this node), 2 (rack r2, port 9093) and 3 (rack r3, port 9094,
// fenced); "spread": partition 0 led by 2, 1 by this node, 2 by 3.
struct ThreeBrokers {
  HandlerFixture f;
  Uuid spread;

  ThreeBrokers() {
    add_broker(f, 2, 9093, "r2");
    add_broker(f, 3, 9094, "r3");
    spread = create(f, "spread", {{2, 3, 1}, {1, 2, 3}, {3, 1, 2}});
    submit(f, FenceBroker{3});
    submit(f, SetController{2, 7});
  }
};

std::vector<std::uint8_t> make_batch() {
  RecordBatchBuilder b(RecordBatchOptions{});
  const std::string value = "value";
  REQUIRE(b.add(wall_ms(), std::nullopt, Bytes(std::string_view(value))) == RecordError::kNone);
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

// A group id whose partition of `partitions` is `want`.
std::string key_for(std::int32_t want, std::int32_t partitions, std::string_view prefix) {
  for (int i = 0; i < 10000; ++i) {
    std::string k = std::string(prefix) + std::to_string(i);
    if (coordinator_partition(k, partitions) == want) return k;
  }
  FAIL("no key found");
  return {};
}

TEST_CASE("java_string_hash and coordinator_partition are Java's and Kafka's") {
  // Values of Java's String.hashCode.
  CHECK(java_string_hash("") == 0);
  CHECK(java_string_hash("a") == 97);
  CHECK(java_string_hash("hello") == 99162322);
  CHECK(java_string_hash("my-group") == -1906497762);
  CHECK(java_string_hash("caf\xC3\xA9") == 3045921);         // U+00E9: one UTF-16 unit
  CHECK(java_string_hash("\xF0\x9F\x98\x80x") == 54959989);  // U+1F600: a surrogate pair
  CHECK(java_string_hash("polygenelubricants") == INT32_MIN);
  // Utils.abs: a negative hash counts by its absolute value, MIN_VALUE as 0.
  CHECK(coordinator_partition("my-group", 50) == 1906497762 % 50);
  CHECK(coordinator_partition("polygenelubricants", 50) == 0);
  CHECK(coordinator_partition("hello", 50) == 99162322 % 50);
}

TEST_CASE("place_coordinator: this node without the internal topic, else the partition leader") {
  HandlerFixture f;
  ImagePtr image = f.metadata->image();
  CoordinatorPlacement p = place_coordinator(*image, CoordinatorType::kGroup, "g", 1);
  CHECK(p.node == 1);
  CHECK_FALSE(p.by_topic);

  add_broker(f, 2, 9093, "r2");
  add_broker(f, 3, 9094, "r3");
  create(f, "__consumer_offsets", {{2}, {1}, {3}});
  submit(f, FenceBroker{3});
  image = f.metadata->image();
  const std::string on2 = key_for(0, 3, "g");
  const std::string on1 = key_for(1, 3, "g");
  const std::string on3 = key_for(2, 3, "g");
  p = place_coordinator(*image, CoordinatorType::kGroup, on2, 1);
  CHECK(p.by_topic);
  CHECK(p.partition == 0);
  CHECK(p.node == 2);
  CHECK_FALSE(coordinates_here(*image, CoordinatorType::kGroup, on2, 1));
  CHECK(coordinates_here(*image, CoordinatorType::kGroup, on1, 1));
  // Its leader is fenced: nobody coordinates it now.
  CHECK(place_coordinator(*image, CoordinatorType::kGroup, on3, 1).node == -1);
  CHECK_FALSE(coordinates_here(*image, CoordinatorType::kGroup, on3, 1));
  // Transactional ids follow their own topic, absent here.
  CHECK(place_coordinator(*image, CoordinatorType::kTransaction, on2, 1).node == 1);
}

TEST_CASE("Metadata lists the unfenced brokers, the controller, leaders and offline replicas") {
  ThreeBrokers c;
  MetadataRequest req;
  req.topics.reset();  // every topic
  for (std::int16_t version : {std::int16_t{5}, std::int16_t{9}, std::int16_t{12}}) {
    CAPTURE(version);
    auto resp = c.f.call<MetadataResponse>(req, version);
    REQUIRE(resp.brokers.size() == 2);
    CHECK(resp.brokers[0].node_id == 1);
    CHECK(resp.brokers[0].port == 9092);
    CHECK(resp.brokers[1].node_id == 2);
    CHECK(resp.brokers[1].host == "127.0.0.1");
    CHECK(resp.brokers[1].port == 9093);
    REQUIRE(resp.brokers[1].rack.has_value());
    CHECK(*resp.brokers[1].rack == "r2");
    CHECK(resp.controller_id == 2);
    REQUIRE(resp.topics.size() == 1);
    const auto& parts = resp.topics[0].partitions;
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].error_code == code(ErrorCode::kNone));
    CHECK(parts[0].leader_id == 2);
    CHECK(parts[0].replica_nodes == std::vector<std::int32_t>{2, 3, 1});
    CHECK(parts[0].isr_nodes == std::vector<std::int32_t>{2, 3, 1});
    CHECK(parts[0].offline_replicas == std::vector<std::int32_t>{3});
    CHECK(parts[1].error_code == code(ErrorCode::kNone));
    CHECK(parts[1].leader_id == 1);
    CHECK(parts[1].offline_replicas == std::vector<std::int32_t>{3});
    // Led by the fenced broker: no reachable leader.
    CHECK(parts[2].error_code == code(ErrorCode::kLeaderNotAvailable));
    CHECK(parts[2].leader_id == -1);
    CHECK(parts[2].replica_nodes == std::vector<std::int32_t>{3, 1, 2});
    CHECK(parts[2].offline_replicas == std::vector<std::int32_t>{3});
  }
  // No controller elected.
  submit(c.f, SetController{-1, 0});
  CHECK(c.f.call<MetadataResponse>(req, 12).controller_id == -1);
}

TEST_CASE("Metadata and DescribeCluster on one node are as before") {
  HandlerFixture f;
  create(f, "solo", {{1}, {1}});
  MetadataRequest req;
  req.topics.reset();
  auto resp = f.call<MetadataResponse>(req, 12);
  REQUIRE(resp.brokers.size() == 1);
  CHECK(resp.brokers[0].node_id == 1);
  CHECK(resp.controller_id == 1);
  REQUIRE(resp.topics.size() == 1);
  for (const auto& p : resp.topics[0].partitions) {
    CHECK(p.error_code == 0);
    CHECK(p.leader_id == 1);
    CHECK(p.leader_epoch == 0);
    CHECK(p.offline_replicas.empty());
  }
  DescribeClusterRequest dc;
  auto d = f.call<DescribeClusterResponse>(dc, 1);
  CHECK(d.controller_id == 1);
  REQUIRE(d.brokers.size() == 1);
  CHECK(d.brokers[0].broker_id == 1);
}

TEST_CASE("DescribeCluster names the image's controller and the unfenced brokers") {
  ThreeBrokers c;
  DescribeClusterRequest req;
  for (std::int16_t version : {std::int16_t{0}, std::int16_t{1}}) {
    auto resp = c.f.call<DescribeClusterResponse>(req, version);
    CHECK(resp.error_code == 0);
    CHECK(resp.controller_id == 2);
    REQUIRE(resp.brokers.size() == 2);
    CHECK(resp.brokers[0].broker_id == 1);
    CHECK(resp.brokers[1].broker_id == 2);
    CHECK(resp.brokers[1].port == 9093);
    REQUIRE(resp.brokers[1].rack.has_value());
    CHECK(*resp.brokers[1].rack == "r2");
  }
}

TEST_CASE("UnregisterBroker on one node: unknown ids, itself and a fenced broker are refused") {
  ThreeBrokers c;
  UnregisterBrokerRequest req;
  req.broker_id = 9;
  auto resp = c.f.call<UnregisterBrokerResponse>(req, 0);
  CHECK(resp.error_code == code(ErrorCode::kBrokerIdNotRegistered));
  REQUIRE(resp.error_message.has_value());
  CHECK(*resp.error_message == "Broker ID 9 is not currently registered");
  req.broker_id = 1;  // this node, alive
  CHECK(c.f.call<UnregisterBrokerResponse>(req, 0).error_code == code(ErrorCode::kInvalidRequest));
  req.broker_id = 3;  // fenced, but a single node's log never forgets a broker
  resp = c.f.call<UnregisterBrokerResponse>(req, 0);
  CHECK(resp.error_code == code(ErrorCode::kInvalidRequest));
  CHECK(c.f.metadata->image()->broker(3) != nullptr);
}

CreateTopicsRequest manual(
    std::string_view name,
    const std::vector<std::pair<std::int32_t, std::vector<std::int32_t>>>& parts) {
  CreateTopicsRequest req;
  auto& t = req.topics.emplace_back();
  t.name = name;
  t.num_partitions = -1;
  t.replication_factor = -1;
  for (const auto& [index, brokers] : parts) {
    auto& a = t.assignments.emplace_back();
    a.partition_index = index;
    a.broker_ids = brokers;
  }
  return req;
}

TEST_CASE("CreateTopics places manual assignments on other brokers, checked as Kafka") {
  ThreeBrokers c;
  // Given out of order: keyed by partition index.
  auto resp = c.f.call<CreateTopicsResponse>(manual("placed", {{1, {1, 2}}, {0, {2, 1}}}), 7);
  REQUIRE(resp.topics.size() == 1);
  CHECK(resp.topics[0].error_code == 0);
  CHECK(resp.topics[0].num_partitions == 2);
  CHECK(resp.topics[0].replication_factor == 2);
  const TopicPtr t = c.f.metadata->image()->topic("placed");
  REQUIRE(t != nullptr);
  CHECK(t->partitions[0].replicas == std::vector<std::int32_t>{2, 1});
  CHECK(t->partitions[0].leader == 2);
  CHECK(t->partitions[1].replicas == std::vector<std::int32_t>{1, 2});
  CHECK(t->partitions[1].leader == 1);

  struct Bad {
    std::vector<std::pair<std::int32_t, std::vector<std::int32_t>>> parts;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {{{0, {9}}},
       "The manual partition assignment includes broker 9, but no such broker is "
       "registered."},
      {{{0, {2, 2}}}, "The manual partition assignment includes the broker 2 more than once."},
      {{{0, {}}}, "The manual partition assignment includes an empty replica list."},
      {{{0, {1, 2}}, {1, {2}}},
       "The manual partition assignment includes a partition with 1 replica(s), but this is not "
       "consistent with previous partitions, which have 2 replica(s)."},
      {{{0, {1}}, {0, {2}}}, "Found multiple manual partition assignments for partition 0"},
      {{{0, {1}}, {2, {2}}}, "partitions should be a consecutive 0-based integer sequence"},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.message);
    auto r = c.f.call<CreateTopicsResponse>(manual("refused", b.parts), 7);
    REQUIRE(r.topics.size() == 1);
    CHECK(r.topics[0].error_code == code(ErrorCode::kInvalidReplicaAssignment));
    REQUIRE(r.topics[0].error_message.has_value());
    CHECK(*r.topics[0].error_message == b.message);
  }
  CHECK(c.f.metadata->image()->topic("refused") == nullptr);

  // Broker 3 is fenced: two usable brokers for a replication factor of 3.
  CreateTopicsRequest rf;
  auto& rt = rf.topics.emplace_back();
  rt.name = "three";
  rt.num_partitions = 1;
  rt.replication_factor = 3;
  auto rr = c.f.call<CreateTopicsResponse>(rf, 7);
  CHECK(rr.topics[0].error_code == code(ErrorCode::kInvalidReplicationFactor));
  REQUIRE(rr.topics[0].error_message.has_value());
  CHECK(rr.topics[0].error_message->find("only 2 broker(s)") != std::string_view::npos);
}

TEST_CASE("CreatePartitions places manual assignments on other brokers") {
  ThreeBrokers c;
  REQUIRE(c.f.call<CreateTopicsResponse>(manual("grow", {{0, {1, 2}}}), 7).topics[0].error_code ==
          0);
  CreatePartitionsRequest req;
  req.timeout_ms = 30000;
  auto& t = req.topics.emplace_back();
  t.name = "grow";
  t.count = 3;
  t.assignments = std::vector<CreatePartitionsRequest::CreatePartitionsAssignment>(2);
  (*t.assignments)[0].broker_ids = {2, 1};
  (*t.assignments)[1].broker_ids = {1, 2};
  auto resp = c.f.call<CreatePartitionsResponse>(req, 3);
  REQUIRE(resp.results.size() == 1);
  CHECK(resp.results[0].error_code == 0);
  const TopicPtr topic = c.f.metadata->image()->topic("grow");
  REQUIRE(topic->partition_count() == 3);
  CHECK(topic->partitions[1].replicas == std::vector<std::int32_t>{2, 1});
  CHECK(topic->partitions[1].leader == 2);
  CHECK(topic->partitions[2].replicas == std::vector<std::int32_t>{1, 2});

  // One assignment short, and a broker that is not registered.
  t.count = 5;
  t.assignments->resize(1);
  resp = c.f.call<CreatePartitionsResponse>(req, 3);
  CHECK(resp.results[0].error_code == code(ErrorCode::kInvalidReplicaAssignment));
  t.assignments->resize(2);
  (*t.assignments)[0].broker_ids = {9, 1};
  resp = c.f.call<CreatePartitionsResponse>(req, 3);
  CHECK(resp.results[0].error_code == code(ErrorCode::kInvalidReplicaAssignment));
  CHECK(c.f.metadata->image()->topic("grow")->partition_count() == 3);
}

ProduceRequest produce_all(const std::vector<std::uint8_t>& batch) {
  ProduceRequest req;
  req.acks = 1;
  req.timeout_ms = 30000;
  auto& t = req.topic_data.emplace_back();
  t.name = "spread";
  for (std::int32_t p = 0; p < 3; ++p) {
    auto& pd = t.partition_data.emplace_back();
    pd.index = p;
    pd.records = Bytes(batch);
  }
  return req;
}

TEST_CASE("Produce to partitions led elsewhere: NOT_LEADER_OR_FOLLOWER with KIP-951's leader") {
  ThreeBrokers c;
  const auto batch = make_batch();
  auto resp = c.f.call<ProduceResponse>(produce_all(batch), 10);
  REQUIRE(resp.responses.size() == 1);
  const auto& parts = resp.responses[0].partition_responses;
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(parts[0].current_leader.leader_id == 2);
  CHECK(parts[0].current_leader.leader_epoch == 0);
  // Led here: appended, no hint.
  CHECK(parts[1].error_code == code(ErrorCode::kNone));
  CHECK(parts[1].base_offset == 0);
  CHECK(parts[1].current_leader.leader_id == -1);
  // Led by the fenced broker: its id and epoch, but no address.
  CHECK(parts[2].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(parts[2].current_leader.leader_id == 3);
  CHECK(parts[2].current_leader.leader_epoch == 0);
  REQUIRE(resp.node_endpoints.size() == 1);
  CHECK(resp.node_endpoints[0].node_id == 2);
  CHECK(resp.node_endpoints[0].host == "127.0.0.1");
  CHECK(resp.node_endpoints[0].port == 9093);
  REQUIRE(resp.node_endpoints[0].rack.has_value());
  CHECK(*resp.node_endpoints[0].rack == "r2");

  // v9 has no KIP-951 fields: the error alone.
  auto old = c.f.call<ProduceResponse>(produce_all(batch), 9);
  const auto& op = old.responses[0].partition_responses;
  CHECK(op[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(op[0].current_leader.leader_id == -1);
  CHECK(op[1].error_code == code(ErrorCode::kNone));
  CHECK(old.node_endpoints.empty());
}

TEST_CASE("WriteTxnMarkers appends where led here; elsewhere and unknown answer per partition") {
  ThreeBrokers c;
  WriteTxnMarkersRequest req;
  auto& m = req.markers.emplace_back();
  m.producer_id = 4242;
  m.producer_epoch = 3;
  m.transaction_result = true;
  m.topics.push_back({"spread", {0, 1, 2, 9}, {}});
  m.topics.push_back({"nope", {0}, {}});
  for (std::int16_t v = 0; v <= 1; ++v) {
    const std::int64_t end_before = c.f.store->partition(c.spread, 1)->log_end_offset;
    auto resp = c.f.call<WriteTxnMarkersResponse>(req, v);
    REQUIRE(resp.markers.size() == 1);
    CHECK(resp.markers[0].producer_id == 4242);
    REQUIRE(resp.markers[0].topics.size() == 2);
    const auto& spread = resp.markers[0].topics[0];
    CHECK(spread.name == "spread");
    REQUIRE(spread.partitions.size() == 4);
    CHECK(spread.partitions[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
    CHECK(spread.partitions[1].partition_index == 1);
    CHECK(spread.partitions[1].error_code == code(ErrorCode::kNone));
    CHECK(spread.partitions[2].error_code == code(ErrorCode::kNotLeaderOrFollower));
    CHECK(spread.partitions[3].error_code == code(ErrorCode::kUnknownTopicOrPartition));
    const auto& nope = resp.markers[0].topics[1];
    REQUIRE(nope.partitions.size() == 1);
    CHECK(nope.partitions[0].error_code == code(ErrorCode::kUnknownTopicOrPartition));
    // The control batch is in partition 1's log.
    CHECK(c.f.store->partition(c.spread, 1)->log_end_offset == end_before + 1);
  }
}

TEST_CASE("DescribeProducers asks the leader: NOT_LEADER_OR_FOLLOWER elsewhere") {
  ThreeBrokers c;
  DescribeProducersRequest req;
  auto& t = req.topics.emplace_back();
  t.name = "spread";
  t.partition_indexes = {0, 1, 2};
  auto resp = c.f.call<DescribeProducersResponse>(req, 0);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].partitions.size() == 3);
  CHECK(resp.topics[0].partitions[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(resp.topics[0].partitions[1].error_code == code(ErrorCode::kNone));
  CHECK(resp.topics[0].partitions[2].error_code == code(ErrorCode::kNotLeaderOrFollower));
}

TEST_CASE("ListOffsets asks the leader; DescribeLogDirs lists this broker's replicas") {
  ThreeBrokers c;
  ListOffsetsRequest lo;
  lo.replica_id = -1;
  auto& t = lo.topics.emplace_back();
  t.name = "spread";
  for (std::int32_t p = 0; p < 3; ++p) {
    auto& pp = t.partitions.emplace_back();
    pp.partition_index = p;
    pp.timestamp = -1;
  }
  auto lr = c.f.call<ListOffsetsResponse>(lo, 7);
  REQUIRE(lr.topics.size() == 1);
  REQUIRE(lr.topics[0].partitions.size() == 3);
  CHECK(lr.topics[0].partitions[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(lr.topics[0].partitions[1].error_code == code(ErrorCode::kNone));
  CHECK(lr.topics[0].partitions[1].offset == 0);
  CHECK(lr.topics[0].partitions[2].error_code == code(ErrorCode::kNotLeaderOrFollower));

  // Partition 0 on this broker, 1 only on brokers 2 and 3.
  create(c.f, "partly", {{2, 1}, {2, 3}});
  DescribeLogDirsRequest dl;
  dl.topics.reset();
  auto dr = c.f.call<DescribeLogDirsResponse>(dl, 4);
  REQUIRE(dr.results.size() == 1);
  bool found = false;
  for (const auto& topic : dr.results[0].topics) {
    if (topic.name != "partly") continue;
    found = true;
    REQUIRE(topic.partitions.size() == 1);
    CHECK(topic.partitions[0].partition_index == 0);
  }
  CHECK(found);
}

TEST_CASE("ListOffsets from the debugging replica id: any replica, its log end") {
  ThreeBrokers c;
  // Partition 1 is led here with followers 2 and 3 in the ISR, which never
  // fetch: a write stays above the high watermark.
  auto pr = c.f.call<ProduceResponse>(produce_all(make_batch()), 9);
  REQUIRE(pr.responses[0].partition_responses[1].error_code == code(ErrorCode::kNone));
  REQUIRE(c.f.store->partition(c.spread, 1)->high_watermark == 1);
  auto latest = [&](std::int32_t replica_id, std::int8_t isolation) {
    ListOffsetsRequest lo;
    lo.replica_id = replica_id;
    lo.isolation_level = isolation;
    auto& t = lo.topics.emplace_back();
    t.name = "spread";
    for (std::int32_t p = 0; p < 3; ++p) {
      auto& pp = t.partitions.emplace_back();
      pp.partition_index = p;
      pp.timestamp = -1;
    }
    auto lr = c.f.call<ListOffsetsResponse>(lo, 7);
    REQUIRE(lr.topics.size() == 1);
    REQUIRE(lr.topics[0].partitions.size() == 3);
    return lr.topics[0].partitions;
  };
  // A consumer: the leader only, up to the high watermark.
  for (std::int8_t isolation : {std::int8_t{0}, std::int8_t{1}}) {
    auto client = latest(-1, isolation);
    CHECK(client[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
    CHECK(client[1].error_code == code(ErrorCode::kNone));
    CHECK(client[1].offset == 0);
  }
  // Kafka's DEBUGGING_REPLICA_ID (-2): every replica here answers, with
  // its log end, whatever the isolation level.
  for (std::int8_t isolation : {std::int8_t{0}, std::int8_t{1}}) {
    auto debug = latest(-2, isolation);
    for (const auto& p : debug) {
      CAPTURE(p.partition_index);
      CHECK(p.error_code == code(ErrorCode::kNone));
      CHECK(p.offset == (p.partition_index == 1 ? 1 : 0));
    }
  }
  // A broker id: the leader only, its log end.
  auto broker = latest(2, 0);
  CHECK(broker[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(broker[1].error_code == code(ErrorCode::kNone));
  CHECK(broker[1].offset == 1);
}

// `name` is viewed by the request: pass a literal.
FetchRequest fetch_all(const Uuid& id, std::string_view name = "spread") {
  FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  req.max_bytes = 1 << 20;
  req.session_epoch = -1;
  auto& t = req.topics.emplace_back();
  t.topic = name;
  t.topic_id = id;
  for (std::int32_t p = 0; p < 3; ++p) {
    auto& pd = t.partitions.emplace_back();
    pd.partition = p;
    pd.fetch_offset = 0;
    pd.partition_max_bytes = 1 << 20;
  }
  return req;
}

TEST_CASE("Fetch from partitions led elsewhere: NOT_LEADER_OR_FOLLOWER with KIP-951's leader") {
  ThreeBrokers c;
  // Partitions 0 and 2 have no replica on this broker.
  const Uuid elsewhere = create(c.f, "elsewhere", {{2, 3}, {1, 2}, {3, 2}});
  for (std::int16_t version : {std::int16_t{12}, std::int16_t{13}, std::int16_t{16}}) {
    CAPTURE(version);
    auto resp = c.f.call<FetchResponse>(fetch_all(elsewhere, "elsewhere"), version);
    CHECK(resp.error_code == 0);
    REQUIRE(resp.responses.size() == 1);
    const auto& parts = resp.responses[0].partitions;
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
    CHECK(parts[0].current_leader.leader_id == 2);
    CHECK(parts[0].current_leader.leader_epoch == 0);
    CHECK(parts[1].error_code == code(ErrorCode::kNone));
    CHECK(parts[1].current_leader.leader_id == -1);
    CHECK(parts[2].error_code == code(ErrorCode::kNotLeaderOrFollower));
    CHECK(parts[2].current_leader.leader_id == 3);
    if (version >= 16) {
      REQUIRE(resp.node_endpoints.size() == 1);
      CHECK(resp.node_endpoints[0].node_id == 2);
      CHECK(resp.node_endpoints[0].port == 9093);
      REQUIRE(resp.node_endpoints[0].rack.has_value());
      CHECK(*resp.node_endpoints[0].rack == "r2");
    } else {
      CHECK(resp.node_endpoints.empty());
    }
  }
  // Before v12 (not flexible) there is no current leader to send.
  auto old = c.f.call<FetchResponse>(fetch_all(elsewhere, "elsewhere"), 11);
  CHECK(old.responses[0].partitions[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(old.responses[0].partitions[0].current_leader.leader_id == -1);
}

TEST_CASE("Fetch v11+ from a consumer is served by a follower (KIP-392), not before") {
  ThreeBrokers c;
  // "spread": this broker is a follower of partitions 0 and 2.
  auto resp = c.f.call<FetchResponse>(fetch_all(c.spread), 11);
  for (const auto& p : resp.responses[0].partitions) {
    CAPTURE(p.partition_index);
    CHECK(p.error_code == code(ErrorCode::kNone));
    CHECK(p.preferred_read_replica == -1);
  }
  auto old = c.f.call<FetchResponse>(fetch_all(c.spread), 10);
  CHECK(old.responses[0].partitions[0].error_code == code(ErrorCode::kNotLeaderOrFollower));
  CHECK(old.responses[0].partitions[1].error_code == code(ErrorCode::kNone));
}

TEST_CASE("RackAwareReplicaSelector: a consumer in r2 is sent to the in-sync follower there") {
  ThreeBrokers c;
  REQUIRE(c.f.config.set("replica.selector.class",
                         "org.apache.kafka.common.replica.RackAwareReplicaSelector") == "");
  // Broker 2 fetches partition 1 (led here) as a follower, at offset 0.
  FetchRequest follower = fetch_all(c.spread);
  follower.replica_id = 2;
  auto fr = c.f.call<FetchResponse>(follower, 12);
  CHECK(fr.responses[0].partitions[1].error_code == code(ErrorCode::kNone));
  CHECK(c.f.broker->replicas().follower_end(c.spread, 1, 2) == 0);

  FetchRequest consumer = fetch_all(c.spread);
  consumer.rack_id = "r2";
  auto resp = c.f.call<FetchResponse>(consumer, 12);
  const auto& p1 = resp.responses[0].partitions[1];
  CHECK(p1.error_code == code(ErrorCode::kNone));
  CHECK(p1.preferred_read_replica == 2);
  CHECK((!p1.records.has_value() || p1.records->size() == 0));
  // No rack, another rack, or before v11: the leader serves it.
  for (std::string_view rack : {"", "r9"}) {
    consumer.rack_id = rack;
    auto other = c.f.call<FetchResponse>(consumer, 12);
    CHECK(other.responses[0].partitions[1].preferred_read_replica == -1);
  }
}

// __consumer_offsets with partition 0 led by 2, 1 by this node, 2 by the
// fenced broker 3.
struct GroupsElsewhere : ThreeBrokers {
  std::string on2 = key_for(0, 3, "group-");
  std::string here = key_for(1, 3, "group-");
  std::string on3 = key_for(2, 3, "group-");
  GroupsElsewhere() { create(f, "__consumer_offsets", {{2, 1}, {1, 2}, {3, 1}}); }
};

TEST_CASE("FindCoordinator names the leader of the group's __consumer_offsets partition") {
  GroupsElsewhere c;
  FindCoordinatorRequest one;
  one.key = c.on2;
  one.key_type = 0;
  for (std::int16_t version : {std::int16_t{1}, std::int16_t{3}}) {
    auto resp = c.f.call<FindCoordinatorResponse>(one, version);
    CHECK(resp.error_code == 0);
    CHECK(resp.node_id == 2);
    CHECK(resp.host == "127.0.0.1");
    CHECK(resp.port == 9093);
  }
  FindCoordinatorRequest batch;
  batch.key_type = 0;
  batch.coordinator_keys = {c.on2, c.here, c.on3};
  auto resp = c.f.call<FindCoordinatorResponse>(batch, 4);
  REQUIRE(resp.coordinators.size() == 3);
  CHECK(resp.coordinators[0].error_code == 0);
  CHECK(resp.coordinators[0].node_id == 2);
  CHECK(resp.coordinators[0].port == 9093);
  CHECK(resp.coordinators[1].error_code == 0);
  CHECK(resp.coordinators[1].node_id == 1);
  CHECK(resp.coordinators[1].port == 9092);
  // Its partition's leader is fenced.
  CHECK(resp.coordinators[2].error_code == code(ErrorCode::kCoordinatorNotAvailable));
  CHECK(resp.coordinators[2].node_id == -1);
  // Transactional ids: no __transaction_state, so this node.
  batch.key_type = 1;
  resp = c.f.call<FindCoordinatorResponse>(batch, 4);
  for (const auto& co : resp.coordinators) {
    CHECK(co.error_code == 0);
    CHECK(co.node_id == 1);
  }
}

TEST_CASE("Group requests for a group coordinated elsewhere are NOT_COORDINATOR") {
  GroupsElsewhere c;
  const std::int16_t kNotCoordinator = code(ErrorCode::kNotCoordinator);
  for (const std::string* g : {&c.on2, &c.on3}) {
    CAPTURE(*g);
    JoinGroupRequest join;
    join.group_id = *g;
    join.session_timeout_ms = 10000;
    join.rebalance_timeout_ms = 10000;
    join.protocol_type = "consumer";
    auto& proto = join.protocols.emplace_back();
    proto.name = "range";
    auto jr = c.f.call<JoinGroupResponse>(join, 9);
    CHECK(jr.error_code == kNotCoordinator);
    CHECK(jr.generation_id == -1);

    HeartbeatRequest hb;
    hb.group_id = *g;
    hb.generation_id = 1;
    hb.member_id = "m";
    CHECK(c.f.call<HeartbeatResponse>(hb, 4).error_code == kNotCoordinator);

    OffsetCommitRequest oc;
    oc.group_id = *g;
    oc.member_id = "";
    auto& ot = oc.topics.emplace_back();
    ot.name = "spread";
    auto& op = ot.partitions.emplace_back();
    op.partition_index = 1;
    op.committed_offset = 0;
    auto ocr = c.f.call<OffsetCommitResponse>(oc, 8);
    REQUIRE(ocr.topics.size() == 1);
    REQUIRE(ocr.topics[0].partitions.size() == 1);
    CHECK(ocr.topics[0].partitions[0].error_code == kNotCoordinator);

    OffsetFetchRequest of;
    of.groups.emplace_back().group_id = *g;
    auto ofr = c.f.call<OffsetFetchResponse>(of, 8);
    REQUIRE(ofr.groups.size() == 1);
    CHECK(ofr.groups[0].error_code == kNotCoordinator);
    OffsetFetchRequest of_old;
    of_old.group_id = *g;
    of_old.topics.reset();
    CHECK(c.f.call<OffsetFetchResponse>(of_old, 5).error_code == kNotCoordinator);

    SyncGroupRequest sg;
    sg.group_id = *g;
    sg.generation_id = 1;
    sg.member_id = "m";
    CHECK(c.f.call<SyncGroupResponse>(sg, 5).error_code == kNotCoordinator);

    LeaveGroupRequest lg;
    lg.group_id = *g;
    lg.members.emplace_back().member_id = "m";
    auto lgr = c.f.call<LeaveGroupResponse>(lg, 5);
    CHECK(lgr.error_code == kNotCoordinator);
    CHECK(lgr.members.empty());
    LeaveGroupRequest lg_old;
    lg_old.group_id = *g;
    lg_old.member_id = "m";
    CHECK(c.f.call<LeaveGroupResponse>(lg_old, 2).error_code == kNotCoordinator);

    OffsetDeleteRequest od;
    od.group_id = *g;
    auto& odt = od.topics.emplace_back();
    odt.name = "spread";
    odt.partitions.emplace_back().partition_index = 1;
    CHECK(c.f.call<OffsetDeleteResponse>(od, 0).error_code == kNotCoordinator);

    // TxnOffsetCommit goes to the group's coordinator.
    TxnOffsetCommitRequest tc;
    tc.transactional_id = "txn-x";
    tc.group_id = *g;
    tc.producer_id = 1;
    auto& tct = tc.topics.emplace_back();
    tct.name = "spread";
    auto& tcp = tct.partitions.emplace_back();
    tcp.partition_index = 1;
    tcp.committed_offset = 0;
    auto tcr = c.f.call<TxnOffsetCommitResponse>(tc, 3);
    REQUIRE(tcr.topics.size() == 1);
    REQUIRE(tcr.topics[0].partitions.size() == 1);
    CHECK(tcr.topics[0].partitions[0].error_code == kNotCoordinator);

    // v0-1 have no group error: each partition asked for carries it.
    OffsetFetchRequest of_v1;
    of_v1.group_id = *g;
    auto& oft = of_v1.topics.emplace();
    auto& oftt = oft.emplace_back();
    oftt.name = "spread";
    oftt.partition_indexes = {0, 1};
    auto ofr1 = c.f.call<OffsetFetchResponse>(of_v1, 1);
    REQUIRE(ofr1.topics.size() == 1);
    REQUIRE(ofr1.topics[0].partitions.size() == 2);
    for (const auto& p : ofr1.topics[0].partitions) {
      CHECK(p.error_code == kNotCoordinator);
      CHECK(p.committed_offset == -1);
    }

    DescribeGroupsRequest dg;
    dg.groups = {*g};
    auto dgr = c.f.call<DescribeGroupsResponse>(dg, 5);
    REQUIRE(dgr.groups.size() == 1);
    CHECK(dgr.groups[0].error_code == kNotCoordinator);
    CHECK(dgr.groups[0].group_id == *g);
  }
  // The group this node coordinates is served here as before.
  HeartbeatRequest hb;
  hb.group_id = c.here;
  hb.generation_id = 1;
  hb.member_id = "m";
  CHECK(c.f.call<HeartbeatResponse>(hb, 4).error_code != kNotCoordinator);
  OffsetCommitRequest oc;
  oc.group_id = c.here;
  auto& ot = oc.topics.emplace_back();
  ot.name = "spread";
  auto& op = ot.partitions.emplace_back();
  op.partition_index = 1;
  op.committed_offset = 5;
  auto ocr = c.f.call<OffsetCommitResponse>(oc, 8);
  CHECK(ocr.topics[0].partitions[0].error_code == code(ErrorCode::kNone));
  // DeleteGroups: each group on its own.
  DeleteGroupsRequest del;
  del.groups_names = {c.on2, c.here};
  auto dr = c.f.call<DeleteGroupsResponse>(del, 2);
  REQUIRE(dr.results.size() == 2);
  CHECK(dr.results[0].group_id == c.on2);
  CHECK(dr.results[0].error_code == kNotCoordinator);
  CHECK(dr.results[1].group_id == c.here);
  CHECK(dr.results[1].error_code == code(ErrorCode::kNone));
}

TEST_CASE("Transaction requests for an id coordinated elsewhere are NOT_COORDINATOR") {
  ThreeBrokers c;
  // Without __transaction_state this node coordinates every id.
  InitProducerIdRequest init;
  init.transactional_id = "txn-a";
  init.transaction_timeout_ms = 60000;
  auto ir = c.f.call<InitProducerIdResponse>(init, 4);
  CHECK(ir.error_code == 0);
  CHECK(ir.producer_id >= 0);

  create(c.f, "__transaction_state", {{2}});
  ir = c.f.call<InitProducerIdResponse>(init, 4);
  CHECK(ir.error_code == code(ErrorCode::kNotCoordinator));
  CHECK(ir.producer_id == -1);
  CHECK(ir.producer_epoch == -1);
  // An idempotent producer has no coordinator: any broker gives it an id.
  InitProducerIdRequest idem;
  idem.transactional_id.reset();
  idem.transaction_timeout_ms = 60000;
  auto idr = c.f.call<InitProducerIdResponse>(idem, 4);
  CHECK(idr.error_code == 0);
  CHECK(idr.producer_id >= 0);

  FindCoordinatorRequest fc;
  fc.key_type = 1;
  fc.coordinator_keys = {"txn-a"};
  auto fr = c.f.call<FindCoordinatorResponse>(fc, 4);
  REQUIRE(fr.coordinators.size() == 1);
  CHECK(fr.coordinators[0].node_id == 2);
  CHECK(fr.coordinators[0].port == 9093);

  EndTxnRequest end;
  end.transactional_id = "txn-a";
  end.producer_id = ir.producer_id;
  end.producer_epoch = 0;
  end.committed = true;
  CHECK(c.f.call<EndTxnResponse>(end, 3).error_code == code(ErrorCode::kNotCoordinator));

  AddOffsetsToTxnRequest ao;
  ao.transactional_id = "txn-a";
  ao.group_id = "g";
  CHECK(c.f.call<AddOffsetsToTxnResponse>(ao, 3).error_code == code(ErrorCode::kNotCoordinator));

  AddPartitionsToTxnRequest ap;
  ap.v3_and_below_transactional_id = "txn-a";
  auto& at = ap.v3_and_below_topics.emplace_back();
  at.name = "spread";
  at.partitions = {1};
  auto apr = c.f.call<AddPartitionsToTxnResponse>(ap, 3);
  REQUIRE(apr.results_by_topic_v3_and_below.size() == 1);
  REQUIRE(apr.results_by_topic_v3_and_below[0].results_by_partition.size() == 1);
  CHECK(apr.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code ==
        code(ErrorCode::kNotCoordinator));

  // v4+ (brokers): each transaction on its own.
  AddPartitionsToTxnRequest batch;
  auto& tx = batch.transactions.emplace_back();
  tx.transactional_id = "txn-a";
  tx.producer_id = ir.producer_id;
  auto& txt = tx.topics.emplace_back();
  txt.name = "spread";
  txt.partitions = {1};
  auto br = c.f.call<AddPartitionsToTxnResponse>(batch, 4);
  REQUIRE(br.results_by_transaction.size() == 1);
  CHECK(br.results_by_transaction[0].transactional_id == "txn-a");
  REQUIRE(br.results_by_transaction[0].topic_results.size() == 1);
  REQUIRE(br.results_by_transaction[0].topic_results[0].results_by_partition.size() == 1);
  CHECK(
      br.results_by_transaction[0].topic_results[0].results_by_partition[0].partition_error_code ==
      code(ErrorCode::kNotCoordinator));

  DescribeTransactionsRequest dt;
  dt.transactional_ids = {"txn-a"};
  auto dtr = c.f.call<DescribeTransactionsResponse>(dt, 0);
  REQUIRE(dtr.transaction_states.size() == 1);
  CHECK(dtr.transaction_states[0].error_code == code(ErrorCode::kNotCoordinator));
}

TEST_CASE(
    "AlterPartitionReassignments: per-partition answers; ListPartitionReassignments lists it") {
  ThreeBrokers c;
  create(c.f, "mv", {{1}, {1}});
  using Ids = std::vector<std::int32_t>;
  AlterPartitionReassignmentsRequest req;
  auto& t = req.topics.emplace_back();
  t.name = "mv";
  t.partitions.resize(4);
  t.partitions[0].partition_index = 0;
  t.partitions[0].replicas = Ids{1, 2};  // 2 is added: in progress
  t.partitions[1].partition_index = 1;
  t.partitions[1].replicas = Ids{9};
  t.partitions[2].partition_index = 1;
  t.partitions[2].replicas = std::nullopt;  // nothing to cancel
  t.partitions[3].partition_index = 7;
  t.partitions[3].replicas = Ids{2};
  auto& u = req.topics.emplace_back();
  u.name = "nosuch";
  u.partitions.resize(1);
  u.partitions[0].replicas = Ids{2};
  auto resp = c.f.call<AlterPartitionReassignmentsResponse>(req, 0);
  CHECK(resp.error_code == 0);
  REQUIRE(resp.responses.size() == 2);
  const auto& parts = resp.responses[0].partitions;
  REQUIRE(parts.size() == 4);
  CHECK(parts[0].error_code == 0);
  CHECK(parts[1].error_code == code(ErrorCode::kInvalidReplicaAssignment));
  CHECK(parts[1].error_message.value_or("") ==
        "The manual partition assignment includes broker 9, but no such broker is registered.");
  CHECK(parts[2].error_code == code(ErrorCode::kNoReassignmentInProgress));
  CHECK(parts[3].partition_index == 7);
  CHECK(parts[3].error_code == code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(resp.responses[1].partitions[0].error_code == code(ErrorCode::kUnknownTopicOrPartition));

  const PartitionImage& p = c.f.metadata->image()->topic("mv")->partitions[0];
  CHECK(p.replicas == Ids{1, 2});
  CHECK(p.adding == Ids{2});

  ListPartitionReassignmentsRequest all;
  auto listed = c.f.call<ListPartitionReassignmentsResponse>(all, 0);
  REQUIRE(listed.topics.size() == 1);
  CHECK(listed.topics[0].name == "mv");
  REQUIRE(listed.topics[0].partitions.size() == 1);
  CHECK(listed.topics[0].partitions[0].partition_index == 0);
  CHECK(listed.topics[0].partitions[0].replicas == Ids{1, 2});
  CHECK(listed.topics[0].partitions[0].adding_replicas == Ids{2});
  CHECK(listed.topics[0].partitions[0].removing_replicas.empty());
  // Named: only the moving ones are answered.
  ListPartitionReassignmentsRequest named;
  named.topics.emplace();
  auto& nt = named.topics->emplace_back();
  nt.name = "mv";
  nt.partition_indexes = {1};
  CHECK(c.f.call<ListPartitionReassignmentsResponse>(named, 0).topics.empty());

  // Cancelled: back to [1], nothing listed.
  AlterPartitionReassignmentsRequest cancel;
  auto& ct = cancel.topics.emplace_back();
  ct.name = "mv";
  ct.partitions.resize(1);
  ct.partitions[0].replicas = std::nullopt;
  CHECK(c.f.call<AlterPartitionReassignmentsResponse>(cancel, 0)
            .responses[0]
            .partitions[0]
            .error_code == 0);
  CHECK(c.f.metadata->image()->topic("mv")->partitions[0].replicas == Ids{1});
  CHECK(c.f.call<ListPartitionReassignmentsResponse>(all, 0).topics.empty());
}

}  // namespace
}  // namespace kgw
