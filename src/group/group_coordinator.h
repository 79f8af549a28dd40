// GroupCoordinator: Kafka's classic group protocol (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup), membership and rebalancing only, plus the admin
// views (DescribeGroups, ListGroups). Committed offsets are the
// OffsetManager's (offset_manager.h), which asks this coordinator through
// the GroupMembership seam (group_membership.h): commit checks, which
// groups exist, how their offsets age, DeleteGroups. On one node it
// coordinates every group. The implementation is split by concern:
// group_coordinator.cc (groups, load, admin, the membership seam),
// group_join.cc (JoinGroup), group_rebalance.cc (rebalance, SyncGroup),
// group_liveness.cc (Heartbeat, LeaveGroup, session timers).
//
// The happy path is: members join (the first JoinGroup of a v4+ client gets
// MEMBER_ID_REQUIRED and a member id, then joins again with it) -> the
// group waits group.initial.rebalance.delay.ms (new group) or until every
// known member has rejoined (a rebalance of a running group) -> a new
// generation: every member gets its JoinGroup answer, the leader with every
// member's metadata -> the leader's SyncGroup carries the assignment, which
// is persisted and handed to every member's SyncGroup -> Stable; members
// heartbeat (and commit offsets through the OffsetManager). Possible
// failure modes are:
//  - a member stops heartbeating: after its session timeout it is removed
//    and the group rebalances;
//  - a member does not rejoin within the rebalance timeout: removed, and
//    the generation completes without it; a member that does not send
//    SyncGroup within the rebalance timeout: removed, and the group
//    rebalances again;
//  - stale or unknown requests: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//    REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID (a replaced static member),
//    as Kafka answers them;
//  - a storage write fails: the assignment answers with the error
//    (COORDINATOR_NOT_AVAILABLE, as Kafka maps it) and memory is not
//    changed.
// Everything runs on the loop thread; timers are entries of one TimerQueue
// (no handle per member, no thread per group). Each completed generation is
// written through the OffsetsStore and loaded at start-up, so a restart
// keeps generations and static members.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/timer_queue.h"
#include "src/group/group.h"
#include "src/group/group_membership.h"
#include "storage/offsets_store.h"

namespace kgw {

struct GroupCoordinatorConfig {
  // Default: 6000. Smallest session timeout a member may ask for.
  std::int32_t min_session_timeout_ms = 6000;
  // Default: 1800000. Largest session timeout a member may ask for.
  std::int32_t max_session_timeout_ms = 1800000;
  // Default: 3000. How long a new (empty) group waits for more members
  // before its first generation; extended while members keep arriving, up
  // to the rebalance timeout.
  std::int32_t initial_rebalance_delay_ms = 3000;
  // Default: 2147483647. Most members in one group.
  std::int32_t max_size = 2147483647;
  // Default: 300000. A new member whose JoinGroup waits longer is dropped.
  std::int32_t new_member_join_timeout_ms = 300000;
};

struct JoinArgs {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  std::vector<std::pair<std::string, std::string>> protocols;
  bool require_known_member_id = false;  // JoinGroup v4+
  std::string reason;
};

struct SyncArgs {
  std::string group_id;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<std::pair<std::string, std::string>> assignments;  // (member id, assignment)
};

struct LeaveMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string reason;
};

struct LeaveResult {
  ErrorCode error = ErrorCode::kNone;  // the group's
  std::vector<ErrorCode> members;      // one per LeaveMember, same order
};

struct GroupDescription {
  ErrorCode error = ErrorCode::kNone;
  std::string group_id;
  std::string state;
  std::string protocol_type;
  std::string protocol;  // only when Stable
  struct Member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id;
    std::string client_host;
    std::string metadata;    // only when Stable
    std::string assignment;  // only when Stable
  };
  std::vector<Member> members;
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};

class GroupCoordinator final : public GroupMembership {
 public:
  GroupCoordinator(uv_loop_t* loop, OffsetsStore& store, GroupCoordinatorConfig config);
  ~GroupCoordinator() override;
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Start-up, before serving and before the OffsetManager's load() (blocks
  // on disk): loads the groups; members of loaded groups get a fresh
  // session timeout to come back in.
  // Returns "" or one line naming the damage.
  std::string load();
  // A cluster's coordinator (src/replica/coordinator_log.h): a group as
  // its replicated partition holds it, replacing the one in memory; with
  // `start_sessions` its members get a session timeout to heartbeat in.
  void load_group(GroupRecord r, bool start_sessions);
  // This broker stopped (or is about to start) coordinating the groups
  // `which` picks: they leave memory, waiting JoinGroup/SyncGroup members
  // are answered NOT_COORDINATOR. Returns how many went.
  std::size_t unload_groups(const std::function<bool(const std::string& group_id)>& which);
  // While its partition is being loaded, a group's requests are answered
  // COORDINATOR_LOAD_IN_PROGRESS (the handlers ask loading()).
  void set_loading_check(std::function<bool(std::string_view group_id)> check) {
    loading_check_ = std::move(check);
  }
  bool loading(std::string_view group_id) const {
    return loading_check_ && loading_check_(group_id);
  }
  // Stops timers and drops waiting JoinGroup/SyncGroup answers (their
  // connections are closing). Call before the store stops.
  void stop();

  void join(JoinArgs args, JoinCallback done);
  void sync(SyncArgs args, SyncCallback done);
  ErrorCode heartbeat(const std::string& group_id, std::int32_t generation_id,
                      const std::string& member_id,
                      const std::optional<std::string>& group_instance_id);
  LeaveResult leave(const std::string& group_id, const std::vector<LeaveMember>& members);

  GroupDescription describe(const std::string& group_id) const;
  // `states` empty: every group. Compared case-insensitively.
  std::vector<GroupListing> list(const std::vector<std::string>& states) const;
  // GroupMembership, for the OffsetManager.
  ErrorCode admit_commit(const std::string& group_id, std::int32_t generation_id,
                         const std::string& member_id,
                         const std::optional<std::string>& instance_id,
                         bool transactional) override;
  ErrorCode admit_offset_delete(const std::string& group_id,
                                const std::vector<std::pair<std::string, std::int32_t>>& parts,
                                std::vector<ErrorCode>& errors) const override;
  void ensure_group(const std::string& group_id) override;
  void for_each_retention(const std::function<void(const OffsetRetention&)>& f) const override;
  void remove_expired_group(const std::string& group_id) override;
  std::vector<ErrorCode> remove_groups(const std::vector<std::string>& group_ids) override;

  std::size_t group_count() const { return groups_.size(); }

 private:
  Group* find(const std::string& group_id) const;
  Group* find(const std::string& group_id, std::uint64_t incarnation) const;
  Group& create(const std::string& group_id);
  void remove_group(Group& g);
  void transition(Group& g, GroupState to);

  // Join paths (Kafka's doNewMemberJoinGroup / doCurrentMemberJoinGroup).
  void join_new_member(Group& g, JoinArgs& args, JoinCallback& done);
  void join_current_member(Group& g, JoinArgs& args, JoinCallback& done);
  void add_member_and_rebalance(Group& g, JoinArgs& args, const std::string& member_id,
                                JoinCallback done);
  void update_member_and_rebalance(Group& g, GroupMember& m, JoinArgs& args, JoinCallback done,
                                   const std::string& reason);
  void update_static_member_and_rebalance(Group& g, JoinArgs& args, const std::string& old_id,
                                          const std::string& new_id, JoinCallback done);
  bool accept_joining_member(const Group& g, const std::string& member_id) const;
  std::string new_member_id(const std::string& client_id,
                            const std::optional<std::string>& instance_id);
  JoinResult current_generation(const Group& g, const std::string& member_id,
                                bool with_members) const;

  // Rebalance.
  void maybe_prepare_rebalance(Group& g, const std::string& reason);
  void prepare_rebalance(Group& g, const std::string& reason);
  void schedule_initial_join(Group& g, std::int64_t delay_ms, std::int64_t remaining_ms);
  void try_complete_join(Group& g);
  void complete_join(Group& g);
  bool maybe_elect_new_joined_leader(Group& g);
  void init_next_generation(Group& g);
  void on_sync_deadline(Group& g);
  void reset_and_propagate_assignment_error(Group& g, ErrorCode error);
  void propagate_assignment(Group& g, ErrorCode error);

  // Liveness.
  // Restarts the member's liveness deadline: its session timeout, or
  // `timeout` ms when given.
  void schedule_heartbeat(Group& g, GroupMember& m, std::int32_t timeout = -1);
  void on_heartbeat_deadline(Group& g, const std::string& member_id);
  void schedule_pending_member(Group& g, const std::string& member_id, std::int32_t timeout_ms);
  void remove_pending_member(Group& g, const std::string& member_id);
  void remove_member_and_update(Group& g, const std::string& member_id, const std::string& reason);

  // Commit checks.
  std::optional<ErrorCode> validate_commit(const Group& g, std::int32_t generation_id,
                                           const std::string& member_id,
                                           const std::optional<std::string>& instance_id,
                                           bool transactional) const;
  void persist_group(Group& g, std::function<void(const std::string& error)> done);

  void compute_subscribed_topics(Group& g);

  OffsetsStore& store_;
  GroupCoordinatorConfig config_;
  TimerQueue timers_;
  std::map<std::string, std::unique_ptr<Group>, std::less<>> groups_;
  std::uint64_t next_incarnation_ = 1;
  bool stopped_ = false;
  std::function<bool(std::string_view)> loading_check_;
};

}  // namespace kgw
