#include "src/group/group_coordinator.h"

#include <algorithm>
#include <cctype>

#include "common/clock.h"
#include "common/log.h"
#include "src/group/consumer_protocol.h"

namespace kgw {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

GroupCoordinator::GroupCoordinator(uv_loop_t* loop, OffsetsStore& store,
                                   GroupCoordinatorConfig config)
    : store_(store), config_(config), timers_(loop) {}

GroupCoordinator::~GroupCoordinator() {
  stop();
}

// --- Groups ---------------------------------------------------------------

Group* GroupCoordinator::find(const std::string& group_id) const {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : it->second.get();
}

Group* GroupCoordinator::find(const std::string& group_id, std::uint64_t incarnation) const {
  Group* g = find(group_id);
  return g != nullptr && g->incarnation() == incarnation ? g : nullptr;
}

Group& GroupCoordinator::create(const std::string& group_id) {
  auto g = std::make_unique<Group>(group_id, next_incarnation_++);
  g->state_timestamp = wall_ms();
  Group& ref = *g;
  groups_[group_id] = std::move(g);
  return ref;
}

void GroupCoordinator::remove_group(Group& g) {
  g.join_timer = timers_.reset(g.join_timer);
  g.sync_timer = timers_.reset(g.sync_timer);
  for (auto& [id, m] : g.members) timers_.cancel(m.heartbeat_timer);
  for (auto& [id, t] : g.pending_member_timers) timers_.cancel(t);
  g.state = GroupState::kDead;
  groups_.erase(g.id());  // destroys g
}

void GroupCoordinator::transition(Group& g, GroupState to) {
  g.state = to;
  g.state_timestamp = wall_ms();
}

void GroupCoordinator::load_group(GroupRecord r, bool start_sessions) {
  if (Group* old = find(r.group_id)) remove_group(*old);
  Group& g = create(r.group_id);
  g.generation_id = r.generation_id;
  if (!r.protocol_type.empty()) g.protocol_type = r.protocol_type;
  g.protocol_name = r.protocol_name;
  g.state_timestamp = r.state_timestamp;
  for (auto& mr : r.members) {
    GroupMember m;
    m.id = mr.member_id;
    m.instance_id = mr.group_instance_id;
    m.client_id = mr.client_id;
    m.client_host = mr.client_host;
    m.rebalance_timeout_ms = mr.rebalance_timeout_ms;
    m.session_timeout_ms = mr.session_timeout_ms;
    m.protocol_type = r.protocol_type;
    m.protocols.emplace_back(r.protocol_name.value_or(""), std::move(mr.subscription));
    m.assignment = std::move(mr.assignment);
    g.add_member(std::move(m));
  }
  // add_member() picked the first member; the stored leader wins.
  if (r.leader && g.has(*r.leader)) g.leader_id = r.leader;
  g.state = g.members.empty() ? GroupState::kEmpty : GroupState::kStable;
  compute_subscribed_topics(g);
  // Members of a loaded group get one session timeout to heartbeat again.
  if (start_sessions) {
    for (auto& [mid, m] : g.members) schedule_heartbeat(g, m);
  }
}

std::size_t GroupCoordinator::unload_groups(
    const std::function<bool(const std::string& group_id)>& which) {
  std::vector<Group*> gone;
  for (auto& [id, g] : groups_) {
    if (which(id)) gone.push_back(g.get());
  }
  for (Group* g : gone) {
    // Members waiting for a JoinGroup or SyncGroup answer learn that this
    // broker no longer coordinates the group, and find the new one.
    std::vector<JoinCallback> joins;
    std::vector<SyncCallback> syncs;
    for (auto& [mid, m] : g->members) {
      if (m.join_callback) joins.push_back(std::move(m.join_callback));
      if (m.sync_callback) syncs.push_back(std::move(m.sync_callback));
      m.join_callback = nullptr;
      m.sync_callback = nullptr;
    }
    remove_group(*g);
    for (auto& j : joins) {
      JoinResult r;
      r.error = ErrorCode::kNotCoordinator;
      j(std::move(r));
    }
    for (auto& sc : syncs) {
      SyncResult r;
      r.error = ErrorCode::kNotCoordinator;
      sc(std::move(r));
    }
  }
  return gone.size();
}

std::string GroupCoordinator::load() {
  std::string error =
      store_.load([this](GroupRecord r) { load_group(std::move(r), /*start_sessions=*/false); },
                  // Offsets are the OffsetManager's, loaded by it (it creates the
                  // groups that only store offsets through ensure_group()).
                  [](const std::string&, const std::string&, std::int32_t, CommittedOffset) {});
  if (!error.empty()) return error;
  // Members of loaded groups get one session timeout to heartbeat again.
  for (auto& [id, g] : groups_) {
    for (auto& [mid, m] : g->members) schedule_heartbeat(*g, m);
  }
  if (!groups_.empty()) LOG_INFO("group", "loaded %zu groups", groups_.size());
  return "";
}

void GroupCoordinator::stop() {
  if (stopped_) return;
  stopped_ = true;
  timers_.stop();
  // Waiting answers hold requests of connections that are closing.
  for (auto& [id, g] : groups_) {
    for (auto& [mid, m] : g->members) {
      m.join_callback = nullptr;
      m.sync_callback = nullptr;
    }
    g->members_awaiting_join = 0;
  }
}

// --- The membership seam (for the OffsetManager) ----------------------------

std::optional<ErrorCode> GroupCoordinator::validate_commit(
    const Group& g, std::int32_t generation_id, const std::string& member_id,
    const std::optional<std::string>& instance_id, bool transactional) const {
  if (g.is(GroupState::kDead)) return ErrorCode::kCoordinatorNotAvailable;
  if (generation_id >= 0 || !member_id.empty() || instance_id) {
    if (instance_id) {
      auto current = g.static_member_id(*instance_id);
      if (!current) return ErrorCode::kUnknownMemberId;
      if (*current != member_id) return ErrorCode::kFencedInstanceId;
    }
    if (!g.has(member_id)) return ErrorCode::kUnknownMemberId;
    if (generation_id != g.generation_id) return ErrorCode::kIllegalGeneration;
    return std::nullopt;
  }
  // Generation -1 and no member: a client that uses the group only to
  // store offsets (kcat, admin tools, assign()-only consumers). Allowed
  // while nobody is a member; transactional producers always may.
  if (!transactional && !g.is(GroupState::kEmpty)) return ErrorCode::kUnknownMemberId;
  return std::nullopt;
}

ErrorCode GroupCoordinator::admit_commit(const std::string& group_id, std::int32_t generation_id,
                                         const std::string& member_id,
                                         const std::optional<std::string>& instance_id,
                                         bool transactional) {
  Group* g = find(group_id);
  if (g == nullptr) {
    if (!transactional && generation_id >= 0) {
      // A member of a generation we do not know (we restarted, or the
      // group was deleted): it must rejoin.
      return ErrorCode::kIllegalGeneration;
    }
    g = &create(group_id);
  }
  if (auto e = validate_commit(*g, generation_id, member_id, instance_id, transactional)) return *e;
  if (transactional) return ErrorCode::kNone;
  switch (g->state) {
    case GroupState::kEmpty:
      break;
    case GroupState::kStable:
    case GroupState::kPreparingRebalance:
      // A commit during PreparingRebalance is still accepted: the member
      // learns of the rebalance from its next heartbeat.
      schedule_heartbeat(*g, g->members.at(member_id));
      break;
    case GroupState::kCompletingRebalance:
      // It has the new generation but not its assignment yet.
      return ErrorCode::kRebalanceInProgress;
    case GroupState::kDead:
      return ErrorCode::kCoordinatorNotAvailable;
  }
  return ErrorCode::kNone;
}

ErrorCode GroupCoordinator::admit_offset_delete(
    const std::string& group_id, const std::vector<std::pair<std::string, std::int32_t>>& parts,
    std::vector<ErrorCode>& errors) const {
  const Group* g = find(group_id);
  if (g == nullptr || g->is(GroupState::kDead)) return ErrorCode::kGroupIdNotFound;
  if (g->is(GroupState::kEmpty)) return ErrorCode::kNone;
  if (g->protocol_type != kConsumerProtocolType) return ErrorCode::kNonEmptyGroup;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool subscribed =
        !g->subscribed_topics || g->subscribed_topics->count(parts[i].first) != 0;
    if (subscribed) errors[i] = ErrorCode::kGroupSubscribedToTopic;
  }
  return ErrorCode::kNone;
}

void GroupCoordinator::ensure_group(const std::string& group_id) {
  if (find(group_id) == nullptr) create(group_id);
}

void GroupCoordinator::for_each_retention(
    const std::function<void(const OffsetRetention&)>& f) const {
  for (const auto& [gid, gp] : groups_) {
    const Group& g = *gp;
    OffsetRetention r;
    r.group_id = gid;
    r.empty = g.is(GroupState::kEmpty);
    if (g.protocol_type && g.is(GroupState::kEmpty)) {
      r.rule = OffsetRetention::Rule::kSinceEmpty;
      r.empty_since = g.state_timestamp;
    } else if (g.protocol_type == kConsumerProtocolType && g.subscribed_topics &&
               g.is(GroupState::kStable)) {
      r.rule = OffsetRetention::Rule::kUnsubscribed;
      r.subscribed = &*g.subscribed_topics;
    } else if (!g.protocol_type) {
      r.rule = OffsetRetention::Rule::kSinceCommit;
    }
    f(r);
  }
}

void GroupCoordinator::remove_expired_group(const std::string& group_id) {
  if (Group* g = find(group_id)) remove_group(*g);
}

std::vector<ErrorCode> GroupCoordinator::remove_groups(const std::vector<std::string>& group_ids) {
  std::vector<ErrorCode> errors(group_ids.size(), ErrorCode::kNone);
  for (std::size_t i = 0; i < group_ids.size(); ++i) {
    Group* g = find(group_ids[i]);
    if (g == nullptr || g->is(GroupState::kDead)) {
      errors[i] = ErrorCode::kGroupIdNotFound;
    } else if (!g->is(GroupState::kEmpty)) {
      errors[i] = ErrorCode::kNonEmptyGroup;
    } else {
      remove_group(*g);
    }
  }
  return errors;
}

void GroupCoordinator::persist_group(Group& g, std::function<void(const std::string&)> done) {
  OffsetsStore::Batch batch;
  batch.put_group(g.to_record());
  store_.write(std::move(batch), std::move(done));
}

// --- Admin -----------------------------------------------------------------

GroupDescription GroupCoordinator::describe(const std::string& group_id) const {
  GroupDescription d;
  d.group_id = group_id;
  const Group* g = find(group_id);
  if (g == nullptr) {
    d.state = "Dead";
    return d;
  }
  d.state = group_state_name(g->state);
  d.protocol_type = g->protocol_type.value_or("");
  const bool stable = g->is(GroupState::kStable);
  if (stable) d.protocol = g->protocol_name.value_or("");
  for (const auto& [id, m] : g->members) {
    GroupDescription::Member dm;
    dm.member_id = id;
    dm.group_instance_id = m.instance_id;
    dm.client_id = m.client_id;
    dm.client_host = m.client_host;
    if (stable) {
      const std::string* metadata = m.metadata_for(d.protocol);
      if (metadata != nullptr) dm.metadata = *metadata;
      dm.assignment = m.assignment;
    }
    d.members.push_back(std::move(dm));
  }
  return d;
}

std::vector<GroupListing> GroupCoordinator::list(const std::vector<std::string>& states) const {
  std::vector<GroupListing> out;
  for (const auto& [gid, g] : groups_) {
    const char* state = group_state_name(g->state);
    if (!states.empty() && std::none_of(states.begin(), states.end(),
                                        [&](const std::string& s) { return iequals(s, state); })) {
      continue;
    }
    out.push_back(GroupListing{gid, g->protocol_type.value_or(""), state});
  }
  return out;
}

}  // namespace kgw
