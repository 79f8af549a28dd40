// Partition reassignment rules (reassignment.h).
#include "src/cluster/reassignment.h"

#include <algorithm>
#include <set>

#include "src/cluster/etcd_layout.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

namespace {

bool contains(const std::vector<std::int32_t>& v, std::int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// `a` without the members of `b`, in `a`'s order.
std::vector<std::int32_t> without(const std::vector<std::int32_t>& a,
                                  const std::vector<std::int32_t>& b) {
  std::vector<std::int32_t> out;
  for (std::int32_t x : a) {
    if (!contains(b, x)) out.push_back(x);
  }
  return out;
}

// The leader `p` gets once its replicas are `replicas` and its ISR `isr`:
// the current one if it stays a replica, else the first of `replicas` in
// `isr` that may lead; -1 if none.
std::int32_t leader_among(const PartitionImage& p, const std::vector<std::int32_t>& replicas,
                          const std::vector<std::int32_t>& isr,
                          const std::function<bool(std::int32_t)>& eligible) {
  if (p.leader != -1 && contains(replicas, p.leader)) return p.leader;
  for (std::int32_t r : replicas) {
    if (contains(isr, r) && eligible(r)) return r;
  }
  return -1;
}

}  // namespace

std::vector<std::int32_t> reassignment_target(const PartitionImage& p) {
  return without(p.replicas, p.removing);
}

ErrorCode check_reassignment(const MetadataImage& image, const AlterReassignment& change,
                             std::string& message) {
  TopicPtr t = image.topic(change.topic);
  if (t == nullptr) {
    message = "Unable to find a topic with ID " + layout::uuid_base64(change.topic) + ".";
    return ErrorCode::kUnknownTopicOrPartition;
  }
  const PartitionImage* p = t->partition(change.partition);
  if (p == nullptr) {
    message = "Unable to find partition " + t->name + ":" + std::to_string(change.partition) + ".";
    return ErrorCode::kUnknownTopicOrPartition;
  }
  if (!change.replicas) {
    if (!p->reassigning()) {
      message = "No partition reassignment is in progress for this topic-partition.";
      return ErrorCode::kNoReassignmentInProgress;
    }
    if (without(p->isr, p->adding).empty()) {
      message = "Unable to revert partition assignment for " + t->name + ":" +
                std::to_string(change.partition) +
                " because it would require an unclean leader election.";
      return ErrorCode::kInvalidReplicaAssignment;
    }
    return ErrorCode::kNone;
  }
  const std::vector<std::int32_t>& target = *change.replicas;
  if (target.empty()) {
    message = "The manual partition assignment includes an empty replica list.";
    return ErrorCode::kInvalidReplicaAssignment;
  }
  std::vector<std::int32_t> sorted = target;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (image.broker(sorted[i]) == nullptr) {
      message = "The manual partition assignment includes broker " + std::to_string(sorted[i]) +
                ", but no such broker is registered.";
      return ErrorCode::kInvalidReplicaAssignment;
    }
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      message = "The manual partition assignment includes the broker " + std::to_string(sorted[i]) +
                " more than once.";
      return ErrorCode::kInvalidReplicaAssignment;
    }
  }
  return ErrorCode::kNone;
}

bool complete_reassignment(PartitionImage& p, const std::function<bool(std::int32_t)>& eligible) {
  if (!p.reassigning()) return false;
  const std::vector<std::int32_t> target = without(p.replicas, p.removing);
  const std::vector<std::int32_t> isr = without(p.isr, p.removing);
  if (target.empty() || isr.empty()) return false;
  for (std::int32_t r : target) {
    if (!contains(isr, r)) return false;
  }
  const std::int32_t leader = leader_among(p, target, isr, eligible);
  if (leader == -1 && p.leader != -1) return false;  // wait for one that can lead
  if (leader != p.leader) {
    p.leader = leader;
    ++p.leader_epoch;
  }
  p.replicas = target;
  p.isr = isr;
  p.adding.clear();
  p.removing.clear();
  return true;
}

std::optional<PartitionImage> reassigned_partition(
    const PartitionImage& now, const AlterReassignment& change,
    const std::function<bool(std::int32_t)>& eligible) {
  PartitionImage next = now;
  if (!change.replicas) {
    if (!now.reassigning()) return std::nullopt;
    next.replicas = without(now.replicas, now.adding);
    next.isr = without(now.isr, now.adding);
    next.adding.clear();
    next.removing.clear();
    if (next.isr.empty()) return std::nullopt;  // check_reassignment refuses it
    const std::int32_t leader = leader_among(now, next.replicas, next.isr, eligible);
    if (leader != now.leader) {
      if (leader == -1) return std::nullopt;  // nobody may lead: wait (reassignment.h)
      next.leader = leader;
      ++next.leader_epoch;
    }
    ++next.partition_epoch;
    return next;
  }
  const std::vector<std::int32_t>& target = *change.replicas;
  // Kafka's PartitionReassignmentReplicas: adding and removing sorted,
  // replicas the target then the removing ones.
  std::set<std::int32_t> adding, removing;
  for (std::int32_t r : target) {
    if (!contains(now.replicas, r)) adding.insert(r);
  }
  for (std::int32_t r : now.replicas) {
    if (!contains(target, r)) removing.insert(r);
  }
  next.replicas = target;
  next.replicas.insert(next.replicas.end(), removing.begin(), removing.end());
  next.adding.assign(adding.begin(), adding.end());
  next.removing.assign(removing.begin(), removing.end());
  if (next.replicas == now.replicas && next.adding == now.adding && next.removing == now.removing) {
    return std::nullopt;
  }
  complete_reassignment(next, eligible);
  ++next.partition_epoch;
  return next;
}

}  // namespace kgw
