// Tests of MetadataImage (src/cluster/metadata_image.h): versions, what
// check() refuses, lookups after apply(), and that apply() shares what a
// change does not touch.
#include <doctest/doctest.h>

#include <string>

#include "src/cluster/metadata_image.h"

using namespace kgw;

namespace {

Uuid id_of(std::uint8_t n) {
  Uuid id;
  id.bytes[15] = n;
  return id;
}

ImagePtr with_broker(std::int32_t node = 1) {
  RegisterBroker r;
  r.broker = {node, "127.0.0.1", 9092, std::nullopt};
  return MetadataImage().apply(r);
}

CreateTopic create(const std::string& name, std::uint8_t id, std::int32_t partitions,
                   const MetadataImage& image) {
  CreateTopic c;
  c.name = name;
  c.id = id_of(id);
  c.partitions = partitions;
  c.assignments = image.assign(partitions, 1);
  return c;
}

}  // namespace

TEST_CASE("every applied change makes a new image one version up; the old one stays") {
  ImagePtr v1 = with_broker();
  CHECK(v1->version() == 1);
  REQUIRE(v1->broker(1) != nullptr);
  CHECK(v1->broker(1)->host == "127.0.0.1");
  CHECK(v1->broker(1)->port == 9092);
  CHECK(v1->broker(2) == nullptr);

  ImagePtr v2 = v1->apply(create("a", 1, 3, *v1));
  CHECK(v2->version() == 2);
  CHECK(v1->topic("a") == nullptr);  // readers of v1 keep seeing v1
  CHECK(v1->partition_count() == 0);
  CHECK(v2->partition_count() == 3);
}

TEST_CASE("lookups by name and id; partitions led by the assigned broker at epoch 0") {
  ImagePtr img = with_broker(7);
  img = img->apply(create("b", 2, 1, *img));
  img = img->apply(create("a", 1, 2, *img));
  TopicPtr a = img->topic("a");
  REQUIRE(a != nullptr);
  CHECK(img->topic(id_of(1)) == a);
  CHECK(img->topic("c") == nullptr);
  CHECK(img->topic(id_of(9)) == nullptr);
  REQUIRE(a->partition_count() == 2);
  for (std::int32_t p = 0; p < 2; ++p) {
    const PartitionImage* part = a->partition(p);
    REQUIRE(part != nullptr);
    CHECK(part->index == p);
    CHECK(part->leader == 7);
    CHECK(part->leader_epoch == 0);
    CHECK(part->replicas == std::vector<std::int32_t>{7});
    CHECK(part->isr == std::vector<std::int32_t>{7});
  }
  CHECK(a->partition(2) == nullptr);
  CHECK(a->partition(-1) == nullptr);
  // Sorted by name.
  REQUIRE(img->topics().size() == 2);
  CHECK(img->topic_count() == 2);
  CHECK(img->topics().front()->name == "a");
  CHECK(img->topics().back()->name == "b");
}

TEST_CASE("a change to one topic shares every other topic and the configs") {
  ImagePtr img = with_broker();
  img = img->apply(create("big", 1, 1000, *img));
  img = img->apply(create("small", 2, 1, *img));
  SetBrokerConfigs defaults;
  defaults.configs = {{"log.retention.ms", "1000"}};
  img = img->apply(defaults);

  SetTopicConfigs change{id_of(2), {{"cleanup.policy", "compact"}}};
  ImagePtr next = img->apply(change);
  CHECK(next->topic("big").get() == img->topic("big").get());  // not copied
  CHECK(next->topic("small").get() != img->topic("small").get());
  CHECK(next->topic("small")->configs.at("cleanup.policy") == "compact");
  CHECK(img->topic("small")->configs.empty());
  CHECK(&next->broker_configs(std::nullopt) == &img->broker_configs(std::nullopt));
  CHECK(&next->quotas() == &img->quotas());

  CreatePartitions grow{id_of(2), 3, next->assign(2, 1)};
  ImagePtr grown = next->apply(grow);
  CHECK(grown->topic("small")->partition_count() == 3);
  CHECK(grown->topic("small")->partition(2)->index == 2);
  CHECK(grown->topic("small")->configs.at("cleanup.policy") == "compact");
  CHECK(grown->topic("big").get() == img->topic("big").get());
  CHECK(grown->partition_count() == 1003);

  ImagePtr gone = grown->apply(DeleteTopic{id_of(1)});
  CHECK(gone->topic("big") == nullptr);
  CHECK(gone->topic(id_of(1)) == nullptr);
  CHECK(gone->partition_count() == 3);
  CHECK(grown->topic("big") != nullptr);
}

TEST_CASE("check() refuses what does not fit, with Kafka's error codes") {
  ImagePtr img = with_broker();
  img = img->apply(create("a", 1, 2, *img));
  std::string message;

  CHECK(img->check(create("a", 5, 1, *img), message) == ErrorCode::kTopicAlreadyExists);
  CHECK(message == "Topic 'a' already exists.");
  CHECK(img->check(create("b", 1, 1, *img), message) == ErrorCode::kTopicAlreadyExists);
  CHECK(img->check(create("b", 2, 1, *img), message) == ErrorCode::kNone);

  CreateTopic zero = create("b", 2, 1, *img);
  zero.partitions = 0;
  zero.assignments.clear();
  CHECK(img->check(zero, message) == ErrorCode::kInvalidPartitions);
  CreateTopic wide = create("b", 2, 1, *img);
  wide.assignments.clear();
  wide.replication_factor = 3;
  CHECK(img->check(wide, message) == ErrorCode::kInvalidReplicationFactor);
  CHECK(message.find("only 1 broker(s) are registered") != std::string::npos);
  CreateTopic elsewhere = create("b", 2, 1, *img);
  elsewhere.assignments = {{2}};
  CHECK(img->check(elsewhere, message) == ErrorCode::kInvalidReplicaAssignment);

  CHECK(img->check(DeleteTopic{id_of(9)}, message) == ErrorCode::kUnknownTopicId);
  CHECK(img->check(DeleteTopic{id_of(1)}, message) == ErrorCode::kNone);
  CHECK(img->check(CreatePartitions{id_of(1), 2, {}}, message) == ErrorCode::kInvalidPartitions);
  CHECK(message == "Topic currently has 2 partitions, which is higher than the requested 2.");
  CHECK(img->check(CreatePartitions{id_of(9), 5, {}}, message) == ErrorCode::kUnknownTopicId);
  CHECK(img->check(SetTopicConfigs{id_of(9), {}}, message) == ErrorCode::kUnknownTopicId);
  CHECK(img->check(SetBrokerConfigs{2, {}}, message) == ErrorCode::kInvalidRequest);
  CHECK(img->check(SetBrokerConfigs{1, {}}, message) == ErrorCode::kNone);

  SetClientQuotas bad;
  bad.entries.push_back({{{"user", "alice"}}, {{"no_such_quota", 1, false}}});
  CHECK(img->check(bad, message) == ErrorCode::kInvalidRequest);
  CHECK(message == "Invalid configuration key no_such_quota");
}

TEST_CASE("broker configs by layer and client quotas") {
  ImagePtr img = with_broker();
  img = img->apply(SetBrokerConfigs{1, {{"log.retention.ms", "5"}}});
  img = img->apply(SetBrokerConfigs{std::nullopt, {{"log.retention.ms", "6"}}});
  CHECK(img->broker_configs(1).at("log.retention.ms") == "5");
  CHECK(img->broker_configs(std::nullopt).at("log.retention.ms") == "6");
  CHECK(img->broker_configs(2).empty());

  SetClientQuotas q;
  q.entries.push_back({{{"user", "alice"}}, {{"producer_byte_rate", 1024, false}}});
  ImagePtr with_quota = img->apply(q);
  std::string error;
  auto all = with_quota->quotas().describe({}, false, error);
  REQUIRE(all.size() == 1);
  CHECK(all[0].second.at("producer_byte_rate") == 1024);
  CHECK(img->quotas().describe({}, false, error).empty());
}

TEST_CASE("UnregisterBroker forgets a fenced broker only; its replicas stay named") {
  ImagePtr image = with_broker(1)->apply(RegisterBroker{{2, "127.0.0.1", 9093, std::nullopt}});
  CreateTopic c;
  c.name = "t";
  c.id = id_of(1);
  c.partitions = 1;
  c.assignments = {{2, 1}};
  image = image->apply(c);
  std::string message;
  CHECK(image->check(UnregisterBroker{7}, message) == ErrorCode::kBrokerIdNotRegistered);
  CHECK(message == "Broker ID 7 is not currently registered");
  CHECK(image->check(UnregisterBroker{2}, message) == ErrorCode::kInvalidRequest);
  CHECK(message.find("is alive") != std::string::npos);

  image = image->apply(FenceBroker{2});
  CHECK(image->check(UnregisterBroker{2}, message) == ErrorCode::kNone);
  image = image->apply(UnregisterBroker{2});
  CHECK(image->broker(2) == nullptr);
  CHECK(image->brokers().size() == 1);
  CHECK(image->topic("t")->partitions[0].replicas == std::vector<std::int32_t>{2, 1});
  // Gone: it cannot be named in a new assignment nor unregistered again.
  CHECK(image->check(UnregisterBroker{2}, message) == ErrorCode::kBrokerIdNotRegistered);
  CreateTopic named;
  named.name = "u";
  named.partitions = 1;
  named.assignments = {{2}};
  CHECK(image->check(named, message) == ErrorCode::kInvalidReplicaAssignment);
  CHECK(std::string(change_name(UnregisterBroker{2})) == "UnregisterBroker");
}
