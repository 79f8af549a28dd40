#include "src/replica/partition_resolver.h"

#include "storage/store.h"

namespace kgw {

const TopicInfo* PartitionResolver::lookup(const TopicKey& key) const {
  // Today the Store's catalogue; the metadata image once it exists.
  return key.id != nullptr ? store_.find_topic(*key.id) : store_.find_topic(key.name);
}

Resolved PartitionResolver::resolve(const TopicKey& key, const TopicInfo* topic,
                                    std::int32_t partition) const {
  Resolved r;
  if (topic == nullptr) {
    r.error = key.id != nullptr ? ErrorCode::kUnknownTopicId : ErrorCode::kUnknownTopicOrPartition;
    return r;
  }
  const PartitionState* state = store_.partition(topic->id, partition);
  if (state == nullptr) {
    r.error = ErrorCode::kUnknownTopicOrPartition;
    return r;
  }
  r.local = LocalPartition{topic, partition, state};
  return r;
}

}  // namespace kgw
