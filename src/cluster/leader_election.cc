// Leader election decisions (leader_election.h).
#include "src/cluster/leader_election.h"

#include <algorithm>
#include <climits>
#include <cstdint>
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
      for (std::int32_t r : p.replicas) {
        if (eligible(r) && contains(p.elr, r)) {
          out.leader = r;
          break;
        }
      }
      if (out.leader != -1) {
        // An ELR member holds every committed record: clean.
        out.isr = {out.leader};
        std::erase(out.elr, out.leader);
      }
    }
    if (out.leader == -1) {
      out.leader = first(false);
      if (out.leader == -1) {
        message = "No alive replica can lead the partition.";
        return ErrorCode::kEligibleLeadersNotAvailable;
      }
      out.isr = {out.leader};  // unclean: what the others had may be lost
      out.elr.clear();
      out.last_known_elr.clear();
    }
  }
  ++out.leader_epoch;
  ++out.partition_epoch;
  return ErrorCode::kNone;
}

}  // namespace

std::int32_t effective_min_isr(std::int64_t min_insync_replicas, std::size_t replicas) {
  const std::int64_t n =
      std::min<std::int64_t>(min_insync_replicas, static_cast<std::int64_t>(replicas));
  return static_cast<std::int32_t>(std::max<std::int64_t>(1, n));
}

std::vector<std::int32_t> next_elr(const PartitionImage& before, const PartitionImage& next,
                                   std::int32_t min_isr,
                                   const std::function<bool(std::int32_t)>& log_lost) {
  std::vector<std::int32_t> out;
  if (static_cast<std::int32_t>(next.isr.size()) >= min_isr) return out;
  for (std::int32_t r : next.replicas) {
    if (!contains(before.isr, r) && !contains(before.elr, r)) continue;
    if (contains(next.isr, r) || r == next.leader || log_lost(r)) continue;
    out.push_back(r);
  }
  return out;
}

std::vector<std::int32_t> next_last_known_elr(const PartitionImage& before,
                                              const PartitionImage& next, std::int32_t min_isr) {
  std::vector<std::int32_t> out;
  if (static_cast<std::int32_t>(next.isr.size()) >= min_isr) return out;
  for (std::int32_t r : next.replicas) {
    if (!contains(before.isr, r) && !contains(before.elr, r) &&
        !contains(before.last_known_elr, r)) {
      continue;
    }
    if (contains(next.isr, r) || contains(next.elr, r) || r == next.leader) continue;
    out.push_back(r);
  }
  return out;
}

LivenessOutcome liveness_next(const PartitionImage& p, std::int32_t min_isr, const LivenessView& v,
                              bool unclean_allowed) {
  LivenessOutcome o;
  PartitionImage& n = o.next;
  n = p;
  auto lost = [&](std::int32_t id) { return v.log_lost(id); };
  auto can_lead = [&](std::int32_t id) { return v.eligible(id) && !v.restarted(id) && !lost(id); };
  auto with_log = [&](std::int32_t id) { return v.alive(id) && !lost(id); };
  n.isr.clear();
  for (std::int32_t r : p.isr) {
    if (can_lead(r)) n.isr.push_back(r);
  }
  if (n.isr.empty()) {
    // Only shutting-down (or restarted) members are alive: they stay.
    for (std::int32_t r : p.isr) {
      if (with_log(r)) n.isr.push_back(r);
    }
  }
  if (n.isr.empty() && !p.isr.empty()) {
    // None alive: the last leader (or first member) stays, as KRaft never
    // empties an ISR; one whose log is gone does not.
    if (contains(p.isr, p.leader) && !lost(p.leader)) {
      n.isr.push_back(p.leader);
    } else {
      for (std::int32_t r : p.isr) {
        if (!lost(r)) {
          n.isr.push_back(r);
          break;
        }
      }
    }
  }
  // Who may lead from the ELR: its members and the ISR members that left
  // it now (they are committed up to the same high watermark).
  PartitionImage probe = n;
  probe.leader = -1;
  const std::vector<std::int32_t> elr = next_elr(p, probe, INT32_MAX, lost);
  auto first_of = [&](const std::vector<std::int32_t>& set, auto&& ok) {
    for (std::int32_t r : p.replicas) {
      if (contains(set, r) && ok(r)) return r;
    }
    return -1;
  };
  if (p.leader == -1 || !can_lead(p.leader)) {
    std::int32_t leader = first_of(n.isr, can_lead);
    if (leader == -1) {
      leader = first_of(elr, can_lead);
      if (leader != -1) {
        n.isr = {leader};
        o.from_elr = true;
      }
    }
    // A shutting-down (or restarted) leader with nobody to hand over to
    // keeps leading (until its lease goes).
    if (leader == -1 && p.leader != -1 && with_log(p.leader)) leader = p.leader;
    if (leader == -1 && p.leader == -1) {
      leader = first_of(n.isr, with_log);
      if (leader == -1) {
        leader = first_of(elr, with_log);
        if (leader != -1) {
          n.isr = {leader};
          o.from_elr = true;
        }
      }
    }
    if (leader == -1 && p.replicas.size() == 1 && v.eligible(p.replicas.front())) {
      // The only replica came back without its log: nothing anywhere can
      // hold the records it had, so waiting saves nothing; it leads again
      // in a new epoch, empty (logged as unclean: they are lost).
      leader = p.replicas.front();
      n.isr = {leader};
      o.unclean = true;
    }
    if (leader == -1 && unclean_allowed) {
      for (std::int32_t r : p.replicas) {
        if (can_lead(r)) {
          leader = r;
          n.isr = {r};
          o.unclean = true;
          break;
        }
      }
    }
    n.leader = leader;
  }
  n.elr = o.unclean ? std::vector<std::int32_t>{} : next_elr(p, n, min_isr, lost);
  n.last_known_elr = o.unclean ? std::vector<std::int32_t>{} : next_last_known_elr(p, n, min_isr);
  const bool leader_changed = n.leader != p.leader;
  // A restarted leader that nobody else can replace leads again in a new
  // epoch: its followers truncate to its log, and its old epoch's state is
  // gone.
  const bool reelected = !leader_changed && n.leader != -1 && v.restarted(n.leader);
  o.new_leader_epoch = leader_changed || reelected;
  o.changed = o.new_leader_epoch || n.isr != p.isr || n.elr != p.elr ||
              n.last_known_elr != p.last_known_elr;
  if (o.new_leader_epoch) ++n.leader_epoch;
  if (o.changed) ++n.partition_epoch;
  return o;
}

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
