#include "src/group/group.h"

#include <algorithm>

namespace kgw {

const char* group_state_name(GroupState s) {
  switch (s) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Unknown";
}

const std::string* GroupMember::metadata_for(std::string_view protocol) const {
  for (const auto& [name, metadata] : protocols) {
    if (name == protocol) return &metadata;
  }
  return nullptr;
}

std::optional<std::string> Group::static_member_id(const std::string& instance_id) const {
  auto it = static_members.find(instance_id);
  if (it == static_members.end()) return std::nullopt;
  return it->second;
}

bool Group::is_static_member_fenced(const std::optional<std::string>& instance_id,
                                    const std::string& member_id) const {
  if (!instance_id) return false;
  auto it = static_members.find(*instance_id);
  return it != static_members.end() && it->second != member_id;
}

bool Group::supports_protocols(
    const std::string& type,
    const std::vector<std::pair<std::string, std::string>>& protocols) const {
  if (is(GroupState::kEmpty)) return !type.empty() && !protocols.empty();
  if (protocol_type != type) return false;
  // Supported by every member; with no member (the last one left while
  // the group waits out a rebalance), by all of none, as Kafka counts.
  for (const auto& [name, metadata] : protocols) {
    auto it = protocol_support_.find(name);
    const int support = it != protocol_support_.end() ? it->second : 0;
    if (support == static_cast<int>(members.size())) return true;
  }
  return false;
}

std::string Group::select_protocol() const {
  // Candidates: supported by every member. Each member votes for the first
  // candidate in its own order of preference; most votes wins, ties going
  // to the protocol that comes first in the voters' lists.
  std::vector<std::string> candidates;
  for (const auto& [name, count] : protocol_support_) {
    if (count == static_cast<int>(members.size())) candidates.push_back(name);
  }
  std::vector<std::pair<std::string, int>> votes;  // in order of first vote
  for (const auto& [id, m] : members) {
    for (const auto& protocol : m.protocols) {
      const std::string& name = protocol.first;
      if (std::find(candidates.begin(), candidates.end(), name) == candidates.end()) continue;
      auto v =
          std::find_if(votes.begin(), votes.end(), [&](const auto& p) { return p.first == name; });
      if (v == votes.end()) {
        votes.emplace_back(name, 1);
      } else {
        ++v->second;
      }
      break;
    }
  }
  if (votes.empty()) return candidates.empty() ? std::string() : candidates.front();
  return std::max_element(votes.begin(), votes.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

int Group::rebalance_timeout_ms() const {
  int t = 0;
  for (const auto& [id, m] : members) t = std::max(t, m.rebalance_timeout_ms);
  return t;
}

void Group::add_member(GroupMember member) {
  if (members.empty()) protocol_type = member.protocol_type;
  if (!leader_id) leader_id = member.id;
  if (member.instance_id) static_members[*member.instance_id] = member.id;
  for (const auto& [name, metadata] : member.protocols) ++protocol_support_[name];
  if (member.awaiting_join()) ++members_awaiting_join;
  pending_members.erase(member.id);
  const std::string id = member.id;
  members.emplace(id, std::move(member));
}

void Group::remove_member(const std::string& member_id) {
  auto it = members.find(member_id);
  if (it != members.end()) {
    for (const auto& [name, metadata] : it->second.protocols) {
      if (--protocol_support_[name] == 0) protocol_support_.erase(name);
    }
    if (it->second.awaiting_join()) --members_awaiting_join;
    if (it->second.instance_id) {
      auto s = static_members.find(*it->second.instance_id);
      if (s != static_members.end() && s->second == member_id) static_members.erase(s);
    }
    members.erase(it);
  }
  if (is_leader(member_id)) {
    leader_id = members.empty() ? std::nullopt : std::optional<std::string>(members.begin()->first);
  }
  pending_members.erase(member_id);
  pending_sync_members.erase(member_id);
}

void Group::set_join_callback(GroupMember& m, JoinCallback cb) {
  if (!m.awaiting_join() && cb) ++members_awaiting_join;
  if (m.awaiting_join() && !cb) --members_awaiting_join;
  m.join_callback = std::move(cb);
}

JoinCallback Group::update_member(GroupMember& m,
                                  std::vector<std::pair<std::string, std::string>> protocols,
                                  std::int32_t rebalance_timeout_ms,
                                  std::int32_t session_timeout_ms, JoinCallback cb) {
  for (const auto& [name, metadata] : m.protocols) {
    if (--protocol_support_[name] == 0) protocol_support_.erase(name);
  }
  m.protocols = std::move(protocols);
  for (const auto& [name, metadata] : m.protocols) ++protocol_support_[name];
  m.rebalance_timeout_ms = rebalance_timeout_ms;
  m.session_timeout_ms = session_timeout_ms;
  JoinCallback old = std::move(m.join_callback);
  m.join_callback = nullptr;
  if (old) --members_awaiting_join;
  set_join_callback(m, std::move(cb));
  return old;
}

bool Group::invoke_join(GroupMember& m, JoinResult result) {
  if (!m.awaiting_join()) return false;
  JoinCallback cb = std::move(m.join_callback);
  m.join_callback = nullptr;
  --members_awaiting_join;
  cb(std::move(result));
  return true;
}

bool Group::invoke_sync(GroupMember& m, SyncResult result) {
  if (!m.awaiting_sync()) return false;
  SyncCallback cb = std::move(m.sync_callback);
  m.sync_callback = nullptr;
  cb(std::move(result));
  return true;
}

void Group::replace_static_member(const std::string& instance_id, const std::string& old_id,
                                  const std::string& new_id) {
  auto node = members.extract(old_id);
  if (node.empty()) return;
  GroupMember& m = node.mapped();
  // Whoever waits under the old id is a zombie now: fence it at once.
  if (m.awaiting_join()) {
    JoinResult r;
    r.error = ErrorCode::kFencedInstanceId;
    r.member_id = old_id;
    invoke_join(m, std::move(r));
  }
  if (m.awaiting_sync()) {
    SyncResult r;
    r.error = ErrorCode::kFencedInstanceId;
    invoke_sync(m, std::move(r));
  }
  m.id = new_id;
  node.key() = new_id;
  members.insert(std::move(node));
  if (is_leader(old_id)) leader_id = new_id;
  static_members[instance_id] = new_id;
  if (pending_sync_members.erase(old_id) != 0) pending_sync_members.insert(new_id);
}

std::vector<JoinResult::Member> Group::member_metadata() const {
  std::vector<JoinResult::Member> out;
  out.reserve(members.size());
  for (const auto& [id, m] : members) {
    const std::string* metadata = protocol_name ? m.metadata_for(*protocol_name) : nullptr;
    out.push_back(JoinResult::Member{id, m.instance_id, metadata ? *metadata : std::string()});
  }
  return out;
}

GroupRecord Group::to_record() const {
  GroupRecord r;
  r.group_id = id_;
  r.protocol_type = protocol_type.value_or("");
  r.generation_id = generation_id;
  r.protocol_name = protocol_name;
  r.leader = leader_id;
  r.state_timestamp = state_timestamp;
  for (const auto& [id, m] : members) {
    GroupMemberRecord mr;
    mr.member_id = id;
    mr.group_instance_id = m.instance_id;
    mr.client_id = m.client_id;
    mr.client_host = m.client_host;
    mr.rebalance_timeout_ms = m.rebalance_timeout_ms;
    mr.session_timeout_ms = m.session_timeout_ms;
    const std::string* metadata = protocol_name ? m.metadata_for(*protocol_name) : nullptr;
    if (metadata != nullptr) mr.subscription = *metadata;
    mr.assignment = m.assignment;
    r.members.push_back(std::move(mr));
  }
  return r;
}

}  // namespace kgw
