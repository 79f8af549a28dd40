#include "src/broker/coordinator_topics.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "src/broker/broker_config.h"
#include "src/cluster/alter_partition.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {

std::int64_t configured_replicas(const BrokerConfig& config, bool groups) {
  return config.get_long(groups ? "offsets.topic.replication.factor"
                                : "transaction.state.log.replication.factor");
}

}  // namespace

void request_coordinator_topic(MetadataLog& metadata, const BrokerConfig& config,
                               CoordinatorType type, std::int32_t lead_all) {
  // One request at a time per type (the loop thread's).
  static bool creating[2] = {false, false};
  const bool groups = type == CoordinatorType::kGroup;
  const auto i = static_cast<std::size_t>(groups ? 0 : 1);
  if (creating[i]) return;
  const ImagePtr image = metadata.image();
  if (image->topic(coordinator_topic(type)) != nullptr) return;
  CreateTopic c;
  c.name = coordinator_topic(type);
  c.partitions = static_cast<std::int32_t>(config.get_long(
      groups ? "offsets.topic.num.partitions" : "transaction.state.log.num.partitions"));
  std::vector<std::int32_t> others;
  std::int64_t live = 0;
  for (const auto& [id, b] : image->brokers()) {
    if (b.fenced) continue;
    ++live;
    if (id != lead_all) others.push_back(id);
  }
  const std::int64_t wanted = configured_replicas(config, groups);
  c.replication_factor =
      static_cast<std::int32_t>(std::max<std::int64_t>(1, std::min(wanted, live)));
  if (lead_all >= 0) {
    if (image->broker(lead_all) == nullptr) return;  // not registered yet: asked again later
    // This broker first (the preferred leader), the others in turn.
    const std::size_t followers =
        std::min<std::size_t>(others.size(), static_cast<std::size_t>(c.replication_factor - 1));
    c.replication_factor = static_cast<std::int32_t>(followers + 1);
    for (std::int32_t p = 0; p < c.partitions; ++p) {
      std::vector<std::int32_t> replicas{lead_all};
      for (std::size_t j = 0; j < followers; ++j) {
        replicas.push_back(others[(static_cast<std::size_t>(p) + j) % others.size()]);
      }
      c.assignments.push_back(std::move(replicas));
    }
  }
  c.configs["cleanup.policy"] = "compact";
  if (c.replication_factor < wanted) {
    c.configs[std::string(kReplicationTarget)] = std::to_string(wanted);
  }
  if (!groups) {
    const std::int64_t min_isr = config.get_long("transaction.state.log.min.isr");
    c.configs["min.insync.replicas"] = std::to_string(
        std::max<std::int64_t>(1, std::min<std::int64_t>(min_isr, c.replication_factor)));
  }
  creating[i] = true;
  LOG_INFO("coordinator", "asking the controller for %s (%d partitions, %d replicas%s)",
           c.name.c_str(), c.partitions, c.replication_factor, lead_all >= 0 ? ", led here" : "");
  metadata.submit(std::move(c), [i, name = std::string(coordinator_topic(type))](
                                    ErrorCode e, std::string message) {
    creating[i] = false;
    if (e != ErrorCode::kNone && e != ErrorCode::kTopicAlreadyExists) {
      LOG_WARN("coordinator", "cannot create %s yet: %s", name.c_str(), message.c_str());
    }
  });
}

void grow_coordinator_topic(MetadataLog& metadata, const BrokerConfig& config, CoordinatorType type,
                            std::int32_t self) {
  // Requests under way: (type, partition), and the final config change.
  static std::set<std::pair<int, std::int32_t>> asking;
  static bool finishing[2] = {false, false};
  const bool groups = type == CoordinatorType::kGroup;
  const ImagePtr image = metadata.image();
  const TopicPtr t = image->topic(coordinator_topic(type));
  if (t == nullptr || t->partitions.empty()) return;
  auto mark = t->configs.find(std::string(kReplicationTarget));
  if (mark == t->configs.end()) return;  // made with its replicas (or by a user)
  const std::int64_t goal = std::strtoll(mark->second.c_str(), nullptr, 10);
  std::vector<std::int32_t> live;
  for (const auto& [id, b] : image->brokers()) {
    if (!b.fenced) live.push_back(id);
  }
  const auto target = static_cast<std::size_t>(std::max<std::int64_t>(
      1, std::min<std::int64_t>(goal, static_cast<std::int64_t>(live.size()))));
  bool settled = true;
  std::size_t fewest = t->partitions[0].replicas.size();
  for (const PartitionImage& p : t->partitions) {
    if (p.reassigning()) settled = false;
    fewest = std::min(fewest, p.replicas.size());
    if (p.leader != self || p.reassigning() || p.replicas.size() >= target) continue;
    const auto key = std::make_pair(static_cast<int>(type), p.index);
    if (asking.contains(key)) continue;
    std::vector<std::int32_t> candidates;
    for (std::int32_t id : live) {
      if (std::find(p.replicas.begin(), p.replicas.end(), id) == p.replicas.end()) {
        candidates.push_back(id);
      }
    }
    if (candidates.empty()) continue;
    // A different first candidate per partition spreads the new replicas.
    std::vector<std::int32_t> replicas = p.replicas;
    for (std::size_t j = 0; replicas.size() < target && j < candidates.size(); ++j) {
      replicas.push_back(candidates[(static_cast<std::size_t>(p.index) + j) % candidates.size()]);
    }
    // The preferred replica (the first) in turn too, so that once the new
    // replicas are in sync the preferred-leader rebalance spreads the
    // coordinators over the brokers (a converted node led them all).
    std::rotate(replicas.begin(),
                replicas.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(p.index) %
                                                               replicas.size()),
                replicas.end());
    const std::string name = t->name + "-" + std::to_string(p.index);
    LOG_INFO("coordinator", "%s has %zu of %lld replicas: adding %s -> %s", name.c_str(),
             p.replicas.size(), static_cast<long long>(goal), ids_text(p.replicas).c_str(),
             ids_text(replicas).c_str());
    asking.insert(key);
    AlterReassignment change;
    change.topic = t->id;
    change.partition = p.index;
    change.replicas = std::move(replicas);
    metadata.submit(std::move(change), [key, name](ErrorCode e, std::string message) {
      asking.erase(key);
      if (e != ErrorCode::kNone) {
        LOG_WARN("coordinator", "cannot add replicas to %s yet: %s", name.c_str(), message.c_str());
      }
    });
  }
  // Every partition grown: the mark goes (by partition 0's leader), and
  // __transaction_state's min ISR rises to what its replicas allow.
  if (!settled || static_cast<std::int64_t>(fewest) < goal || t->partitions[0].leader != self) {
    return;
  }
  const auto i = static_cast<std::size_t>(groups ? 0 : 1);
  if (finishing[i]) return;
  SetTopicConfigs change;
  change.id = t->id;
  change.configs = t->configs;
  change.configs.erase(std::string(kReplicationTarget));
  std::string min_isr_text;
  if (!groups) {
    const std::int64_t want = std::max<std::int64_t>(
        1, std::min<std::int64_t>(config.get_long("transaction.state.log.min.isr"),
                                  static_cast<std::int64_t>(fewest)));
    auto it = change.configs.find("min.insync.replicas");
    if (it == change.configs.end() || std::strtoll(it->second.c_str(), nullptr, 10) < want) {
      change.configs["min.insync.replicas"] = std::to_string(want);
      min_isr_text = ", min.insync.replicas " + std::to_string(want);
    }
  }
  LOG_INFO("coordinator", "%s has %zu replicas per partition%s", t->name.c_str(), fewest,
           min_isr_text.c_str());
  finishing[i] = true;
  metadata.submit(std::move(change), [i, name = t->name](ErrorCode e, std::string message) {
    finishing[i] = false;
    if (e != ErrorCode::kNone) {
      LOG_WARN("coordinator", "cannot update %s's configs yet: %s", name.c_str(), message.c_str());
    }
  });
}

}  // namespace kgw
