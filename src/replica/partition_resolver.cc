#include "src/replica/partition_resolver.h"

#include <algorithm>

#include "src/cluster/metadata_log.h"
#include "storage/store.h"

namespace kgw {

const TopicInfo* PartitionResolver::lookup(const TopicKey& key) const {
  // The metadata image says which topics exist; the store holds their
  // logs. A topic being created is in the store before the image (unknown
  // until its creation is applied), one being deleted leaves the store
  // first (unknown at once).
  const ImagePtr image = metadata_.image();
  const TopicPtr t = key.id != nullptr ? image->topic(*key.id) : image->topic(key.name);
  return t != nullptr ? store_.find_topic(t->id) : nullptr;
}

Resolved PartitionResolver::resolve(const TopicKey& key, const TopicInfo* topic,
                                    std::int32_t partition, Serving serving) const {
  Resolved r;
  if (topic == nullptr) {
    r.error = key.id != nullptr ? ErrorCode::kUnknownTopicId : ErrorCode::kUnknownTopicOrPartition;
    return r;
  }
  const ImagePtr image = metadata_.image();
  const TopicPtr t = image->topic(topic->id);
  const PartitionImage* p = t != nullptr ? t->partition(partition) : nullptr;
  const PartitionState* state = store_.partition(topic->id, partition);
  if (p == nullptr || state == nullptr) {
    r.error = ErrorCode::kUnknownTopicOrPartition;
    return r;
  }
  // Only the leader serves a partition (Kafka: NOT_LEADER_OR_FOLLOWER, and
  // the client refreshes its metadata), or for a consumer's fetch any
  // replica. On one node this node leads all.
  const bool replica =
      serving != Serving::kLeader && serving != Serving::kWrite && p->leader >= 0 &&
      std::find(p->replicas.begin(), p->replicas.end(), node_id_) != p->replicas.end();
  if (p->leader != node_id_ && !replica) {
    r.error = ErrorCode::kNotLeaderOrFollower;
    return r;
  }
  r.local = LocalPartition{topic, partition, state};
  return r;
}

Resolved PartitionResolver::route(const TopicKey& key, const TopicInfo* topic,
                                  std::int32_t partition, Serving serving) const {
  // Proxy mode: a topic this node does not have and the legacy cluster
  // has (by name, or by id for Fetch v13+).
  if (topic == nullptr && upstream_ != nullptr) {
    const std::int32_t n =
        upstream_->partitions(key.id != nullptr ? upstream_->name_of(*key.id) : key.name);
    if (n >= 0) {
      Resolved r;
      r.route = Route::kUpstream;
      r.error =
          partition >= 0 && partition < n ? ErrorCode::kNone : ErrorCode::kUnknownTopicOrPartition;
      return r;
    }
  }
  // Migration (issue 17): a topic being mirrored here is still the legacy
  // cluster's for clients; only its own-copy view (kOwnCopy) reads here.
  if (topic != nullptr && upstream_ != nullptr && serving != Serving::kOwnCopy) {
    const TopicPtr t = metadata_.image()->topic(topic->id);
    if (t != nullptr) {
      const std::string_view state = migration_state(t->configs);
      // A rollback's switch holds writes as a cutover does.
      if (state == kRollback && serving == Serving::kWrite && upstream_->writes_fenced(t->name)) {
        Resolved r;
        r.error = ErrorCode::kNotLeaderOrFollower;
        return r;
      }
      if (!served_here(state)) {
        Resolved r;
        r.route = Route::kUpstream;
        r.error = partition >= 0 && partition < t->partition_count()
                      ? ErrorCode::kNone
                      : ErrorCode::kUnknownTopicOrPartition;
        // The cutover's fence: no write reaches the legacy cluster while
        // kgw catches up with it (src/proxy/cutover.h).
        if (r.ok() && state == kCutover && serving == Serving::kWrite) {
          r.route = Route::kLocal;
          r.error = ErrorCode::kNotLeaderOrFollower;
        }
        return r;
      }
    }
  }
  return resolve(key, topic, partition, serving);
}

}  // namespace kgw
