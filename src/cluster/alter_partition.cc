#include "src/cluster/alter_partition.h"

#include <algorithm>

#include "src/cluster/etcd_layout.h"
#include "src/cluster/leader_election.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

namespace {

bool contains(const std::vector<std::int32_t>& v, std::int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// "" if broker `m` may join the ISR, else why not.
std::string ineligible(const MetadataImage& image, const IsrMember& m,
                       const std::set<std::int32_t>& shutting_down) {
  const BrokerImage* b = image.broker(m.id);
  if (b == nullptr) return "not registered";
  if (b->fenced) return "fenced";
  if (shutting_down.count(m.id) != 0) return "shutting down";
  if (m.broker_epoch != -1 && m.broker_epoch != b->epoch) {
    return "broker epoch " + std::to_string(m.broker_epoch) + " is not its current " +
           std::to_string(b->epoch);
  }
  return "";
}

}  // namespace

std::string ids_text(const std::vector<std::int32_t>& ids) {
  std::string out = "[";
  for (std::int32_t id : ids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(id);
  }
  return out + "]";
}

ErrorCode check_alter_partition(const MetadataImage& image, const AlterPartition& change,
                                const std::set<std::int32_t>& shutting_down, std::string& message) {
  const std::string node = "node " + std::to_string(change.leader);
  const BrokerImage* requester = image.broker(change.leader);
  if (requester == nullptr) {
    message = "No broker registration found for " + node;
    return ErrorCode::kStaleBrokerEpoch;
  }
  if (requester->epoch != change.broker_epoch) {
    message = "Expected broker epoch " + std::to_string(requester->epoch) + " of " + node +
              ", got " + std::to_string(change.broker_epoch);
    return ErrorCode::kStaleBrokerEpoch;
  }
  TopicPtr topic = image.topic(change.topic);
  if (topic == nullptr) {
    message = "Topic id " + layout::uuid_base64(change.topic) + " does not exist.";
    return ErrorCode::kUnknownTopicId;
  }
  const PartitionImage* p = topic->partition(change.partition);
  const std::string where = topic->name + "-" + std::to_string(change.partition);
  if (p == nullptr) {
    message = "Partition " + where + " does not exist.";
    return ErrorCode::kUnknownTopicOrPartition;
  }
  auto refused = [&](const std::string& why) {
    message = "AlterPartition from " + node + " for " + where + " refused: " + why;
  };
  if (change.leader_epoch > p->leader_epoch || change.partition_epoch > p->partition_epoch) {
    refused("its leader epoch " + std::to_string(change.leader_epoch) + " and partition epoch " +
            std::to_string(change.partition_epoch) + " are ahead of the controller's " +
            std::to_string(p->leader_epoch) + " and " + std::to_string(p->partition_epoch));
    return ErrorCode::kNotController;
  }
  if (change.leader_epoch < p->leader_epoch) {
    refused("the leader epoch is " + std::to_string(p->leader_epoch) + ", not " +
            std::to_string(change.leader_epoch));
    return ErrorCode::kFencedLeaderEpoch;
  }
  if (change.leader != p->leader) {
    refused("the leader is " + std::to_string(p->leader));
    return ErrorCode::kNotLeaderOrFollower;
  }
  if (change.partition_epoch < p->partition_epoch) {
    refused("the partition epoch is " + std::to_string(p->partition_epoch) + ", not " +
            std::to_string(change.partition_epoch));
    return ErrorCode::kInvalidUpdateVersion;
  }
  std::vector<std::int32_t> ids;
  for (const IsrMember& m : change.isr) {
    if (!contains(p->replicas, m.id) || contains(ids, m.id)) {
      refused("the ISR asked for names " + std::to_string(m.id) +
              (contains(ids, m.id) ? " twice" : ", not a replica") + "; the replicas are " +
              ids_text(p->replicas));
      return ErrorCode::kInvalidRequest;
    }
    ids.push_back(m.id);
  }
  if (!contains(ids, p->leader)) {
    refused("the ISR asked for, " + ids_text(ids) + ", does not hold the leader");
    return ErrorCode::kInvalidRequest;
  }
  for (const IsrMember& m : change.isr) {
    if (contains(p->isr, m.id)) continue;  // not added
    if (std::string why = ineligible(image, m, shutting_down); !why.empty()) {
      refused("replica " + std::to_string(m.id) + " cannot join the ISR: " + why);
      return ErrorCode::kIneligibleReplica;
    }
  }
  return ErrorCode::kNone;
}

std::optional<PartitionImage> altered_partition(const MetadataImage& image,
                                                const AlterPartition& change,
                                                std::int32_t min_isr) {
  TopicPtr topic = image.topic(change.topic);
  const PartitionImage* p = topic == nullptr ? nullptr : topic->partition(change.partition);
  if (p == nullptr) return std::nullopt;
  std::vector<std::int32_t> isr;
  for (const IsrMember& m : change.isr) isr.push_back(m.id);
  if (isr == p->isr) return std::nullopt;
  PartitionImage out = *p;
  out.isr = std::move(isr);
  out.elr = next_elr(*p, out, min_isr, [](std::int32_t) { return false; });
  out.last_known_elr = next_last_known_elr(*p, out, min_isr);
  ++out.partition_epoch;
  return out;
}

}  // namespace kgw
