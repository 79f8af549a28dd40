// Tests of AlterPartition's rules (src/cluster/alter_partition.h) on an
// image: each refusal with its Kafka error, what is accepted, and the image
// it applies to (ISR replaced, partition epoch + 1, leader kept).
#include "src/cluster/alter_partition.h"

#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "src/cluster/metadata_image.h"

using namespace kgw;

namespace {

Uuid topic_id(std::uint8_t n) {
  Uuid id;
  id.bytes[15] = n;
  return id;
}

// Brokers 1, 2, 3 alive at epochs 10, 20, 30; 4 fenced (epoch 40); 5 never
// registered. Topic "t": partition 0 on replicas [1, 2, 3, 4, 5] led by 1
// at leader epoch 3, partition epoch 7, ISR [1, 2]; partition 1 on [2, 1].
ImagePtr cluster() {
  ImagePtr img = std::make_shared<MetadataImage>();
  for (std::int32_t id : {1, 2, 3, 4}) {
    BrokerImage b{id, "127.0.0.1", 9000 + id, std::nullopt, id * 10, id == 4};
    img = img->apply(RegisterBroker{b});
  }
  CreateTopic c;
  c.name = std::string(1, 't');  // (GCC 12 -Wrestrict false positive on = "t" under ASan)
  c.id = topic_id(1);
  c.partitions = 2;
  c.assignments = {{1, 2, 3, 4}, {2, 1}};
  img = img->apply(c);
  img = img->apply(RegisterBroker{BrokerImage{5, "127.0.0.1", 9005, std::nullopt, 50, false}});
  PartitionImage p0;
  p0.index = 0;
  p0.leader = 1;
  p0.leader_epoch = 3;
  p0.partition_epoch = 7;
  p0.replicas = {1, 2, 3, 4, 5};
  p0.isr = {1, 2};
  img = img->apply(SetPartitionStates{c.id, {p0}});
  // Broker 5 was replaced by an unregistered id: gone from the image.
  return img->apply(UnregisterBroker{5});
}

// Leader 1 at its epoch asks to add broker 3 to partition 0's ISR.
AlterPartition expand() {
  return AlterPartition{1, 10, topic_id(1), 0, 3, 7, {{1, 10}, {2, 20}, {3, 30}}};
}

struct Case {
  const char* name;
  std::function<void(AlterPartition&)> edit;
  std::set<std::int32_t> shutting_down;
  ErrorCode expected;
  const char* says;  // in the message
};

}  // namespace

TEST_CASE("AlterPartition: each rule refuses with Kafka's error, in Kafka's order") {
  ImagePtr img = cluster();
  const std::vector<Case> cases = {
      {"an expansion by the leader at its epochs",
       [](AlterPartition&) {},
       {},
       ErrorCode::kNone,
       ""},
      {"a shrink to the leader alone",
       [](AlterPartition& a) {
         a.isr = {{1, 10}};
       },
       {},
       ErrorCode::kNone,
       ""},
      {"an added member whose epoch the leader does not know (-1)",
       [](AlterPartition& a) { a.isr[2].broker_epoch = -1; },
       {},
       ErrorCode::kNone,
       ""},
      {"a member kept, not added, is not checked again",
       [](AlterPartition& a) {
         a.isr = {{1, 10}, {2, 19}};
       },
       {2},
       ErrorCode::kNone,
       ""},
      {"a requester that is not registered",
       [](AlterPartition& a) { a.leader = 9; },
       {},
       ErrorCode::kStaleBrokerEpoch,
       "No broker registration found for node 9"},
      {"a requester at an older broker epoch",
       [](AlterPartition& a) { a.broker_epoch = 9; },
       {},
       ErrorCode::kStaleBrokerEpoch,
       "Expected broker epoch 10"},
      {"an unknown topic id",
       [](AlterPartition& a) { a.topic = topic_id(2); },
       {},
       ErrorCode::kUnknownTopicId,
       "does not exist"},
      {"an unknown partition",
       [](AlterPartition& a) { a.partition = 2; },
       {},
       ErrorCode::kUnknownTopicOrPartition,
       "Partition t-2 does not exist."},
      {"a leader epoch ahead of the image",
       [](AlterPartition& a) { a.leader_epoch = 4; },
       {},
       ErrorCode::kNotController,
       "ahead of the controller's"},
      {"a partition epoch ahead of the image",
       [](AlterPartition& a) { a.partition_epoch = 8; },
       {},
       ErrorCode::kNotController,
       "ahead of the controller's"},
      {"an older leader epoch",
       [](AlterPartition& a) { a.leader_epoch = 2; },
       {},
       ErrorCode::kFencedLeaderEpoch,
       "the leader epoch is 3, not 2"},
      {"a requester that is not the leader",
       [](AlterPartition& a) {
         a.leader = 2;
         a.broker_epoch = 20;
       },
       {},
       ErrorCode::kNotLeaderOrFollower,
       "the leader is 1"},
      {"an older partition epoch",
       [](AlterPartition& a) { a.partition_epoch = 6; },
       {},
       ErrorCode::kInvalidUpdateVersion,
       "the partition epoch is 7, not 6"},
      {"an ISR naming a broker that is not a replica",
       [](AlterPartition& a) {
         a.isr.push_back({6, -1});
       },
       {},
       ErrorCode::kInvalidRequest,
       "names 6, not a replica"},
      {"an ISR naming a replica twice",
       [](AlterPartition& a) {
         a.isr.push_back({2, 20});
       },
       {},
       ErrorCode::kInvalidRequest,
       "names 2 twice"},
      {"an ISR without the leader",
       [](AlterPartition& a) {
         a.isr = {{2, 20}};
       },
       {},
       ErrorCode::kInvalidRequest,
       "does not hold the leader"},
      {"an empty ISR",
       [](AlterPartition& a) { a.isr.clear(); },
       {},
       ErrorCode::kInvalidRequest,
       "does not hold the leader"},
      {"an added member that is fenced",
       [](AlterPartition& a) {
         a.isr.push_back({4, 40});
       },
       {},
       ErrorCode::kIneligibleReplica,
       "replica 4 cannot join the ISR: fenced"},
      {"an added member that is not registered",
       [](AlterPartition& a) {
         a.isr.push_back({5, -1});
       },
       {},
       ErrorCode::kIneligibleReplica,
       "replica 5 cannot join the ISR: not registered"},
      {"an added member in controlled shutdown",
       [](AlterPartition&) {},
       {3},
       ErrorCode::kIneligibleReplica,
       "replica 3 cannot join the ISR: shutting down"},
      {"an added member that restarted since the leader saw it (KIP-903)",
       [](AlterPartition& a) { a.isr[2].broker_epoch = 29; },
       {},
       ErrorCode::kIneligibleReplica,
       "broker epoch 29 is not its current 30"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    AlterPartition a = expand();
    c.edit(a);
    std::string message;
    CHECK(check_alter_partition(*img, a, c.shutting_down, message) == c.expected);
    CAPTURE(message);
    CHECK(message.find(c.says) != std::string::npos);
    if (c.shutting_down.empty()) {
      // The image's own check is the same rule (nobody shutting down).
      std::string again;
      CHECK(img->check(a, again) == c.expected);
      CHECK(again == message);
    }
  }
}

TEST_CASE("AlterPartition applied: the ISR replaced, the partition epoch + 1, the leader kept") {
  ImagePtr img = cluster();
  const AlterPartition a = expand();
  std::string message;
  REQUIRE(img->check(a, message) == ErrorCode::kNone);
  const std::optional<PartitionImage> next = altered_partition(*img, a);
  REQUIRE(next.has_value());
  ImagePtr after = img->apply(a);
  CHECK(after->version() == img->version() + 1);
  const PartitionImage& p = after->topic("t")->partitions[0];
  CHECK(p.isr == std::vector<std::int32_t>{1, 2, 3});
  CHECK(p.partition_epoch == 8);
  CHECK(p.leader == 1);
  CHECK(p.leader_epoch == 3);
  CHECK(p.replicas == std::vector<std::int32_t>{1, 2, 3, 4, 5});
  CHECK(p.isr == next->isr);
  CHECK(p.partition_epoch == next->partition_epoch);
  // The other partition and the image applied to are untouched.
  CHECK(after->topic("t")->partitions[1].isr == std::vector<std::int32_t>{2, 1});
  CHECK(img->topic("t")->partitions[0].isr == std::vector<std::int32_t>{1, 2});

  // The request the leader made before is stale now.
  CHECK(after->check(a, message) == ErrorCode::kInvalidUpdateVersion);
  // Asking for the ISR it has changes nothing (no write, no new epoch).
  AlterPartition same = a;
  same.partition_epoch = 8;
  REQUIRE(after->check(same, message) == ErrorCode::kNone);
  CHECK_FALSE(altered_partition(*after, same).has_value());
  ImagePtr unchanged = after->apply(same);
  CHECK(unchanged->topic("t")->partitions[0].partition_epoch == 8);
  CHECK(unchanged->topic("t")->partitions[0].isr == std::vector<std::int32_t>{1, 2, 3});
}
