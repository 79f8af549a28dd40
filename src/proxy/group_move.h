// Consumer groups moving from the legacy cluster to kgw (issue 17: "group
// coordination for groups that consume only local topics moves to kgw at
// their next rebalance"): the state the group handlers share while a move
// runs (src/broker/handlers/group_move.cc runs it). Held by the Upstream.
//
// A group is `moving` from the JoinGroup that starts its move until its
// committed offsets are kgw's: meanwhile its requests are answered
// COORDINATOR_LOAD_IN_PROGRESS (retriable: the group is being loaded
// here), and the move waits until no OffsetCommit or TxnOffsetCommit it
// forwarded to the legacy coordinator is unanswered, so no commit lands
// there after the offsets were copied. A group that moved is `moved`:
// it lives here from then on even if it had nothing to copy.
//
// Threads: the loop thread only. Memory only: after a restart a moved
// group is kgw's by the usual rule (kgw has its offsets or knows it).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kgw {

class GroupMoves {
 public:
  bool moving(std::string_view group) const { return moving_.contains(group); }
  bool moved(std::string_view group) const { return moved_.contains(group); }
  // Starts a move; false if one is under way already.
  bool begin(const std::string& group) { return moving_.insert(group).second; }
  // The move ended: the group lives here (`moved`) or upstream still.
  void end(const std::string& group, bool moved) {
    moving_.erase(group);
    if (moved) moved_.insert(group);
  }

  // A commit of `group` forwarded to the legacy coordinator, and its answer.
  void commit_sent(const std::string& group) { ++commits_[group]; }
  void commit_answered(const std::string& group) {
    auto it = commits_.find(group);
    if (it == commits_.end() || --it->second != 0) return;
    commits_.erase(it);
    auto w = waiters_.find(group);
    if (w == waiters_.end()) return;
    auto fns = std::move(w->second);
    waiters_.erase(w);
    for (auto& fn : fns) fn();
  }
  // Runs `fn` once `group` has no forwarded commit unanswered (at once if
  // none is).
  void when_commits_answered(const std::string& group, std::function<void()> fn) {
    if (!commits_.contains(group)) return fn();
    waiters_[group].push_back(std::move(fn));
  }

 private:
  std::set<std::string, std::less<>> moving_;
  std::set<std::string, std::less<>> moved_;
  std::map<std::string, std::size_t, std::less<>> commits_;
  std::map<std::string, std::vector<std::function<void()>>, std::less<>> waiters_;
};

}  // namespace kgw
