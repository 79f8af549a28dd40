#include "src/group/group_coordinator.h"

#include <algorithm>

#include "common/log.h"
#include "src/group/group_coordinator_internal.h"

namespace kgw {

using namespace group_detail;

// --- Heartbeat and LeaveGroup ----------------------------------------------

ErrorCode GroupCoordinator::heartbeat(const std::string& group_id, std::int32_t generation_id,
                                      const std::string& member_id,
                                      const std::optional<std::string>& group_instance_id) {
  if (group_id.empty()) return ErrorCode::kInvalidGroupId;
  Group* gp = find(group_id);
  if (gp == nullptr) return ErrorCode::kUnknownMemberId;
  Group& g = *gp;
  if (g.is(GroupState::kDead)) return ErrorCode::kCoordinatorNotAvailable;
  if (g.is_static_member_fenced(group_instance_id, member_id)) return ErrorCode::kFencedInstanceId;
  if (!g.has(member_id)) return ErrorCode::kUnknownMemberId;
  if (generation_id != g.generation_id) return ErrorCode::kIllegalGeneration;
  GroupMember& m = g.members.at(member_id);
  switch (g.state) {
    case GroupState::kEmpty:
      return ErrorCode::kUnknownMemberId;
    case GroupState::kCompletingRebalance:
      // Members may heartbeat between their JoinGroup and SyncGroup.
      schedule_heartbeat(g, m);
      return ErrorCode::kNone;
    case GroupState::kPreparingRebalance:
      schedule_heartbeat(g, m);
      return ErrorCode::kRebalanceInProgress;
    case GroupState::kStable:
      schedule_heartbeat(g, m);
      return ErrorCode::kNone;
    case GroupState::kDead:
      return ErrorCode::kCoordinatorNotAvailable;
  }
  return ErrorCode::kUnknownMemberId;
}

LeaveResult GroupCoordinator::leave(const std::string& group_id,
                                    const std::vector<LeaveMember>& members) {
  LeaveResult result;
  if (group_id.empty()) {
    result.error = ErrorCode::kInvalidGroupId;
    return result;
  }
  Group* gp = find(group_id);
  if (gp == nullptr) {
    result.members.assign(members.size(), ErrorCode::kUnknownMemberId);
    return result;
  }
  Group& g = *gp;
  if (g.is(GroupState::kDead)) {
    result.error = ErrorCode::kCoordinatorNotAvailable;
    return result;
  }
  for (const auto& lm : members) {
    // An admin removing a static member may name only its instance id.
    std::string member_id = lm.member_id;
    if (lm.group_instance_id && member_id.empty()) {
      member_id = g.static_member_id(*lm.group_instance_id).value_or("");
    }
    if (g.is_pending(member_id)) {
      LOG_INFO("group", "group %s: pending member %s left", g.id().c_str(), member_id.c_str());
      remove_pending_member(g, member_id);
      result.members.push_back(ErrorCode::kNone);
      continue;
    }
    ErrorCode e = ErrorCode::kNone;
    if (lm.group_instance_id) {
      auto current = g.static_member_id(*lm.group_instance_id);
      if (!current) {
        e = ErrorCode::kUnknownMemberId;
      } else if (*current != member_id) {
        e = ErrorCode::kFencedInstanceId;
      }
    }
    if (e == ErrorCode::kNone && !g.has(member_id)) e = ErrorCode::kUnknownMemberId;
    if (e == ErrorCode::kNone) {
      LOG_INFO("group", "group %s: member %s left%s%s", g.id().c_str(), member_id.c_str(),
               lm.reason.empty() ? "" : "; client reason: ", lm.reason.c_str());
      remove_member_and_update(g, member_id, "member " + member_id + " left");
    }
    result.members.push_back(e);
  }
  return result;
}

// --- Liveness --------------------------------------------------------------

void GroupCoordinator::schedule_heartbeat(Group& g, GroupMember& m, std::int32_t timeout) {
  timers_.cancel(m.heartbeat_timer);
  if (timeout < 0) timeout = m.session_timeout_ms;
  m.heartbeat_timer = timers_.schedule(static_cast<std::uint64_t>(std::max(timeout, 0)),
                                       [this, gid = g.id(), inc = g.incarnation(), mid = m.id] {
                                         if (Group* grp = find(gid, inc))
                                           on_heartbeat_deadline(*grp, mid);
                                       });
}

void GroupCoordinator::on_heartbeat_deadline(Group& g, const std::string& member_id) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  GroupMember& m = it->second;
  m.heartbeat_timer = 0;
  // Members waiting in JoinGroup or SyncGroup cannot heartbeat: they are
  // alive by definition (a new member only until its join timeout).
  if (!m.is_new && (m.awaiting_join() || m.awaiting_sync())) return;
  LOG_INFO("group", "group %s: member %s %s; removing it", g.id().c_str(), member_id.c_str(),
           m.is_new ? "did not complete its join in time" : "missed its session timeout");
  remove_member_and_update(g, member_id, "member " + member_id + " expired");
}

void GroupCoordinator::schedule_pending_member(Group& g, const std::string& member_id,
                                               std::int32_t timeout_ms) {
  g.pending_member_timers[member_id] =
      timers_.schedule(static_cast<std::uint64_t>(std::max(timeout_ms, 0)),
                       [this, gid = g.id(), inc = g.incarnation(), member_id] {
                         Group* grp = find(gid, inc);
                         if (grp == nullptr || !grp->is_pending(member_id)) return;
                         grp->pending_member_timers.erase(member_id);
                         LOG_DEBUG("group", "group %s: pending member %s never joined; forgotten",
                                   gid.c_str(), member_id.c_str());
                         remove_pending_member(*grp, member_id);
                       });
}

void GroupCoordinator::remove_pending_member(Group& g, const std::string& member_id) {
  auto t = g.pending_member_timers.find(member_id);
  if (t != g.pending_member_timers.end()) {
    timers_.cancel(t->second);
    g.pending_member_timers.erase(t);
  }
  g.pending_members.erase(member_id);
  if (g.is(GroupState::kPreparingRebalance)) try_complete_join(g);
}

void GroupCoordinator::remove_member_and_update(Group& g, const std::string& member_id,
                                                const std::string& reason) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  GroupMember& m = it->second;
  timers_.cancel(m.heartbeat_timer);
  // A new member may still wait in JoinGroup: tell it to start over.
  g.invoke_join(m, join_error(ErrorCode::kUnknownMemberId, ""));
  g.invoke_sync(m, sync_error(ErrorCode::kUnknownMemberId));
  g.remove_member(member_id);
  switch (g.state) {
    case GroupState::kStable:
    case GroupState::kCompletingRebalance:
      maybe_prepare_rebalance(g, reason);
      break;
    case GroupState::kPreparingRebalance:
      try_complete_join(g);
      break;
    case GroupState::kEmpty:
    case GroupState::kDead:
      break;
  }
}

}  // namespace kgw
