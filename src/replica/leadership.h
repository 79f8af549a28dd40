// Leadership follows the metadata image: the ReplicaManager leads, at the
// image's leader epoch, every partition whose leader in the image is this
// node, and forgets the partitions of a deleted topic. On one node every
// partition is led here at epoch 0 (the LocalMetadataLog's image); with
// the cluster (issue 15), the etcd metadata log's changes move leaders and
// bump epochs, and this is where a replica learns it became leader (or,
// later, follower). Runs on the loop thread, as the metadata log's
// listeners do.
#pragma once

#include <cstdint>

namespace kgw {

class MetadataLog;
class ReplicaManager;

// Applies the current image at once, then follows every applied change.
void follow_leadership(MetadataLog& log, ReplicaManager& replicas, std::int32_t node_id);

}  // namespace kgw
