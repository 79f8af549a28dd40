#include "src/group/group_coordinator.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include "common/clock.h"
#include "common/log.h"
#include "src/group/consumer_protocol.h"

namespace kgw {

namespace {

// Kafka maps storage failures of the offsets log to these for clients,
// which then retry (after finding the coordinator again).
constexpr ErrorCode kStorageFailure = ErrorCode::kCoordinatorNotAvailable;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

JoinResult join_error(ErrorCode e, std::string member_id = "") {
  JoinResult r;
  r.error = e;
  r.member_id = std::move(member_id);
  return r;
}

SyncResult sync_error(ErrorCode e) {
  SyncResult r;
  r.error = e;
  return r;
}

std::mt19937_64& rng() {
  static thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    return std::mt19937_64((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  }();
  return gen;
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

std::string GroupCoordinator::load() {
  std::string error = store_.load(
      [this](GroupRecord r) {
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
      },
      [this](const std::string& group_id, const std::string& topic, std::int32_t partition,
             CommittedOffset o) {
        Group* g = find(group_id);
        if (g == nullptr) g = &create(group_id);  // a group that only stores offsets
        g->offsets[{topic, partition}] = std::move(o);
      },
      [this](const std::string& group_id, std::int64_t producer_id, const std::string& topic,
             std::int32_t partition, CommittedOffset o) {
        Group* g = find(group_id);
        if (g == nullptr) g = &create(group_id);
        g->txn_offsets[producer_id][{topic, partition}] = std::move(o);
      });
  if (!error.empty()) return error;
  // Members of loaded groups get one session timeout to heartbeat again.
  for (auto& [id, g] : groups_) {
    for (auto& [mid, m] : g->members) schedule_heartbeat(*g, m);
  }
  if (!groups_.empty()) LOG_INFO("group", "loaded %zu groups", groups_.size());
  schedule_offset_expiry();
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

// --- Offsets ---------------------------------------------------------------

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

void GroupCoordinator::commit_offsets(CommitArgs args,
                                      std::function<void(std::vector<ErrorCode>)> done) {
  const std::size_t n = args.partitions.size();
  Group* g = find(args.group_id);
  if (g == nullptr) {
    if (args.generation_id >= 0) {
      // A member of a generation we do not know (we restarted, or the
      // group was deleted): it must rejoin.
      return done(std::vector<ErrorCode>(n, ErrorCode::kIllegalGeneration));
    }
    g = &create(args.group_id);
  }
  if (auto e = validate_commit(*g, args.generation_id, args.member_id, args.group_instance_id)) {
    return done(std::vector<ErrorCode>(n, *e));
  }
  switch (g->state) {
    case GroupState::kEmpty:
      break;
    case GroupState::kStable:
    case GroupState::kPreparingRebalance:
      // A commit during PreparingRebalance is still accepted: the member
      // learns of the rebalance from its next heartbeat.
      schedule_heartbeat(*g, g->members.at(args.member_id));
      break;
    case GroupState::kCompletingRebalance:
      // It has the new generation but not its assignment yet.
      return done(std::vector<ErrorCode>(n, ErrorCode::kRebalanceInProgress));
    case GroupState::kDead:
      return done(std::vector<ErrorCode>(n, ErrorCode::kCoordinatorNotAvailable));
  }
  store_offsets(*g, args, std::move(done));
}

void GroupCoordinator::store_offsets(Group& g, CommitArgs& args,
                                     std::function<void(std::vector<ErrorCode>)> done) {
  const std::int64_t now = wall_ms();
  std::vector<ErrorCode> errors(args.partitions.size(), ErrorCode::kNone);
  std::vector<std::pair<TopicPartitionKey, CommittedOffset>> accepted;
  OffsetsStore::Batch batch;
  for (std::size_t i = 0; i < args.partitions.size(); ++i) {
    auto& p = args.partitions[i];
    const std::string metadata = p.metadata.value_or("");
    if (metadata.size() > static_cast<std::size_t>(config_.max_metadata_bytes)) {
      errors[i] = ErrorCode::kOffsetMetadataTooLarge;
      continue;
    }
    CommittedOffset o;
    o.offset = p.offset;
    o.leader_epoch = p.leader_epoch;
    o.metadata = metadata;
    o.commit_timestamp = p.commit_timestamp >= 0 ? p.commit_timestamp : now;
    if (args.retention_time_ms >= 0) o.expire_timestamp = now + args.retention_time_ms;
    batch.put_offset(g.id(), p.topic, p.partition, o);
    accepted.emplace_back(TopicPartitionKey{p.topic, p.partition}, std::move(o));
  }
  if (batch.empty()) return done(std::move(errors));
  store_.write(std::move(batch), [this, gid = g.id(), inc = g.incarnation(),
                                  accepted = std::move(accepted), errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      LOG_WARN("group", "group %s: cannot store offsets: %s", gid.c_str(), error.c_str());
      for (auto& e : errors) {
        if (e == ErrorCode::kNone) e = kStorageFailure;
      }
      return done(std::move(errors));
    }
    Group* grp = find(gid, inc);
    if (grp == nullptr) {
      // Deleted while the write ran: the offsets were written after the
      // deletion, so they exist on disk; keep memory the same.
      grp = find(gid);
      if (grp == nullptr) grp = &create(gid);
    }
    for (auto& [key, o] : accepted) grp->offsets[key] = std::move(o);
    done(std::move(errors));
  });
}

void GroupCoordinator::commit_txn_offsets(TxnCommitArgs args,
                                          std::function<void(std::vector<ErrorCode>)> done) {
  const std::size_t n = args.partitions.size();
  Group* g = find(args.group_id);
  if (g == nullptr) g = &create(args.group_id);
  if (auto e =
          validate_commit(*g, args.generation_id, args.member_id, args.group_instance_id, true)) {
    return done(std::vector<ErrorCode>(n, *e));
  }
  const std::int64_t now = wall_ms();
  std::vector<ErrorCode> errors(n, ErrorCode::kNone);
  std::vector<std::pair<TopicPartitionKey, CommittedOffset>> accepted;
  OffsetsStore::Batch batch;
  for (std::size_t i = 0; i < n; ++i) {
    auto& p = args.partitions[i];
    const std::string metadata = p.metadata.value_or("");
    if (metadata.size() > static_cast<std::size_t>(config_.max_metadata_bytes)) {
      errors[i] = ErrorCode::kOffsetMetadataTooLarge;
      continue;
    }
    CommittedOffset o{p.offset, p.leader_epoch, metadata, now, -1};
    batch.put_txn_offset(g->id(), args.producer_id, p.topic, p.partition, o);
    accepted.emplace_back(TopicPartitionKey{p.topic, p.partition}, std::move(o));
  }
  if (batch.empty()) return done(std::move(errors));
  store_.write(std::move(batch), [this, gid = g->id(), pid = args.producer_id,
                                  accepted = std::move(accepted), errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      for (auto& e : errors) {
        if (e == ErrorCode::kNone) e = kStorageFailure;
      }
      return done(std::move(errors));
    }
    Group* grp = find(gid);
    if (grp == nullptr) grp = &create(gid);
    for (auto& [key, o] : accepted) grp->txn_offsets[pid][key] = std::move(o);
    done(std::move(errors));
  });
}

void GroupCoordinator::complete_txn_offsets(const std::string& group_id, std::int64_t producer_id,
                                            bool commit,
                                            std::function<void(const std::string&)> done) {
  Group* g = find(group_id);
  if (g == nullptr) return done("");
  auto it = g->txn_offsets.find(producer_id);
  if (it == g->txn_offsets.end()) return done("");
  OffsetsStore::Batch batch;
  for (const auto& [key, o] : it->second) {
    if (commit) batch.put_offset(group_id, key.first, key.second, o);
    batch.delete_txn_offset(group_id, producer_id, key.first, key.second);
  }
  store_.write(std::move(batch), [this, group_id, producer_id, commit,
                                  done = std::move(done)](const std::string& error) {
    Group* grp = find(group_id);
    if (error.empty() && grp != nullptr) {
      auto pending = grp->txn_offsets.find(producer_id);
      if (pending != grp->txn_offsets.end()) {
        if (commit) {
          for (auto& [key, o] : pending->second) grp->offsets[key] = std::move(o);
        }
        grp->txn_offsets.erase(pending);
      }
    }
    done(error);
  });
}

FetchOffsetsResult GroupCoordinator::fetch_offsets(
    const std::string& group_id,
    const std::optional<std::vector<std::pair<std::string, std::vector<std::int32_t>>>>& topics,
    bool require_stable) const {
  FetchOffsetsResult result;
  const Group* g = find(group_id);
  if (!topics) {
    if (g == nullptr) return result;
    for (const auto& [key, o] : g->offsets) {
      const ErrorCode e = require_stable && g->has_pending_txn_offset(key)
                              ? ErrorCode::kUnstableOffsetCommit
                              : ErrorCode::kNone;
      result.partitions.push_back(
          FetchedOffset{key.first, key.second, o.offset, o.leader_epoch, o.metadata, e});
    }
    return result;
  }
  for (const auto& [topic, partitions] : *topics) {
    for (std::int32_t p : partitions) {
      FetchedOffset f{topic, p, -1, -1, "", ErrorCode::kNone};
      if (g != nullptr && require_stable && g->has_pending_txn_offset({topic, p})) {
        f.error = ErrorCode::kUnstableOffsetCommit;
      } else if (g != nullptr) {
        auto it = g->offsets.find({topic, p});
        if (it != g->offsets.end()) {
          f.offset = it->second.offset;
          f.leader_epoch = it->second.leader_epoch;
          f.metadata = it->second.metadata;
        }
      }
      result.partitions.push_back(std::move(f));
    }
  }
  return result;
}

void GroupCoordinator::delete_offsets(const std::string& group_id,
                                      std::vector<std::pair<std::string, std::int32_t>> partitions,
                                      std::function<void(ErrorCode, std::vector<ErrorCode>)> done) {
  Group* g = find(group_id);
  if (g == nullptr || g->is(GroupState::kDead)) return done(ErrorCode::kGroupIdNotFound, {});
  std::vector<ErrorCode> errors(partitions.size(), ErrorCode::kNone);
  if (!g->is(GroupState::kEmpty)) {
    if (g->protocol_type != kConsumerProtocolType) return done(ErrorCode::kNonEmptyGroup, {});
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      const bool subscribed =
          !g->subscribed_topics || g->subscribed_topics->count(partitions[i].first) != 0;
      if (subscribed) errors[i] = ErrorCode::kGroupSubscribedToTopic;
    }
  }
  OffsetsStore::Batch batch;
  std::vector<TopicPartitionKey> removed;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (errors[i] != ErrorCode::kNone) continue;
    TopicPartitionKey key{partitions[i].first, partitions[i].second};
    if (g->offsets.count(key) == 0) continue;
    batch.delete_offset(g->id(), key.first, key.second);
    removed.push_back(std::move(key));
  }
  if (batch.empty()) return done(ErrorCode::kNone, std::move(errors));
  store_.write(std::move(batch), [this, gid = g->id(), inc = g->incarnation(),
                                  removed = std::move(removed), errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      LOG_WARN("group", "group %s: cannot delete offsets: %s", gid.c_str(), error.c_str());
      return done(kStorageFailure, {});
    }
    if (Group* grp = find(gid, inc)) {
      for (const auto& key : removed) grp->offsets.erase(key);
    }
    done(ErrorCode::kNone, std::move(errors));
  });
}

void GroupCoordinator::on_topic_deleted(const std::string& topic) {
  for (auto& [gid, g] : groups_) {
    OffsetsStore::Batch batch;
    std::vector<TopicPartitionKey> removed;
    for (const auto& [key, o] : g->offsets) {
      if (key.first != topic) continue;
      batch.delete_offset(gid, key.first, key.second);
      removed.push_back(key);
    }
    if (batch.empty()) continue;
    for (const auto& key : removed) g->offsets.erase(key);
    store_.write(std::move(batch), [gid = gid, topic](const std::string& error) {
      if (!error.empty()) {
        LOG_WARN("group", "group %s: cannot delete offsets of deleted topic %s: %s", gid.c_str(),
                 topic.c_str(), error.c_str());
      }
    });
  }
}

void GroupCoordinator::persist_group(Group& g, std::function<void(const std::string&)> done) {
  OffsetsStore::Batch batch;
  batch.put_group(g.to_record());
  store_.write(std::move(batch), std::move(done));
}

void GroupCoordinator::schedule_offset_expiry() {
  if (config_.offsets_retention_check_interval_ms <= 0) return;
  expiry_timer_ = timers_.schedule(
      static_cast<std::uint64_t>(config_.offsets_retention_check_interval_ms), [this] {
        expiry_timer_ = 0;
        expire_offsets();
        schedule_offset_expiry();
      });
}

void GroupCoordinator::expire_offsets() {
  // Kafka's GroupMetadata.removeExpiredOffsets, group by group.
  const std::int64_t now = wall_ms();
  const std::int64_t retention = config_.offsets_retention_ms;
  std::vector<std::string> dead;
  std::size_t expired_total = 0;
  for (auto& [gid, gp] : groups_) {
    Group& g = *gp;
    auto expired = [&](const CommittedOffset& o, std::int64_t base) {
      if (o.expire_timestamp >= 0) return now >= o.expire_timestamp;
      return now - base >= retention;
    };
    std::vector<TopicPartitionKey> gone;
    for (const auto& [key, o] : g.offsets) {
      bool out = false;
      if (g.protocol_type && g.is(GroupState::kEmpty)) {
        // Everyone left: offsets live `retention` past that moment.
        out = expired(o, g.state_timestamp >= 0 ? g.state_timestamp : o.commit_timestamp);
      } else if (g.protocol_type == kConsumerProtocolType && g.subscribed_topics &&
                 g.is(GroupState::kStable)) {
        // Active consumers: only offsets of topics nobody subscribes to.
        out = g.subscribed_topics->count(key.first) == 0 && expired(o, o.commit_timestamp);
      } else if (!g.protocol_type) {
        out = expired(o, o.commit_timestamp);  // a group that only stores offsets
      }
      if (out) gone.push_back(key);
    }
    const bool now_dead =
        g.is(GroupState::kEmpty) && g.offsets.size() == gone.size() && g.txn_offsets.empty();
    if (gone.empty() && !now_dead) continue;
    OffsetsStore::Batch batch;
    for (const auto& key : gone) {
      batch.delete_offset(gid, key.first, key.second);
      g.offsets.erase(key);
    }
    expired_total += gone.size();
    if (now_dead) {
      batch.delete_group(gid);
      dead.push_back(gid);
    }
    store_.write(std::move(batch), [gid = gid](const std::string& error) {
      if (!error.empty()) {
        LOG_WARN("group", "group %s: cannot remove expired offsets: %s", gid.c_str(),
                 error.c_str());
      }
    });
  }
  for (const auto& gid : dead) {
    if (Group* g = find(gid)) remove_group(*g);
  }
  if (expired_total != 0 || !dead.empty()) {
    LOG_INFO("group", "expired %zu offsets; removed %zu empty groups", expired_total, dead.size());
  }
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

void GroupCoordinator::delete_groups(std::vector<std::string> group_ids,
                                     std::function<void(std::vector<ErrorCode>)> done) {
  std::vector<ErrorCode> errors(group_ids.size(), ErrorCode::kNone);
  OffsetsStore::Batch batch;
  for (std::size_t i = 0; i < group_ids.size(); ++i) {
    Group* g = find(group_ids[i]);
    if (g == nullptr || g->is(GroupState::kDead)) {
      errors[i] = ErrorCode::kGroupIdNotFound;
      continue;
    }
    if (!g->is(GroupState::kEmpty)) {
      errors[i] = ErrorCode::kNonEmptyGroup;
      continue;
    }
    for (const auto& [key, o] : g->offsets) batch.delete_offset(g->id(), key.first, key.second);
    batch.delete_group(g->id());
    LOG_INFO("group", "group %s deleted (%zu offsets)", g->id().c_str(), g->offsets.size());
    remove_group(*g);
  }
  if (batch.empty()) return done(std::move(errors));
  store_.write(std::move(batch), [errors = std::move(errors),
                                  done = std::move(done)](const std::string& error) mutable {
    if (!error.empty()) {
      LOG_WARN("group", "cannot delete groups: %s", error.c_str());
      for (auto& e : errors) {
        if (e == ErrorCode::kNone) e = kStorageFailure;
      }
    }
    done(std::move(errors));
  });
}

}  // namespace kgw
