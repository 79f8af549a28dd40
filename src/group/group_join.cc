#include "src/group/group_coordinator.h"

#include <cstdio>
#include <random>

#include "common/log.h"
#include "src/group/group_coordinator_internal.h"

namespace kgw {

using namespace group_detail;

namespace {

std::mt19937_64& rng() {
  static thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    return std::mt19937_64((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  }();
  return gen;
}

}  // namespace

// --- JoinGroup ------------------------------------------------------------

void GroupCoordinator::join(JoinArgs args, JoinCallback done) {
  if (args.group_id.empty()) return done(join_error(ErrorCode::kInvalidGroupId, args.member_id));
  if (args.session_timeout_ms < config_.min_session_timeout_ms ||
      args.session_timeout_ms > config_.max_session_timeout_ms) {
    return done(join_error(ErrorCode::kInvalidSessionTimeout, args.member_id));
  }
  const bool unknown_member = args.member_id.empty();
  Group* g = find(args.group_id);
  if (g == nullptr) {
    // A known member id for a group we do not have: it must start over.
    if (!unknown_member) return done(join_error(ErrorCode::kUnknownMemberId, args.member_id));
    g = &create(args.group_id);
  }
  if (!accept_joining_member(*g, args.member_id)) {
    // Kafka removes the member so that the group shrinks to its maximum.
    if (g->has(args.member_id)) remove_member_and_update(*g, args.member_id, "group is full");
    return done(join_error(ErrorCode::kGroupMaxSizeReached, args.member_id));
  }
  if (unknown_member) {
    join_new_member(*g, args, done);
  } else {
    join_current_member(*g, args, done);
  }
  // The group may have been removed meanwhile (never here, but be safe).
  g = find(args.group_id);
  if (g != nullptr && g->is(GroupState::kPreparingRebalance)) try_complete_join(*g);
}

bool GroupCoordinator::accept_joining_member(const Group& g, const std::string& member_id) const {
  switch (g.state) {
    case GroupState::kEmpty:
    case GroupState::kDead:
      return true;
    case GroupState::kPreparingRebalance: {
      auto it = g.members.find(member_id);
      return (it != g.members.end() && it->second.awaiting_join()) ||
             g.members_awaiting_join < config_.max_size;
    }
    case GroupState::kCompletingRebalance:
    case GroupState::kStable:
      return g.has(member_id) || static_cast<std::int64_t>(g.members.size()) < config_.max_size;
  }
  return false;
}

std::string GroupCoordinator::new_member_id(const std::string& client_id,
                                            const std::optional<std::string>& instance_id) {
  // Kafka's form: "<client id or instance id>-<random UUID>".
  const std::uint64_t a = rng()();
  const std::uint64_t b = rng()();
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0x0fff),
                static_cast<unsigned>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return (instance_id ? *instance_id : client_id) + "-" + uuid;
}

JoinResult GroupCoordinator::current_generation(const Group& g, const std::string& member_id,
                                                bool with_members) const {
  JoinResult r;
  r.member_id = member_id;
  r.generation_id = g.generation_id;
  r.protocol_type = g.protocol_type;
  r.protocol_name = g.protocol_name;
  r.leader = g.leader_id.value_or("");
  if (with_members) r.members = g.member_metadata();
  return r;
}

void GroupCoordinator::join_new_member(Group& g, JoinArgs& args, JoinCallback& done) {
  if (g.is(GroupState::kDead)) return done(join_error(ErrorCode::kCoordinatorNotAvailable));
  if (!g.supports_protocols(args.protocol_type, args.protocols)) {
    return done(join_error(ErrorCode::kInconsistentGroupProtocol));
  }
  const std::string id = new_member_id(args.client_id, args.group_instance_id);
  if (args.group_instance_id) {
    if (auto old_id = g.static_member_id(*args.group_instance_id)) {
      LOG_INFO("group",
               "group %s: static member %s (instance %s) rejoins in state %s; it replaces %s",
               g.id().c_str(), id.c_str(), args.group_instance_id->c_str(),
               group_state_name(g.state), old_id->c_str());
      update_static_member_and_rebalance(g, args, *old_id, id, std::move(done));
    } else {
      add_member_and_rebalance(g, args, id, std::move(done));
    }
    return;
  }
  if (args.require_known_member_id) {
    // JoinGroup v4+: hand out the id first; the member joins with it, so a
    // client that never comes back leaves only a pending entry that expires.
    g.pending_members.insert(id);
    schedule_pending_member(g, id, args.session_timeout_ms);
    return done(join_error(ErrorCode::kMemberIdRequired, id));
  }
  add_member_and_rebalance(g, args, id, std::move(done));
}

void GroupCoordinator::join_current_member(Group& g, JoinArgs& args, JoinCallback& done) {
  if (g.is(GroupState::kDead)) return done(join_error(ErrorCode::kCoordinatorNotAvailable));
  if (!g.supports_protocols(args.protocol_type, args.protocols)) {
    return done(join_error(ErrorCode::kInconsistentGroupProtocol, args.member_id));
  }
  if (g.is_pending(args.member_id)) {
    // The second half of the v4+ handshake (pending members are dynamic).
    g.pending_member_timers.erase(args.member_id);
    add_member_and_rebalance(g, args, args.member_id, std::move(done));
    return;
  }
  const bool instance_unknown =
      args.group_instance_id && !g.static_member_id(*args.group_instance_id);
  if (g.is_static_member_fenced(args.group_instance_id, args.member_id)) {
    return done(join_error(ErrorCode::kFencedInstanceId, args.member_id));
  }
  if (!g.has(args.member_id) || instance_unknown) {
    return done(join_error(ErrorCode::kUnknownMemberId, args.member_id));
  }
  GroupMember& m = g.members.at(args.member_id);
  switch (g.state) {
    case GroupState::kPreparingRebalance:
      update_member_and_rebalance(g, m, args, std::move(done), "member rejoins during rebalance");
      return;
    case GroupState::kCompletingRebalance:
      if (m.matches(args.protocols)) {
        // It missed its JoinGroup answer: give it the current generation.
        return done(current_generation(g, m.id, g.is_leader(m.id)));
      }
      update_member_and_rebalance(g, m, args, std::move(done), "member changed its metadata");
      return;
    case GroupState::kStable:
      if (g.is_leader(m.id)) {
        // The leader rejoins to have the group rebalance, e.g. because the
        // partitions of a subscribed topic changed.
        update_member_and_rebalance(g, m, args, std::move(done), "leader rejoins");
      } else if (!m.matches(args.protocols)) {
        update_member_and_rebalance(g, m, args, std::move(done), "member changed its metadata");
      } else {
        done(current_generation(g, m.id, false));
      }
      return;
    case GroupState::kEmpty:
    case GroupState::kDead:
      return done(join_error(ErrorCode::kUnknownMemberId, args.member_id));
  }
}

void GroupCoordinator::add_member_and_rebalance(Group& g, JoinArgs& args,
                                                const std::string& member_id, JoinCallback done) {
  GroupMember m;
  m.id = member_id;
  m.instance_id = args.group_instance_id;
  m.client_id = args.client_id;
  m.client_host = args.client_host;
  m.session_timeout_ms = args.session_timeout_ms;
  m.rebalance_timeout_ms = args.rebalance_timeout_ms;
  m.protocol_type = args.protocol_type;
  m.protocols = std::move(args.protocols);
  m.join_callback = std::move(done);
  m.is_new = true;
  if (g.is(GroupState::kPreparingRebalance) && g.generation_id == 0) g.new_member_added = true;
  g.add_member(std::move(m));
  // Its session timeout does not apply while it waits in JoinGroup (it
  // cannot heartbeat); the new-member timeout bounds that wait.
  schedule_heartbeat(g, g.members.at(member_id), config_.new_member_join_timeout_ms);
  maybe_prepare_rebalance(g, "adding member " + member_id +
                                 (args.reason.empty() ? "" : "; client reason: " + args.reason));
}

void GroupCoordinator::update_member_and_rebalance(Group& g, GroupMember& m, JoinArgs& args,
                                                   JoinCallback done, const std::string& reason) {
  JoinCallback older = g.update_member(m, std::move(args.protocols), args.rebalance_timeout_ms,
                                       args.session_timeout_ms, std::move(done));
  // The same member joined again while an older JoinGroup of it waits (its
  // client gave up on that one): answer the older one so that its
  // connection is not held up behind it.
  if (older) older(join_error(ErrorCode::kRebalanceInProgress, m.id));
  maybe_prepare_rebalance(
      g, reason + " " + m.id + (args.reason.empty() ? "" : "; client reason: " + args.reason));
}

void GroupCoordinator::update_static_member_and_rebalance(Group& g, JoinArgs& args,
                                                          const std::string& old_id,
                                                          const std::string& new_id,
                                                          JoinCallback done) {
  const std::string instance_id = *args.group_instance_id;
  GroupMember& old_member = g.members.at(old_id);
  const auto old_protocols = old_member.protocols;
  const std::int32_t old_rebalance_timeout = old_member.rebalance_timeout_ms;
  const std::int32_t old_session_timeout = old_member.session_timeout_ms;
  timers_.cancel(old_member.heartbeat_timer);
  old_member.heartbeat_timer = 0;
  // Fences whoever still waits under the old id.
  g.replace_static_member(instance_id, old_id, new_id);
  GroupMember& m = g.members.at(new_id);
  m.client_id = args.client_id;
  m.client_host = args.client_host;
  schedule_heartbeat(g, m);
  JoinCallback older = g.update_member(m, std::move(args.protocols), args.rebalance_timeout_ms,
                                       args.session_timeout_ms, std::move(done));
  if (older) older(join_error(ErrorCode::kFencedInstanceId, old_id));

  switch (g.state) {
    case GroupState::kStable: {
      if (g.protocol_name && g.select_protocol() == *g.protocol_name) {
        // Nothing the assignment depends on changed: no rebalance. Persist
        // the new member id, then answer with the current generation; its
        // old assignment stands (SyncGroup returns it). A returning leader
        // gets the members but is told to skip the assignment (v9+).
        persist_group(g, [this, gid = g.id(), inc = g.incarnation(), instance_id, old_id, new_id,
                          old_protocols, old_rebalance_timeout,
                          old_session_timeout](const std::string& error) {
          Group* grp = find(gid, inc);
          if (grp == nullptr || !grp->has(new_id)) return;
          GroupMember& mm = grp->members.at(new_id);
          if (!mm.awaiting_join()) return;  // a rebalance answered it meanwhile
          if (!error.empty()) {
            LOG_WARN("group", "group %s: cannot persist static member %s: %s", gid.c_str(),
                     instance_id.c_str(), error.c_str());
            JoinCallback cb = grp->update_member(mm, old_protocols, old_rebalance_timeout,
                                                 old_session_timeout, nullptr);
            timers_.cancel(mm.heartbeat_timer);
            mm.heartbeat_timer = 0;
            grp->replace_static_member(instance_id, new_id, old_id);
            schedule_heartbeat(*grp, grp->members.at(old_id));
            if (cb) cb(join_error(kStorageFailure, new_id));
            return;
          }
          const bool leader = grp->is_leader(new_id);
          JoinResult r = current_generation(*grp, new_id, leader);
          r.skip_assignment = leader;
          grp->invoke_join(mm, std::move(r));
        });
      } else {
        maybe_prepare_rebalance(g, "static member " + instance_id + " changed its protocols");
      }
      return;
    }
    case GroupState::kCompletingRebalance:
      // Members already have this generation's answer: make sure the new
      // instance is in the next one.
      maybe_prepare_rebalance(g, "static member " + instance_id + " rejoins");
      return;
    case GroupState::kPreparingRebalance:
      return;  // it joins with the others
    case GroupState::kEmpty:
    case GroupState::kDead: {
      // Not reachable: static members exist only while the group has members.
      JoinCallback cb =
          g.update_member(m, m.protocols, m.rebalance_timeout_ms, m.session_timeout_ms, nullptr);
      if (cb) cb(join_error(ErrorCode::kUnknownMemberId, new_id));
      return;
    }
  }
}

}  // namespace kgw
