// Tests of the reassignment rules (src/cluster/reassignment.h) on an
// image: Kafka's refusals, start (union, adding, removing), completion
// when the ISR holds the target (a new leader if the old one leaves),
// cancel, and the etcd encodings of the partition state and the request.
#include "src/cluster/reassignment.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/cluster/etcd_layout.h"
#include "src/cluster/metadata_image.h"

using namespace kgw;

namespace {

using Ids = std::vector<std::int32_t>;

Uuid topic_id(std::uint8_t n) {
  Uuid id;
  id.bytes[15] = n;
  return id;
}

// Brokers 1..4 alive, 5 fenced. Topic "t": partition 0 on [1] (ISR [1],
// leader 1), partition 1 on [1, 2] (ISR [1, 2], leader 1).
ImagePtr cluster() {
  ImagePtr img = std::make_shared<MetadataImage>();
  for (std::int32_t id : {1, 2, 3, 4, 5}) {
    img = img->apply(
        RegisterBroker{BrokerImage{id, "127.0.0.1", 9000 + id, std::nullopt, id * 10, id == 5}});
  }
  CreateTopic c;
  c.name = std::string(1, 't');
  c.id = topic_id(1);
  c.partitions = 2;
  c.assignments = {{1}, {1, 2}};
  return img->apply(c);
}

const PartitionImage& part(const ImagePtr& img, std::int32_t index) {
  return img->topic(topic_id(1))->partitions[static_cast<std::size_t>(index)];
}

bool alive(std::int32_t id) {
  return id >= 1 && id <= 4;
}

AlterReassignment to(std::int32_t partition, std::optional<Ids> replicas) {
  return AlterReassignment{topic_id(1), partition, std::move(replicas)};
}

}  // namespace

TEST_CASE("reassignment: refusals with Kafka's errors and messages") {
  ImagePtr img = cluster();
  std::string m;
  CHECK(check_reassignment(*img, to(0, Ids{2, 3}), m) == ErrorCode::kNone);
  CHECK(check_reassignment(*img, to(0, Ids{}), m) == ErrorCode::kInvalidReplicaAssignment);
  CHECK(m == "The manual partition assignment includes an empty replica list.");
  CHECK(check_reassignment(*img, to(0, Ids{2, 2}), m) == ErrorCode::kInvalidReplicaAssignment);
  CHECK(m == "The manual partition assignment includes the broker 2 more than once.");
  CHECK(check_reassignment(*img, to(0, Ids{2, 9}), m) == ErrorCode::kInvalidReplicaAssignment);
  CHECK(m ==
        "The manual partition assignment includes broker 9, but no such broker is "
        "registered.");
  CHECK(check_reassignment(*img, to(7, Ids{2}), m) == ErrorCode::kUnknownTopicOrPartition);
  CHECK(m == "Unable to find partition t:7.");
  CHECK(check_reassignment(*img, AlterReassignment{topic_id(9), 0, Ids{2}}, m) ==
        ErrorCode::kUnknownTopicOrPartition);
  CHECK(check_reassignment(*img, to(0, std::nullopt), m) == ErrorCode::kNoReassignmentInProgress);
  // A fenced broker is registered: allowed, as Kafka (it catches up when back).
  CHECK(check_reassignment(*img, to(0, Ids{5}), m) == ErrorCode::kNone);
  // The image's check() is the same rule.
  CHECK(img->check(to(0, Ids{}), m) == ErrorCode::kInvalidReplicaAssignment);
}

TEST_CASE("reassignment: start, then the ISR holding the target completes it with a new leader") {
  ImagePtr img = cluster();
  const PartitionImage before = part(img, 0);
  auto next = reassigned_partition(before, to(0, Ids{3, 2}), alive);
  REQUIRE(next);
  CHECK(next->replicas == Ids{3, 2, 1});
  CHECK(next->adding == Ids{2, 3});
  CHECK(next->removing == Ids{1});
  CHECK(next->isr == Ids{1});
  CHECK(next->leader == 1);
  CHECK(next->leader_epoch == before.leader_epoch);
  CHECK(next->partition_epoch == before.partition_epoch + 1);
  CHECK(next->reassigning());

  // One adding replica in sync: not yet.
  PartitionImage p = *next;
  p.isr = {1, 3};
  CHECK_FALSE(complete_reassignment(p, alive));
  CHECK(p.replicas == Ids{3, 2, 1});
  // Both: the target, the ISR without broker 1, led by the first target
  // replica in sync at a new leader epoch.
  p.isr = {1, 3, 2};
  CHECK(complete_reassignment(p, alive));
  CHECK(p.replicas == Ids{3, 2});
  CHECK(p.isr == Ids{3, 2});
  CHECK(p.leader == 3);
  CHECK(p.leader_epoch == before.leader_epoch + 1);
  CHECK_FALSE(p.reassigning());

  // The target's first replica cannot lead: the next one in sync does.
  p = *next;
  p.isr = {1, 3, 2};
  CHECK(complete_reassignment(p, [](std::int32_t id) { return id != 3; }));
  CHECK(p.leader == 2);
  // Nobody in the target may lead: it waits, the old leader keeps leading.
  p = *next;
  p.isr = {1, 3, 2};
  CHECK_FALSE(complete_reassignment(p, [](std::int32_t id) { return id == 1; }));
  CHECK(p.leader == 1);
  CHECK(p.reassigning());
}

TEST_CASE("reassignment: a target in the ISR already (reorder, shrink) completes at once") {
  ImagePtr img = cluster();
  const PartitionImage before = part(img, 1);  // [1, 2], ISR [1, 2], leader 1
  auto reorder = reassigned_partition(before, to(1, Ids{2, 1}), alive);
  REQUIRE(reorder);
  CHECK(reorder->replicas == Ids{2, 1});
  CHECK_FALSE(reorder->reassigning());
  CHECK(reorder->leader == 1);  // preferred-leader election is another request
  auto shrink = reassigned_partition(before, to(1, Ids{2}), alive);
  REQUIRE(shrink);
  CHECK(shrink->replicas == Ids{2});
  CHECK(shrink->isr == Ids{2});
  CHECK(shrink->leader == 2);
  CHECK(shrink->leader_epoch == before.leader_epoch + 1);
  CHECK(shrink->partition_epoch == before.partition_epoch + 1);
  // The replicas it has: nothing changes.
  CHECK_FALSE(reassigned_partition(before, to(1, Ids{1, 2}), alive));
}

TEST_CASE("reassignment: cancel goes back to the original replicas") {
  ImagePtr img = cluster();
  ImagePtr started = img->apply(to(1, Ids{3, 4}));
  const PartitionImage& p = part(started, 1);
  CHECK(p.replicas == Ids{3, 4, 1, 2});
  CHECK(p.adding == Ids{3, 4});
  CHECK(p.removing == Ids{1, 2});
  std::string m;
  CHECK(started->check(to(1, std::nullopt), m) == ErrorCode::kNone);
  ImagePtr cancelled = started->apply(to(1, std::nullopt));
  const PartitionImage& c = part(cancelled, 1);
  CHECK(c.replicas == Ids{1, 2});
  CHECK(c.isr == Ids{1, 2});
  CHECK(c.leader == 1);
  CHECK_FALSE(c.reassigning());
  CHECK(c.partition_epoch == p.partition_epoch + 1);

  // Only adding replicas in sync: reverting would be an unclean election.
  PartitionImage only_new = p;
  only_new.isr = {3};
  only_new.leader = 3;
  ImagePtr odd = started->apply(SetPartitionStates{topic_id(1), {only_new}});
  CHECK(odd->check(to(1, std::nullopt), m) == ErrorCode::kInvalidReplicaAssignment);
  CHECK(m.find("unclean leader election") != std::string::npos);
}

TEST_CASE("reassignment: an AlterPartition that puts the target in the ISR completes it") {
  ImagePtr img = cluster()->apply(to(0, Ids{2}));
  const PartitionImage& p = part(img, 0);
  REQUIRE(p.replicas == Ids{2, 1});
  const AlterPartition expand{
      1, 10, topic_id(1), 0, p.leader_epoch, p.partition_epoch, {{1, 10}, {2, 20}}};
  std::string m;
  REQUIRE(img->check(expand, m) == ErrorCode::kNone);
  ImagePtr done = img->apply(expand);
  const PartitionImage& d = part(done, 0);
  CHECK(d.replicas == Ids{2});
  CHECK(d.isr == Ids{2});
  CHECK(d.leader == 2);
  CHECK(d.leader_epoch == p.leader_epoch + 1);
  CHECK(d.partition_epoch == p.partition_epoch + 1);
  CHECK_FALSE(d.reassigning());
}

TEST_CASE("reassignment: the etcd encodings carry adding and removing; old records read none") {
  PartitionImage p;
  p.index = 0;
  p.leader = 1;
  p.replicas = {3, 1};
  p.isr = {1};
  p.adding = {3};
  p.removing = {1};
  PartitionImage back;
  REQUIRE(layout::decode_partition(layout::encode_partition(p), back).empty());
  CHECK(back.adding == Ids{3});
  CHECK(back.removing == Ids{1});
  back.adding = {9};
  REQUIRE(layout::decode_partition(
              R"({"v":1,"leader":1,"leader_epoch":0,"partition_epoch":0,"replicas":[1],"isr":[1]})",
              back)
              .empty());
  CHECK(back.adding.empty());
  CHECK(back.removing.empty());
  CHECK(layout::encode_partition(back).find("adding") == std::string::npos);

  for (const AlterReassignment& a : {to(3, Ids{4, 2}), to(1, std::nullopt)}) {
    MetadataChange out;
    REQUIRE(layout::decode_change(layout::encode_change(a), out).empty());
    const auto* r = std::get_if<AlterReassignment>(&out);
    REQUIRE(r != nullptr);
    CHECK(r->topic == a.topic);
    CHECK(r->partition == a.partition);
    CHECK(r->replicas == a.replicas);
  }
}
