// Group: one classic consumer group as the coordinator keeps it in memory —
// its state, generation and members (its committed offsets are the
// OffsetManager's). Plain data plus the
// bookkeeping Kafka's GroupMetadata does (leader, static members, pending
// members, protocol votes); the state machine that moves it is in
// group_coordinator.cc.
//
// States, as Kafka names them (DescribeGroups / ListGroups show these):
//   Empty               no members (a new group, or everyone left); offsets may remain
//                       (a group that only stores offsets is Empty too)
//   PreparingRebalance  waiting for members to (re)join
//   CompletingRebalance joined; waiting for the leader's assignment (SyncGroup)
//   Stable              every member has its assignment
//   Dead                removed (deleted, or empty with no offsets left)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/error_code.h"
#include "storage/offsets_store.h"

namespace kgw {

enum class GroupState { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
const char* group_state_name(GroupState s);

struct JoinResult {
  ErrorCode error = ErrorCode::kNone;
  std::string member_id;
  std::int32_t generation_id = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  bool skip_assignment = false;
  struct Member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string metadata;
  };
  std::vector<Member> members;  // the leader's answer only
};
using JoinCallback = std::function<void(JoinResult)>;

struct SyncResult {
  ErrorCode error = ErrorCode::kNone;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string assignment;
};
using SyncCallback = std::function<void(SyncResult)>;

struct GroupMember {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  // (name, metadata) in the member's order of preference.
  std::vector<std::pair<std::string, std::string>> protocols;
  std::string assignment;

  // A JoinGroup waiting for the rebalance to complete ("awaiting join").
  JoinCallback join_callback;
  // A SyncGroup waiting for the leader's assignment ("awaiting sync").
  SyncCallback sync_callback;
  // Joined in the current rebalance and not yet through a generation:
  // expires after the new-member timeout rather than the session timeout.
  bool is_new = false;
  TimerQueue::Id heartbeat_timer = 0;

  bool awaiting_join() const { return static_cast<bool>(join_callback); }
  bool awaiting_sync() const { return static_cast<bool>(sync_callback); }
  const std::string* metadata_for(std::string_view protocol) const;
  // Same protocols, same metadata, same order.
  bool matches(const std::vector<std::pair<std::string, std::string>>& other) const {
    return protocols == other;
  }
};

class Group {
 public:
  Group(std::string id, std::uint64_t incarnation)
      : id_(std::move(id)), incarnation_(incarnation) {}

  const std::string& id() const { return id_; }
  // Tells timers and storage completions of a deleted group from a later
  // group with the same id.
  std::uint64_t incarnation() const { return incarnation_; }

  GroupState state = GroupState::kEmpty;
  std::int64_t state_timestamp = -1;  // wall-clock ms of the last transition
  std::int32_t generation_id = 0;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader_id;
  // Topics the members subscribe to (consumer protocol only); nullopt when
  // unknown (another protocol type, or metadata we cannot parse).
  std::optional<std::set<std::string>> subscribed_topics;

  std::map<std::string, GroupMember> members;  // by member id
  std::set<std::string> pending_members;       // got MEMBER_ID_REQUIRED, not yet rejoined
  std::map<std::string, TimerQueue::Id> pending_member_timers;
  std::map<std::string, std::string> static_members;  // instance id -> member id
  std::set<std::string> pending_sync_members;         // joined, SyncGroup not yet received
  int members_awaiting_join = 0;
  // A member joined a brand-new group during the initial rebalance delay:
  // the delay may be extended (group.initial.rebalance.delay.ms).
  bool new_member_added = false;
  // The initial delay of a new group's first rebalance is running: only
  // its timer completes the join, however many members have joined.
  bool initial_join_pending = false;

  TimerQueue::Id join_timer = 0;
  TimerQueue::Id sync_timer = 0;

  bool is(GroupState s) const { return state == s; }
  bool has(const std::string& member_id) const { return members.count(member_id) != 0; }
  bool is_leader(const std::string& member_id) const { return leader_id == member_id; }
  bool is_pending(const std::string& member_id) const {
    return pending_members.count(member_id) != 0;
  }
  bool all_members_joined() const {
    return static_cast<int>(members.size()) == members_awaiting_join && pending_members.empty();
  }
  std::optional<std::string> static_member_id(const std::string& instance_id) const;
  // A request with this instance id but another member id comes from a
  // replaced (zombie) instance.
  bool is_static_member_fenced(const std::optional<std::string>& instance_id,
                               const std::string& member_id) const;
  // Kafka's supportsProtocols: an empty group takes any non-empty protocol
  // set; otherwise the type must match and one protocol must be supported
  // by every member.
  bool supports_protocols(const std::string& type,
                          const std::vector<std::pair<std::string, std::string>>& protocols) const;
  // The protocol every member supports that most members prefer.
  std::string select_protocol() const;
  int rebalance_timeout_ms() const;

  void add_member(GroupMember member);
  // Removes a member and every trace of it (leader moves to another member).
  void remove_member(const std::string& member_id);
  // Sets the member's join callback, keeping members_awaiting_join right.
  void set_join_callback(GroupMember& m, JoinCallback cb);
  // Kafka's updateMember: new protocols and timeouts, and the join
  // callback (replacing any older one, which is returned unanswered).
  JoinCallback update_member(GroupMember& m,
                             std::vector<std::pair<std::string, std::string>> protocols,
                             std::int32_t rebalance_timeout_ms, std::int32_t session_timeout_ms,
                             JoinCallback cb);
  // Runs and clears a waiting callback; false if there was none.
  bool invoke_join(GroupMember& m, JoinResult result);
  bool invoke_sync(GroupMember& m, SyncResult result);
  // Static membership: the instance's old member id becomes new_id.
  void replace_static_member(const std::string& instance_id, const std::string& old_id,
                             const std::string& new_id);

  // The leader's JoinGroup answer: every member and its metadata for the
  // chosen protocol.
  std::vector<JoinResult::Member> member_metadata() const;
  // What to persist for the current generation.
  GroupRecord to_record() const;

 private:
  std::string id_;
  std::uint64_t incarnation_;
  std::map<std::string, int> protocol_support_;  // protocol -> members supporting it
};

}  // namespace kgw
