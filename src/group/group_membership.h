// GroupMembership: the narrow seam between committed offsets
// (OffsetManager) and group membership (GroupCoordinator). The offset
// manager asks membership only what an offset operation depends on: may
// this member of this generation commit, may these offsets be deleted,
// how do the group's offsets age, and tells it which groups exist because
// they hold offsets. Nothing else of the coordinator is reachable through
// it, so offsets can later move to a replicated partition whose leader
// asks a coordinator elsewhere.
//
// Threads: the loop thread only (both sides live on it). Happy path: a
// check answers kNone and the manager stores or deletes; failure modes are
// the Kafka errors the checks answer (ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS,
// COORDINATOR_NOT_AVAILABLE, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP,
// GROUP_SUBSCRIBED_TO_TOPIC).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/wire/error_code.h"

namespace kgw {

// How one group's committed offsets age (Kafka's removeExpiredOffsets).
struct OffsetRetention {
  enum class Rule {
    kKeep,          // a running group of another protocol: nothing expires
    kSinceEmpty,    // everyone left: offsets live the retention past that moment
    kUnsubscribed,  // Stable consumers: only topics nobody subscribes to, by commit time
    kSinceCommit,   // a group that only stores offsets: by commit time
  };
  std::string group_id;
  Rule rule = Rule::kKeep;
  // kSinceEmpty: wall-clock ms the group became empty; -1: use the commit time.
  std::int64_t empty_since = -1;
  // kUnsubscribed: the topics the members subscribe to.
  const std::set<std::string>* subscribed = nullptr;
  // No members: once it holds no offsets the group itself goes.
  bool empty = false;
};

class GroupMembership {
 public:
  virtual ~GroupMembership() = default;

  // OffsetCommit (transactional false) / TxnOffsetCommit: may this member
  // of this generation commit for the group now? A missing group is created
  // to store offsets only (a commit without generation, every
  // transactional commit); a live member's session restarts. kNone: go
  // ahead; otherwise the error of every partition.
  virtual ErrorCode admit_commit(const std::string& group_id, std::int32_t generation_id,
                                 const std::string& member_id,
                                 const std::optional<std::string>& instance_id,
                                 bool transactional) = 0;
  // OffsetDelete: the group's error, or kNone with GROUP_SUBSCRIBED_TO_TOPIC
  // set in `errors` (one per partition, in order) for subscribed topics.
  virtual ErrorCode admit_offset_delete(
      const std::string& group_id, const std::vector<std::pair<std::string, std::int32_t>>& parts,
      std::vector<ErrorCode>& errors) const = 0;
  // Offsets exist for the group (loaded, or written after the group was
  // deleted): it exists from now on, as a group that only stores offsets.
  virtual void ensure_group(const std::string& group_id) = 0;
  // Every group, in id order, with how its offsets age.
  virtual void for_each_retention(const std::function<void(const OffsetRetention&)>& f) const = 0;
  // Expiry left the empty group without offsets: it goes.
  virtual void remove_expired_group(const std::string& group_id) = 0;
  // DeleteGroups: removes the empty groups from memory; one error per id
  // (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or kNone: removed). Their stored
  // records are the caller's to delete.
  virtual std::vector<ErrorCode> remove_groups(const std::vector<std::string>& group_ids) = 0;
};

}  // namespace kgw
