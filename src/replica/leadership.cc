#include "src/replica/leadership.h"

#include <type_traits>
#include <variant>

#include "src/cluster/metadata_log.h"
#include "src/replica/replica_manager.h"

namespace kgw {

namespace {

void lead_topic(const TopicImage& topic, ReplicaManager& replicas, std::int32_t node_id) {
  for (const PartitionImage& p : topic.partitions) {
    if (p.leader == node_id) replicas.become_leader(topic.id, p.index, p.leader_epoch);
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
          } else if constexpr (std::is_same_v<T, DeleteTopic>) {
            if (before.topic(c.id) != nullptr) replicas.forget_topic(c.id);
          }
        },
        change);
  });
}

}  // namespace kgw
