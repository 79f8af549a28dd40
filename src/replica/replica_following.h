// ReplicaFollowing: the replica fetchers as the ReplicaManager sees them.
// The ReplicaManager decides, from the metadata image, which partitions
// this node follows and of which leader; the fetchers (implemented over the
// inter-broker client, src/interbroker/replica_fetcher.h) fill their logs.
// Loop thread only.
#pragma once

#include <cstdint>

#include "protocol/wire/types.h"

namespace kgw {

class ReplicaFollowing {
 public:
  virtual ~ReplicaFollowing() = default;
  // Fetch the partition from `leader` from now on (a new leader or epoch
  // re-targets it).
  virtual void follow(const Uuid& topic, std::int32_t partition, std::int32_t leader,
                      std::int32_t leader_epoch) = 0;
  // Stop fetching it; no later response appends to it.
  virtual void unfollow(const Uuid& topic, std::int32_t partition) = 0;
};

}  // namespace kgw
