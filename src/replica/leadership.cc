#include "src/replica/leadership.h"

#include <algorithm>
#include <map>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/log.h"
#include "src/cluster/metadata_log.h"
#include "src/replica/replica_manager.h"

namespace kgw {

namespace {

// Leaderships of a previous incarnation: (topic, partition) -> epoch.
using Held = std::map<std::pair<Uuid, std::int32_t>, std::int32_t>;

// This node's role in each of the topic's partitions: leader, follower
// of the leader the image names, or neither (offline, not a replica, or
// held: a replica that left stops fetching; its log stays until the topic
// goes).

void lead_topic(const TopicImage& topic, ReplicaManager& replicas, std::int32_t node_id,
                Held& held) {
  for (const PartitionImage& p : topic.partitions) {
    ReplicaRole role{p.leader, p.leader_epoch, p.partition_epoch, p.replicas, p.isr};
    if (!held.empty()) {
      auto h = held.find({topic.id, p.index});
      if (h != held.end() && p.leader == node_id && p.leader_epoch == h->second) {
        replicas.stop_replica(topic.id, p.index);
        continue;
      }
      if (h != held.end()) held.erase(h);
    }
    if (p.leader == node_id) {
      replicas.become_leader(topic.id, p.index, role);
    } else if (p.leader >= 0 &&
               std::find(p.replicas.begin(), p.replicas.end(), node_id) != p.replicas.end()) {
      replicas.become_follower(topic.id, p.index, role);
    } else {
      replicas.stop_replica(topic.id, p.index);
    }
  }
}

}  // namespace

void follow_leadership(MetadataLog& log, ReplicaManager& replicas, std::int32_t node_id,
                       bool restarted, std::uint64_t hold_ms, bool log_replaced) {
  auto held = std::make_shared<Held>();
  if (restarted) {
    for (const TopicPtr& t : log.image()->topics()) {
      for (const PartitionImage& p : t->partitions) {
        if (p.leader == node_id) (*held)[{t->id, p.index}] = p.leader_epoch;
      }
    }
  }
  if (!held->empty() && log_replaced) {
    LOG_WARN("replica",
             "%zu partition(s) led by this broker's previous incarnation, whose log is gone, wait "
             "for a new leader epoch from the controller",
             held->size());
  } else if (!held->empty()) {
    LOG_INFO("replica",
             "%zu partition(s) led by this broker's previous incarnation wait for a new leader "
             "epoch from the controller",
             held->size());
    replicas.after(hold_ms, [&log, &replicas, node_id, held] {
      if (held->empty()) return;
      LOG_WARN("replica",
               "%zu partition(s) got no new leader epoch from the controller: leading them in "
               "the epoch of this broker's previous incarnation",
               held->size());
      held->clear();
      for (const TopicPtr& t : log.image()->topics()) lead_topic(*t, replicas, node_id, *held);
    });
  }
  for (const TopicPtr& t : log.image()->topics()) lead_topic(*t, replicas, node_id, *held);
  // Only the topic a change names is looked at: a change to one topic of
  // 10,000 costs that topic's partitions, not all of them.
  log.add_listener([&replicas, node_id, held](const MetadataImage& before,
                                              const MetadataImage& after,
                                              const MetadataChange& change) {
    std::visit(
        [&](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, CreateTopic>) {
            if (TopicPtr t = after.topic(c.name)) lead_topic(*t, replicas, node_id, *held);
          } else if constexpr (std::is_same_v<T, CreatePartitions> ||
                               std::is_same_v<T, SetPartitionStates>) {
            if (TopicPtr t = after.topic(c.id)) lead_topic(*t, replicas, node_id, *held);
          } else if constexpr (std::is_same_v<T, AlterPartition> ||
                               std::is_same_v<T, AlterReassignment>) {
            if (TopicPtr t = after.topic(c.topic)) lead_topic(*t, replicas, node_id, *held);
          } else if constexpr (std::is_same_v<T, SetTopicConfigs>) {
            // A migrated topic's leader epoch comes with a config
            // (kgw.migration.leader.epoch, metadata_image.h).
            TopicPtr was = before.topic(c.id);
            TopicPtr now = after.topic(c.id);
            if (was != nullptr && now != nullptr && !now->partitions.empty() &&
                !was->partitions.empty() &&
                now->partitions[0].leader_epoch != was->partitions[0].leader_epoch) {
              lead_topic(*now, replicas, node_id, *held);
            }
          } else if constexpr (std::is_same_v<T, DeleteTopic>) {
            if (before.topic(c.id) != nullptr) replicas.forget_topic(c.id);
          }
        },
        change);
  });
}

}  // namespace kgw
