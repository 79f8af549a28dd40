// FakeKv: an in-memory etcd (KvApi) for unit tests of what is written
// against KvApi (the etcd metadata log, the controller). It keeps etcd's
// semantics that those units rely on: one revision per write (a txn's
// writes share one), create/mod revisions and versions, compares, leases
// whose expiry deletes their keys in one revision, watches that replay
// history from a start revision and then follow, compaction (a watch from
// before it ends kCompacted) and an outage switch (every call fails
// kUnavailable, watches end). Real-etcd behaviour is covered by the
// etcd client's own tests against /usr/bin/etcd.
//
// Threads: the loop thread; callbacks are queued and run from a uv_idle
// handle, never inside the call, as the real client's.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "src/cluster/etcd/etcd_types.h"

namespace kgw::etcd {

class FakeKv : public KvApi {
 public:
  explicit FakeKv(uv_loop_t* loop) : idle_(new uv_idle_t) {
    uv_idle_init(loop, idle_);
    idle_->data = this;
  }
  // The handle is freed by the loop once closed, so the fake may go
  // before the loop runs again.
  ~FakeKv() override {
    uv_idle_stop(idle_);
    uv_close(reinterpret_cast<uv_handle_t*>(idle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
  }
  FakeKv(const FakeKv&) = delete;
  FakeKv& operator=(const FakeKv&) = delete;

  // --- test controls ---
  std::int64_t revision() const { return revision_; }
  const std::map<std::string, KeyValue>& data() const { return kvs_; }
  // The lease lapses: its keys are deleted in one revision.
  void expire_lease(std::int64_t id) {
    auto it = leases_.find(id);
    if (it == leases_.end()) return;
    std::vector<Event> events;
    const std::set<std::string> keys = it->second;  // erase_key changes the set
    for (const std::string& key : keys) erase_key(key, events);
    leases_.erase(id);
    commit(std::move(events));
  }
  bool lease_alive(std::int64_t id) const { return leases_.count(id) != 0; }
  void compact(std::int64_t revision) { compacted_ = revision; }
  // While down, every call fails kUnavailable and open watches end.
  void set_down(bool down) {
    down_ = down;
    if (!down) return;
    auto watches = std::move(watches_);
    watches_.clear();
    for (auto& [id, w] : watches) {
      post([end = w.on_end] { end(Status{Status::kUnavailable, "etcd is down (test)", 0}); });
    }
  }
  // Count of txns that were refused by their compares (succeeded=false).
  int failed_txns() const { return failed_txns_; }

  // --- KvApi ---
  void range(std::string key, std::string range_end, std::int64_t revision,
             RangeDone done) override {
    if (down_) return fail(std::move(done), RangeResult{});
    if (revision != 0) {
      // History is not kept per key; only "latest" reads are served.
      post([done = std::move(done)] {
        done(Status{Status::kFailed, "FakeKv serves latest reads only", 0}, RangeResult{});
      });
      return;
    }
    RangeResult r = read(key, range_end);
    post([done = std::move(done), r = std::move(r)]() mutable { done(Status{}, std::move(r)); });
  }

  void txn(TxnRequest request, TxnDone done) override {
    if (down_) return fail(std::move(done), TxnResult{});
    TxnResult result;
    result.succeeded = true;
    for (const Compare& c : request.compare) {
      if (!holds(c)) result.succeeded = false;
    }
    if (!result.succeeded) ++failed_txns_;
    std::vector<Event> events;
    for (const Op& op : result.succeeded ? request.success : request.failure) {
      if (op.kind == Op::kRange) {
        result.ranges.push_back(read(op.key, op.range_end));
      } else if (op.kind == Op::kPut) {
        put_key(op.key, op.value, op.lease, events);
      } else {
        for (const std::string& k : keys_in(op.key, op.range_end)) erase_key(k, events);
      }
    }
    commit(std::move(events));
    result.revision = revision_;
    for (RangeResult& r : result.ranges) r.revision = revision_;
    post([done = std::move(done), result = std::move(result)]() mutable {
      done(Status{}, std::move(result));
    });
  }

  void put(std::string key, std::string value, std::int64_t lease, PutDone done) override {
    if (down_) return fail(std::move(done), std::int64_t{0});
    if (lease != 0 && leases_.count(lease) == 0) {
      post([done = std::move(done), lease] {
        done(Status{Status::kFailed, "lease " + std::to_string(lease) + " not found", 0}, 0);
      });
      return;
    }
    std::vector<Event> events;
    put_key(key, value, lease, events);
    commit(std::move(events));
    post([done = std::move(done), rev = revision_] { done(Status{}, rev); });
  }

  void lease_grant(std::int64_t ttl_seconds, GrantDone done) override {
    if (down_) {
      post([done = std::move(done)] { done(Status{Status::kUnavailable, "down", 0}, 0, 0); });
      return;
    }
    std::int64_t id = next_lease_++;
    leases_[id];
    post([done = std::move(done), id, ttl_seconds] { done(Status{}, id, ttl_seconds); });
  }

  void lease_keepalive(std::int64_t id, KeepAliveDone done) override {
    if (down_) return fail(std::move(done), std::int64_t{0});
    std::int64_t ttl = leases_.count(id) != 0 ? 10 : 0;
    post([done = std::move(done), ttl] { done(Status{}, ttl); });
  }

  void lease_revoke(std::int64_t id, RevokeDone done) override {
    if (down_) {
      post([done = std::move(done)] { done(Status{Status::kUnavailable, "down", 0}); });
      return;
    }
    expire_lease(id);
    post([done = std::move(done)] { done(Status{}); });
  }

  std::uint64_t watch(std::string key, std::string range_end, std::int64_t start_revision,
                      OnEvents on_events, OnEnd on_end) override {
    std::uint64_t id = next_watch_++;
    if (down_) {
      post([on_end = std::move(on_end)] { on_end(Status{Status::kUnavailable, "down", 0}); });
      return id;
    }
    if (start_revision != 0 && start_revision <= compacted_) {
      post([on_end = std::move(on_end), c = compacted_] {
        on_end(Status{Status::kCompacted, "required revision has been compacted", c});
      });
      return id;
    }
    Watch w{std::move(key), std::move(range_end), std::move(on_events), std::move(on_end)};
    // Replay what happened from start_revision on, then follow.
    for (const auto& [rev, events] : history_) {
      if (start_revision != 0 && rev >= start_revision) deliver(id, w, rev, events);
    }
    watches_.emplace(id, std::move(w));
    return id;
  }

  void cancel_watch(std::uint64_t id) override {
    watches_.erase(id);
    cancelled_.insert(id);
  }

 private:
  struct Watch {
    std::string key;
    std::string range_end;
    OnEvents on_events;
    OnEnd on_end;
  };

  static bool in_range(const std::string& k, const std::string& key, const std::string& end) {
    if (end.empty()) return k == key;
    if (end == std::string(1, '\0')) return k >= key;
    return k >= key && k < end;
  }
  std::vector<std::string> keys_in(const std::string& key, const std::string& end) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : kvs_) {
      if (in_range(k, key, end)) out.push_back(k);
    }
    return out;
  }
  RangeResult read(const std::string& key, const std::string& end) const {
    RangeResult r;
    r.revision = revision_;
    for (const std::string& k : keys_in(key, end)) r.kvs.push_back(kvs_.at(k));
    return r;
  }
  bool holds(const Compare& c) const {
    auto it = kvs_.find(c.key);
    const KeyValue none;
    const KeyValue& kv = it == kvs_.end() ? none : it->second;
    if (c.target == Compare::kValue) {
      if (it == kvs_.end()) return false;
      int cmp = kv.value.compare(c.value);
      return result_holds(c.result, cmp);
    }
    std::int64_t have = c.target == Compare::kVersion  ? kv.version
                        : c.target == Compare::kCreate ? kv.create_revision
                        : c.target == Compare::kMod    ? kv.mod_revision
                                                       : kv.lease;
    return result_holds(c.result, have < c.number ? -1 : have > c.number ? 1 : 0);
  }
  static bool result_holds(Compare::Result r, int cmp) {
    switch (r) {
      case Compare::kEqual:
        return cmp == 0;
      case Compare::kGreater:
        return cmp > 0;
      case Compare::kLess:
        return cmp < 0;
      case Compare::kNotEqual:
        return cmp != 0;
    }
    return false;
  }
  void put_key(const std::string& key, const std::string& value, std::int64_t lease,
               std::vector<Event>& events) {
    const std::int64_t rev = revision_ + 1;
    KeyValue& kv = kvs_[key];
    if (kv.version == 0) kv.create_revision = rev;
    if (kv.lease != 0 && kv.lease != lease) leases_[kv.lease].erase(key);
    kv.key = key;
    kv.value = value;
    kv.mod_revision = rev;
    ++kv.version;
    kv.lease = lease;
    if (lease != 0) leases_[lease].insert(key);
    events.push_back(Event{Event::kPut, kv});
  }
  void erase_key(const std::string& key, std::vector<Event>& events) {
    auto it = kvs_.find(key);
    if (it == kvs_.end()) return;
    if (it->second.lease != 0) {
      auto l = leases_.find(it->second.lease);
      if (l != leases_.end()) l->second.erase(key);
    }
    Event e;
    e.type = Event::kDelete;
    e.kv.key = key;
    e.kv.mod_revision = revision_ + 1;
    events.push_back(std::move(e));
    kvs_.erase(it);
  }
  void commit(std::vector<Event> events) {
    if (events.empty()) return;
    ++revision_;
    history_.emplace_back(revision_, events);
    for (auto& [id, w] : watches_) deliver(id, w, revision_, events);
  }
  void deliver(std::uint64_t id, const Watch& w, std::int64_t rev,
               const std::vector<Event>& events) {
    std::vector<Event> mine;
    for (const Event& e : events) {
      if (in_range(e.kv.key, w.key, w.range_end)) mine.push_back(e);
    }
    if (mine.empty()) return;
    post([this, id, rev, mine = std::move(mine)]() mutable {
      auto it = watches_.find(id);
      if (it == watches_.end()) return;  // cancelled or ended meanwhile
      it->second.on_events(rev, std::move(mine));
    });
  }
  template <typename Done, typename Value>
  void fail(Done done, Value v) {
    post([done = std::move(done), v = std::move(v)]() mutable {
      done(Status{Status::kUnavailable, "etcd is down (test)", 0}, std::move(v));
    });
  }
  void post(std::function<void()> fn) {
    queue_.push_back(std::move(fn));
    uv_idle_start(idle_, [](uv_idle_t* h) {
      auto* self = static_cast<FakeKv*>(h->data);
      auto queue = std::move(self->queue_);
      self->queue_.clear();
      if (self->queue_.empty()) uv_idle_stop(h);
      for (auto& fn : queue) fn();
    });
  }

  uv_idle_t* idle_;
  std::deque<std::function<void()>> queue_;
  std::map<std::string, KeyValue> kvs_;
  std::map<std::int64_t, std::set<std::string>> leases_;
  std::vector<std::pair<std::int64_t, std::vector<Event>>> history_;
  std::map<std::uint64_t, Watch> watches_;
  std::set<std::uint64_t> cancelled_;
  std::int64_t revision_ = 1;  // etcd starts at 1
  std::int64_t compacted_ = 0;
  std::int64_t next_lease_ = 7000;
  std::uint64_t next_watch_ = 1;
  int failed_txns_ = 0;
  bool down_ = false;
};

}  // namespace kgw::etcd
