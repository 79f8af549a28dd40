// Helpers shared by the files of the GroupCoordinator (group_coordinator.cc,
// group_join.cc, group_rebalance.cc, group_liveness.cc); not an interface.
// Loop thread only, like the coordinator.
#pragma once

#include <string>
#include <utility>

#include "src/group/group.h"

namespace kgw::group_detail {

// Kafka maps storage failures of the offsets log to these for clients,
// which then retry (after finding the coordinator again).
constexpr ErrorCode kStorageFailure = ErrorCode::kCoordinatorNotAvailable;

inline JoinResult join_error(ErrorCode e, std::string member_id = "") {
  JoinResult r;
  r.error = e;
  r.member_id = std::move(member_id);
  return r;
}

inline SyncResult sync_error(ErrorCode e) {
  SyncResult r;
  r.error = e;
  return r;
}

}  // namespace kgw::group_detail
