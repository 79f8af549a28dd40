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
// `restarted` (a cluster broker that just started): the leaderships the
// image gives this node at start belong to its previous incarnation,
// whose log it may not have any more (a wiped disk; KIP-903): it does not
// lead those partitions until the controller, which learned of the new
// incarnation, gave them a new leader epoch (to this node or another), or
// `hold_ms` passed (a controller elected after the restart does not know
// of it: leading in the old epoch beats staying offline; logged) — except
// when `log_replaced` (this incarnation's store is not the previous one's,
// BrokerImage::log_dir_replaced): an empty log must never lead what the
// old one held, so it waits for the controller however long it takes.
void follow_leadership(MetadataLog& log, ReplicaManager& replicas, std::int32_t node_id,
                       bool restarted = false, std::uint64_t hold_ms = 0,
                       bool log_replaced = false);

}  // namespace kgw
