// Leader election decisions (leader_election.h).
#include "src/cluster/leader_election.h"

#include <algorithm>
#include <map>
#include <utility>

namespace kgw {

namespace {

bool contains(const std::vector<std::int32_t>& v, std::int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The new state of `p` under `type`, or the error that leaves it be.
ErrorCode elect(const PartitionImage& p, std::int8_t type,
                const std::function<bool(std::int32_t)>& eligible, PartitionImage& out,
                std::string& message) {
  out = p;
  if (type == ElectLeaders::kPreferred) {
    const std::int32_t preferred = p.replicas.empty() ? -1 : p.replicas.front();
    if (preferred != -1 && p.leader == preferred) {
      message = "Leader election not needed for topic partition.";
      return ErrorCode::kElectionNotNeeded;
    }
    if (preferred == -1 || !eligible(preferred) || !contains(p.isr, preferred)) {
      message =
          "The preferred leader " + std::to_string(preferred) + " is not alive or not in the ISR.";
      return ErrorCode::kPreferredLeaderNotAvailable;
    }
    out.leader = preferred;
  } else {
    if (p.leader != -1) {
      message = "Leader election not needed for topic partition.";
      return ErrorCode::kElectionNotNeeded;
    }
    auto first = [&](bool in_isr) {
      for (std::int32_t r : p.replicas) {
        if (eligible(r) && (!in_isr || contains(p.isr, r))) return r;
      }
      return -1;
    };
    out.leader = first(true);
    if (out.leader == -1) {
      out.leader = first(false);
      if (out.leader == -1) {
        message = "No alive replica can lead the partition.";
        return ErrorCode::kEligibleLeadersNotAvailable;
      }
      out.isr = {out.leader};  // unclean: what the others had may be lost
    }
  }
  ++out.leader_epoch;
  ++out.partition_epoch;
  return ErrorCode::kNone;
}

}  // namespace

ElectionDecision decide_elections(const MetadataImage& image, const ElectLeaders& request,
                                  const std::function<bool(std::int32_t)>& eligible,
                                  std::size_t max_changes) {
  ElectionDecision d;
  std::map<Uuid, std::size_t> change_of;  // topic -> index in d.changes
  auto one = [&](const Uuid& id, std::int32_t index) {
    ElectionOutcome o{id, index, ErrorCode::kNone, ""};
    TopicPtr t = image.topic(id);
    const PartitionImage* p = t == nullptr ? nullptr : t->partition(index);
    PartitionImage next;
    if (p == nullptr) {
      o.error = ErrorCode::kUnknownTopicOrPartition;
      o.message = "The partition does not exist.";
    } else {
      o.error = elect(*p, request.election_type, eligible, next, o.message);
    }
    if (o.error == ErrorCode::kNone && d.changed >= max_changes) {
      o.error = ErrorCode::kRequestTimedOut;
      o.message = "Too many partitions to elect at once; elect again.";
    }
    if (request.all && o.error == ErrorCode::kElectionNotNeeded) return;
    if (o.error == ErrorCode::kNone) {
      auto [it, fresh] = change_of.try_emplace(id, d.changes.size());
      if (fresh) d.changes.push_back(SetPartitionStates{id, {}});
      d.changes[it->second].partitions.push_back(std::move(next));
      ++d.changed;
    }
    d.outcomes.push_back(std::move(o));
  };
  if (request.all) {
    for (const TopicPtr& t : image.topics()) {
      for (const PartitionImage& p : t->partitions) one(t->id, p.index);
    }
  } else {
    for (const auto& [id, index] : request.partitions) one(id, index);
  }
  return d;
}

ElectLeaders imbalanced_partitions(const MetadataImage& image,
                                   const std::function<bool(std::int32_t)>& eligible,
                                   double percentage, std::vector<std::string>* report) {
  struct Share {
    std::size_t preferred = 0;  // partitions it is the first replica of
    std::vector<std::pair<Uuid, std::int32_t>> not_led;
  };
  std::map<std::int32_t, Share> by_broker;
  std::map<std::int32_t, std::vector<std::pair<Uuid, std::int32_t>>> movable;
  for (const TopicPtr& t : image.topics()) {
    for (const PartitionImage& p : t->partitions) {
      if (p.replicas.empty()) continue;
      const std::int32_t preferred = p.replicas.front();
      Share& s = by_broker[preferred];
      ++s.preferred;
      if (p.leader == preferred) continue;
      s.not_led.emplace_back(t->id, p.index);
      if (eligible(preferred) && contains(p.isr, preferred)) {
        movable[preferred].emplace_back(t->id, p.index);
      }
    }
  }
  ElectLeaders out;
  out.election_type = ElectLeaders::kPreferred;
  for (const auto& [broker, s] : by_broker) {
    const double ratio =
        100.0 * static_cast<double>(s.not_led.size()) / static_cast<double>(s.preferred);
    const auto& mine = movable[broker];
    if (ratio <= percentage || mine.empty()) continue;
    if (report != nullptr) {
      report->push_back("broker " + std::to_string(broker) + " leads " +
                        std::to_string(s.preferred - s.not_led.size()) + " of the " +
                        std::to_string(s.preferred) + " partitions it is preferred leader of; " +
                        std::to_string(mine.size()) + " move back to it");
    }
    out.partitions.insert(out.partitions.end(), mine.begin(), mine.end());
  }
  return out;
}

}  // namespace kgw
