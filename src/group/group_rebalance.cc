#include "src/group/group_coordinator.h"

#include <algorithm>
#include <set>

#include "common/log.h"
#include "src/group/consumer_protocol.h"
#include "src/group/group_coordinator_internal.h"

namespace kgw {

using namespace group_detail;

// --- Rebalance -------------------------------------------------------------

void GroupCoordinator::maybe_prepare_rebalance(Group& g, const std::string& reason) {
  if (g.is(GroupState::kStable) || g.is(GroupState::kCompletingRebalance) ||
      g.is(GroupState::kEmpty)) {
    prepare_rebalance(g, reason);
  }
}

void GroupCoordinator::prepare_rebalance(Group& g, const std::string& reason) {
  // Members waiting for their assignment must rejoin instead.
  if (g.is(GroupState::kCompletingRebalance)) {
    reset_and_propagate_assignment_error(g, ErrorCode::kRebalanceInProgress);
  }
  g.sync_timer = timers_.reset(g.sync_timer);
  g.join_timer = timers_.reset(g.join_timer);
  const bool initial = g.is(GroupState::kEmpty);
  LOG_INFO("group", "group %s: preparing to rebalance in state %s, generation %d (%s)",
           g.id().c_str(), group_state_name(g.state), g.generation_id, reason.c_str());
  transition(g, GroupState::kPreparingRebalance);
  if (initial) {
    g.initial_join_pending = true;
    g.new_member_added = false;
    const std::int64_t delay = config_.initial_rebalance_delay_ms;
    schedule_initial_join(g, delay, std::max<std::int64_t>(g.rebalance_timeout_ms() - delay, 0));
    return;
  }
  g.initial_join_pending = false;
  g.join_timer = timers_.schedule(static_cast<std::uint64_t>(g.rebalance_timeout_ms()),
                                  [this, gid = g.id(), inc = g.incarnation()] {
                                    if (Group* grp = find(gid, inc)) {
                                      grp->join_timer = 0;
                                      complete_join(*grp);
                                    }
                                  });
  try_complete_join(g);
}

void GroupCoordinator::schedule_initial_join(Group& g, std::int64_t delay_ms,
                                             std::int64_t remaining_ms) {
  // Kafka's InitialDelayedJoin: wait `delay`; while members keep arriving
  // and the rebalance timeout allows, wait again (at most `delay` more).
  g.join_timer = timers_.schedule(
      static_cast<std::uint64_t>(std::max<std::int64_t>(delay_ms, 0)),
      [this, gid = g.id(), inc = g.incarnation(), remaining_ms] {
        Group* grp = find(gid, inc);
        if (grp == nullptr) return;
        grp->join_timer = 0;
        if (grp->new_member_added && remaining_ms != 0) {
          grp->new_member_added = false;
          const std::int64_t delay =
              std::min<std::int64_t>(config_.initial_rebalance_delay_ms, remaining_ms);
          schedule_initial_join(*grp, delay, std::max<std::int64_t>(remaining_ms - delay, 0));
          return;
        }
        grp->initial_join_pending = false;
        complete_join(*grp);
      });
}

void GroupCoordinator::try_complete_join(Group& g) {
  if (g.is(GroupState::kPreparingRebalance) && !g.initial_join_pending && g.all_members_joined()) {
    complete_join(g);
  }
}

bool GroupCoordinator::maybe_elect_new_joined_leader(Group& g) {
  if (!g.leader_id) return false;
  auto leader = g.members.find(*g.leader_id);
  if (leader != g.members.end() && leader->second.awaiting_join()) return true;
  for (const auto& [id, m] : g.members) {
    if (m.awaiting_join()) {
      LOG_INFO("group", "group %s: leader %s did not rejoin; %s leads now", g.id().c_str(),
               g.leader_id->c_str(), id.c_str());
      g.leader_id = id;
      return true;
    }
  }
  g.leader_id.reset();
  return false;
}

void GroupCoordinator::complete_join(Group& g) {
  if (!g.is(GroupState::kPreparingRebalance)) return;
  g.join_timer = timers_.reset(g.join_timer);
  g.initial_join_pending = false;
  // Dynamic members that did not rejoin in time are gone; static members
  // stay (they keep their instance's place until their session expires).
  std::vector<std::string> gone;
  for (const auto& [id, m] : g.members) {
    if (!m.awaiting_join() && !m.instance_id) gone.push_back(id);
  }
  if (!gone.empty()) {
    std::string names;
    for (const auto& id : gone) names += (names.empty() ? "" : ", ") + id;
    LOG_INFO("group", "group %s: removing members that did not rejoin: %s", g.id().c_str(),
             names.c_str());
  }
  for (const auto& id : gone) {
    timers_.cancel(g.members.at(id).heartbeat_timer);
    g.remove_member(id);
  }

  if (!maybe_elect_new_joined_leader(g) && !g.members.empty()) {
    // Nobody rejoined: wait another rebalance timeout, until session
    // timeouts have removed the silent members.
    LOG_WARN("group", "group %s: no member rejoined; waiting another rebalance timeout",
             g.id().c_str());
    g.join_timer = timers_.schedule(static_cast<std::uint64_t>(g.rebalance_timeout_ms()),
                                    [this, gid = g.id(), inc = g.incarnation()] {
                                      if (Group* grp = find(gid, inc)) {
                                        grp->join_timer = 0;
                                        complete_join(*grp);
                                      }
                                    });
    return;
  }
  init_next_generation(g);
  if (g.is(GroupState::kEmpty)) {
    LOG_INFO("group", "group %s: generation %d is empty", g.id().c_str(), g.generation_id);
    persist_group(g, [gid = g.id()](const std::string& error) {
      if (!error.empty()) {
        LOG_WARN("group", "group %s: cannot persist the empty generation: %s", gid.c_str(),
                 error.c_str());
      }
    });
    return;
  }
  LOG_INFO("group", "group %s: generation %d with %zu members, protocol %s, leader %s",
           g.id().c_str(), g.generation_id, g.members.size(), g.protocol_name->c_str(),
           g.leader_id->c_str());
  std::vector<JoinResult::Member> metadata = g.member_metadata();
  for (auto& [id, m] : g.members) {
    JoinResult r = current_generation(g, id, false);
    if (g.is_leader(id)) r.members = metadata;
    g.invoke_join(m, std::move(r));
    m.is_new = false;
    schedule_heartbeat(g, m);
    g.pending_sync_members.insert(id);
  }
  // Members that never send SyncGroup are removed after the rebalance
  // timeout, and the group rebalances without them.
  g.sync_timer =
      timers_.schedule(static_cast<std::uint64_t>(g.rebalance_timeout_ms()),
                       [this, gid = g.id(), inc = g.incarnation(), generation = g.generation_id] {
                         Group* grp = find(gid, inc);
                         if (grp == nullptr) return;
                         grp->sync_timer = 0;
                         if (grp->generation_id == generation) on_sync_deadline(*grp);
                       });
}

void GroupCoordinator::init_next_generation(Group& g) {
  ++g.generation_id;
  if (!g.members.empty()) {
    g.protocol_name = g.select_protocol();
    transition(g, GroupState::kCompletingRebalance);
  } else {
    g.protocol_name.reset();
    transition(g, GroupState::kEmpty);
  }
  compute_subscribed_topics(g);
  g.pending_sync_members.clear();
}

void GroupCoordinator::compute_subscribed_topics(Group& g) {
  g.subscribed_topics.reset();
  if (g.protocol_type != kConsumerProtocolType) return;
  if (g.members.empty() || !g.protocol_name) {
    g.subscribed_topics.emplace();
    return;
  }
  std::set<std::string> all;
  for (const auto& [id, m] : g.members) {
    const std::string* metadata = m.metadata_for(*g.protocol_name);
    if (metadata == nullptr) return;
    auto topics = parse_subscription_topics(*metadata);
    if (!topics) return;  // unknown: treat every topic as subscribed
    all.insert(topics->begin(), topics->end());
  }
  g.subscribed_topics = std::move(all);
}

void GroupCoordinator::on_sync_deadline(Group& g) {
  if (!(g.is(GroupState::kCompletingRebalance) || g.is(GroupState::kStable)) ||
      g.pending_sync_members.empty()) {
    return;
  }
  std::string names;
  for (const auto& id : g.pending_sync_members) names += (names.empty() ? "" : ", ") + id;
  LOG_INFO("group", "group %s: removing members that did not send SyncGroup in time: %s",
           g.id().c_str(), names.c_str());
  const std::set<std::string> late = g.pending_sync_members;
  for (const auto& id : late) {
    auto it = g.members.find(id);
    if (it == g.members.end()) continue;
    timers_.cancel(it->second.heartbeat_timer);
    g.remove_member(id);
  }
  prepare_rebalance(g, "members did not send SyncGroup in time");
}

void GroupCoordinator::propagate_assignment(Group& g, ErrorCode error) {
  for (auto& [id, m] : g.members) {
    SyncResult r;
    r.error = error;
    if (error == ErrorCode::kNone) {
      r.protocol_type = g.protocol_type;
      r.protocol_name = g.protocol_name;
      r.assignment = m.assignment;
    }
    // Its session timer restarts: it may have run out while the member
    // waited for the leader or for the write.
    if (g.invoke_sync(m, std::move(r))) schedule_heartbeat(g, m);
  }
}

void GroupCoordinator::reset_and_propagate_assignment_error(Group& g, ErrorCode error) {
  for (auto& [id, m] : g.members) m.assignment.clear();
  propagate_assignment(g, error);
}

// --- SyncGroup -------------------------------------------------------------

void GroupCoordinator::sync(SyncArgs args, SyncCallback done) {
  if (args.group_id.empty()) return done(sync_error(ErrorCode::kInvalidGroupId));
  Group* gp = find(args.group_id);
  if (gp == nullptr) return done(sync_error(ErrorCode::kUnknownMemberId));
  Group& g = *gp;
  if (g.is(GroupState::kDead)) return done(sync_error(ErrorCode::kCoordinatorNotAvailable));
  if (g.is_static_member_fenced(args.group_instance_id, args.member_id)) {
    return done(sync_error(ErrorCode::kFencedInstanceId));
  }
  if (!g.has(args.member_id)) return done(sync_error(ErrorCode::kUnknownMemberId));
  if (args.generation_id != g.generation_id) return done(sync_error(ErrorCode::kIllegalGeneration));
  if ((args.protocol_type && g.protocol_type != args.protocol_type) ||
      (args.protocol_name && g.protocol_name != args.protocol_name)) {
    return done(sync_error(ErrorCode::kInconsistentGroupProtocol));
  }
  GroupMember& m = g.members.at(args.member_id);
  switch (g.state) {
    case GroupState::kEmpty:
      return done(sync_error(ErrorCode::kUnknownMemberId));
    case GroupState::kPreparingRebalance:
      return done(sync_error(ErrorCode::kRebalanceInProgress));
    case GroupState::kStable: {
      g.pending_sync_members.erase(m.id);
      SyncResult r;
      r.protocol_type = g.protocol_type;
      r.protocol_name = g.protocol_name;
      r.assignment = m.assignment;
      schedule_heartbeat(g, m);
      return done(std::move(r));
    }
    case GroupState::kDead:
      return done(sync_error(ErrorCode::kCoordinatorNotAvailable));
    case GroupState::kCompletingRebalance:
      break;
  }
  // A newer SyncGroup of the same member replaces a waiting one.
  if (m.sync_callback) m.sync_callback(sync_error(ErrorCode::kRebalanceInProgress));
  m.sync_callback = std::move(done);
  g.pending_sync_members.erase(m.id);
  if (!g.is_leader(m.id)) return;

  // The leader's assignment: members it left out get an empty one.
  std::map<std::string, std::string> assignment;
  for (auto& [member_id, bytes] : args.assignments) {
    if (g.has(member_id)) assignment[member_id] = std::move(bytes);
  }
  std::size_t missing = 0;
  for (const auto& [id, member] : g.members) {
    if (assignment.emplace(id, std::string()).second) ++missing;
  }
  LOG_INFO("group", "group %s: assignment from leader %s for generation %d (%zu members%s)",
           g.id().c_str(), m.id.c_str(), g.generation_id, g.members.size(),
           missing != 0 ? ", some without assignment" : "");
  GroupRecord record = g.to_record();
  for (auto& mr : record.members) mr.assignment = assignment[mr.member_id];
  OffsetsStore::Batch batch;
  batch.put_group(record);
  store_.write(std::move(batch), [this, gid = g.id(), inc = g.incarnation(),
                                  generation = g.generation_id,
                                  assignment = std::move(assignment)](const std::string& error) {
    Group* grp = find(gid, inc);
    // Another member may have joined meanwhile: only this generation's
    // CompletingRebalance takes the assignment.
    if (grp == nullptr || !grp->is(GroupState::kCompletingRebalance) ||
        grp->generation_id != generation) {
      return;
    }
    if (!error.empty()) {
      LOG_WARN("group", "group %s: cannot persist the assignment: %s", gid.c_str(), error.c_str());
      reset_and_propagate_assignment_error(*grp, kStorageFailure);
      maybe_prepare_rebalance(*grp, "the assignment could not be stored");
      return;
    }
    for (auto& [id, m] : grp->members) {
      auto it = assignment.find(id);
      m.assignment = it == assignment.end() ? std::string() : it->second;
    }
    transition(*grp, GroupState::kStable);
    propagate_assignment(*grp, ErrorCode::kNone);
  });
}

}  // namespace kgw
