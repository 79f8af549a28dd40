#include "src/replica/leadership.h"

#include <algorithm>
#include <type_traits>
#include <variant>

#include "src/cluster/metadata_log.h"
#include "src/replica/replica_manager.h"

namespace kgw {

namespace {

// This node's role in each of the topic's partitions: leader, follower
// of the leader the image names, or neither (offline, or not a replica:
// a replica that left stops fetching; its log stays until the topic goes).
void lead_topic(const TopicImage& topic, ReplicaManager& replicas, std::int32_t node_id) {
  for (const PartitionImage& p : topic.partitions) {
    ReplicaRole role{p.leader, p.leader_epoch, p.partition_epoch, p.replicas, p.isr};
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

void follow_leadership(MetadataLog& log, ReplicaManager& replicas, std::int32_t node_id) {
  for (const TopicPtr& t : log.image()->topics()) lead_topic(*t, replicas, node_id);
  // Only the topic a change names is looked at: a change to one topic of
  // 10,000 costs that topic's partitions, not all of them.
  log.add_listener([&replicas, node_id](const MetadataImage& before, const MetadataImage& after,
                                        const MetadataChange& change) {
    std::visit(
        [&](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, CreateTopic>) {
            if (TopicPtr t = after.topic(c.name)) lead_topic(*t, replicas, node_id);
          } else if constexpr (std::is_same_v<T, CreatePartitions> ||
                               std::is_same_v<T, SetPartitionStates>) {
            if (TopicPtr t = after.topic(c.id)) lead_topic(*t, replicas, node_id);
          } else if constexpr (std::is_same_v<T, AlterPartition>) {
            if (TopicPtr t = after.topic(c.topic)) lead_topic(*t, replicas, node_id);
          } else if constexpr (std::is_same_v<T, DeleteTopic>) {
            if (before.topic(c.id) != nullptr) replicas.forget_topic(c.id);
          }
        },
        change);
  });
}

}  // namespace kgw
