#include "src/cluster/etcd/etcd_client.h"

#include <algorithm>

namespace kgw::etcd {

struct Client::Call {
  const char* path;
  std::string body;
  std::uint64_t deadline;  // uv_now
  std::size_t endpoint;
  std::size_t tried = 0;  // failed connects so far
  std::string last_error;
  bool repeatable = false;
  Answer answer;
};

struct Client::Watch {
  std::string body;
  OnEvents on_events;
  OnEnd on_end;
  std::uint64_t deadline;  // for connecting
  std::size_t endpoint;
  std::size_t tried = 0;
  std::uint64_t http_id = 0;
  std::uint64_t attempt = 0;  // which start_watch the create timer belongs to
  JsonStream stream;
  bool created = false;
};

namespace {

std::string endpoint_url(std::string e) {
  while (!e.empty() && e.back() == '/') e.pop_back();
  if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) e = "http://" + e;
  return e;
}

Status unavailable(std::string message) {
  return Status{Status::kUnavailable, std::move(message), 0};
}

// A member cut off from the quorum answers "no leader" without proposing
// anything: as safe to try elsewhere as a refused connection.
bool no_leader(const HttpResult& r) {
  return r.http_status != 200 && r.body.find("no leader") != std::string::npos;
}

}  // namespace

// etcd's gateway passes Grpc-Metadata-* headers on as gRPC metadata; with
// "hasleader: true" (clientv3.WithRequireLeader) the member refuses the
// watch, or ends it with "no leader", once it has had no leader for a few
// election timeouts: a member cut off from its quorum would otherwise keep
// the stream open and quiet, and the watcher would miss every change.
Client::Client(uv_loop_t* loop, ClientOptions options)
    : http_(loop, options.max_connections),
      watch_http_(loop, 0, {"Grpc-Metadata-hasleader: true"}),
      options_(std::move(options)) {
  for (const auto& e : options_.endpoints) {
    if (!e.empty()) endpoints_.push_back(endpoint_url(e));
  }
}

Client::~Client() {
  *alive_ = false;
  // http_ is destroyed after this body: it drops every transfer and
  // deferred call without running them.
}

void Client::call(const char* path, std::string body, bool repeatable, Answer answer) {
  auto c = std::make_shared<Call>();
  c->path = path;
  c->body = std::move(body);
  c->repeatable = repeatable;
  c->deadline = uv_now(http_.loop()) + static_cast<std::uint64_t>(options_.request_timeout_ms);
  c->endpoint = current_;
  c->answer = std::move(answer);
  if (endpoints_.empty()) {
    http_.after(0, [c] { c->answer(unavailable("etcd: no endpoints configured"), 0, {}); });
    return;
  }
  attempt(std::move(c));
}

bool Client::next_endpoint(std::size_t* endpoint, std::size_t* tried, std::uint64_t deadline,
                           std::uint64_t* delay_ms) {
  std::uint64_t now = uv_now(http_.loop());
  if (now >= deadline) return false;
  std::size_t n = endpoints_.size();
  if (current_ == *endpoint) current_ = (*endpoint + 1) % n;
  *endpoint = (*endpoint + 1) % n;
  ++*tried;
  // After a whole round of failures, pause before the next round rather
  // than spin on refused connections.
  *delay_ms = *tried % n == 0 ? std::min<std::uint64_t>(100, deadline - now) : 0;
  return true;
}

void Client::attempt(std::shared_ptr<Call> c) {
  std::uint64_t now = uv_now(http_.loop());
  auto remaining = static_cast<std::int64_t>(c->deadline > now ? c->deadline - now : 1);
  const std::int64_t timeout =
      c->repeatable ? std::min(remaining, options_.attempt_timeout_ms) : remaining;
  const std::string url = endpoints_[c->endpoint] + c->path;
  http_.post(url, c->body, timeout, std::min(timeout, options_.connect_timeout_ms), nullptr,
             [this, c](HttpResult r) {
               if (r.outcome == HttpResult::kConnectFailed ||
                   (r.outcome == HttpResult::kTimedOut && c->repeatable) ||
                   (r.outcome == HttpResult::kOk && no_leader(r))) {
                 c->last_error = endpoints_[c->endpoint] + ": " +
                                 (r.outcome == HttpResult::kOk ? "no leader" : r.error);
                 std::uint64_t delay = 0;
                 if (!next_endpoint(&c->endpoint, &c->tried, c->deadline, &delay)) {
                   c->answer(unavailable("etcd: no endpoint answered within " +
                                         std::to_string(options_.request_timeout_ms) +
                                         " ms (last: " + c->last_error + ")"),
                             0, {});
                   return;
                 }
                 http_.after(delay, [this, c] { attempt(c); });
                 return;
               }
               if (r.outcome != HttpResult::kOk) {
                 // Unanswered: the next call starts at the next endpoint.
                 if (r.outcome == HttpResult::kTimedOut && current_ == c->endpoint) {
                   current_ = (c->endpoint + 1) % endpoints_.size();
                 }
                 c->answer(
                     unavailable("etcd " + endpoints_[c->endpoint] + c->path + ": " + r.error), 0,
                     {});
                 return;
               }
               current_ = c->endpoint;
               c->answer(Status{}, r.http_status, r.body);
             });
}

void Client::range(std::string key, std::string range_end, std::int64_t revision, RangeDone done) {
  call("/v3/kv/range", encode_range(key, range_end, revision), true,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         RangeResult r;
         if (s.ok()) s = decode_range(http, body, &r);
         done(std::move(s), std::move(r));
       });
}

void Client::txn(TxnRequest request, TxnDone done) {
  call("/v3/kv/txn", encode_txn(request), false,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         TxnResult r;
         if (s.ok()) s = decode_txn(http, body, &r);
         done(std::move(s), std::move(r));
       });
}

void Client::put(std::string key, std::string value, std::int64_t lease, PutDone done) {
  call("/v3/kv/put", encode_put(key, value, lease), false,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         std::int64_t revision = 0;
         if (s.ok()) s = decode_put(http, body, &revision);
         done(std::move(s), revision);
       });
}

void Client::lease_grant(std::int64_t ttl_seconds, GrantDone done) {
  call("/v3/lease/grant", encode_lease_grant(ttl_seconds), true,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         std::int64_t id = 0, ttl = 0;
         if (s.ok()) s = decode_lease_grant(http, body, &id, &ttl);
         done(std::move(s), id, ttl);
       });
}

void Client::lease_keepalive(std::int64_t id, KeepAliveDone done) {
  // The gateway maps the keepalive stream onto one POST: our one request,
  // its one answer, then the end of the body ends the stream.
  call("/v3/lease/keepalive", encode_lease_id(id), true,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         std::int64_t ttl = 0;
         if (s.ok()) s = decode_lease_keepalive(http, body, &ttl);
         done(std::move(s), ttl);
       });
}

void Client::lease_revoke(std::int64_t id, RevokeDone done) {
  call("/v3/lease/revoke", encode_lease_id(id), true,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         if (s.ok()) s = decode_empty(http, body);
         done(std::move(s));
       });
}

void Client::compact(std::int64_t revision, RevokeDone done) {
  call("/v3/kv/compaction", encode_compaction(revision), true,
       [done = std::move(done)](Status s, int http, const std::string& body) {
         if (s.ok()) s = decode_empty(http, body);
         done(std::move(s));
       });
}

std::uint64_t Client::watch(std::string key, std::string range_end, std::int64_t start_revision,
                            OnEvents on_events, OnEnd on_end) {
  std::uint64_t id = next_watch_id_++;
  auto w = std::make_unique<Watch>();
  w->body = encode_watch_create(key, range_end, start_revision);
  w->on_events = std::move(on_events);
  w->on_end = std::move(on_end);
  w->deadline = uv_now(http_.loop()) + static_cast<std::uint64_t>(options_.request_timeout_ms);
  w->endpoint = current_;
  watches_.emplace(id, std::move(w));
  if (endpoints_.empty()) {
    http_.after(0, [this, id] { end_watch(id, unavailable("etcd: no endpoints configured")); });
  } else {
    start_watch(id);
  }
  return id;
}

void Client::start_watch(std::uint64_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  Watch* w = it->second.get();
  std::uint64_t now = uv_now(http_.loop());
  auto remaining = static_cast<std::int64_t>(w->deadline > now ? w->deadline - now : 1);
  w->http_id = watch_http_.post(
      endpoints_[w->endpoint] + "/v3/watch", w->body, 0,
      std::min(remaining, options_.connect_timeout_ms),
      [this, id](std::string_view bytes) { on_watch_data(id, bytes); },
      [this, id](HttpResult r) {
        auto it = watches_.find(id);
        if (it == watches_.end()) return;
        Watch* w = it->second.get();
        w->http_id = 0;
        std::uint64_t delay = 0;
        if (r.outcome == HttpResult::kConnectFailed && !w->created &&
            next_endpoint(&w->endpoint, &w->tried, w->deadline, &delay)) {
          http_.after(delay, [this, id] { start_watch(id); });
          return;
        }
        std::string why = r.outcome == HttpResult::kOk
                              ? "stream ended (HTTP " + std::to_string(r.http_status) + ")"
                              : r.error;
        end_watch(id, unavailable("etcd watch: " + why));
      });
  // No "created" within the attempt timeout: the endpoint accepted and does
  // not answer (a stopped member); try the next one (nothing was watched).
  const std::uint64_t attempt = ++w->attempt;
  http_.after(static_cast<std::uint64_t>(std::min(remaining, options_.attempt_timeout_ms)),
              [this, id, attempt] {
                auto it = watches_.find(id);
                if (it == watches_.end()) return;
                Watch* w = it->second.get();
                if (w->attempt != attempt || w->created || w->http_id == 0) return;
                watch_http_.cancel(w->http_id);
                w->http_id = 0;
                w->stream = JsonStream{};
                std::uint64_t delay = 0;
                if (next_endpoint(&w->endpoint, &w->tried, w->deadline, &delay)) {
                  http_.after(delay, [this, id] { start_watch(id); });
                  return;
                }
                end_watch(id, unavailable("etcd watch: no endpoint answered its create within " +
                                          std::to_string(options_.request_timeout_ms) + " ms"));
              });
}

void Client::on_watch_data(std::uint64_t id, std::string_view bytes) {
  auto alive = alive_;
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  it->second->stream.append(bytes);
  std::string object;
  for (;;) {
    it = watches_.find(id);
    if (it == watches_.end()) return;
    Watch* w = it->second.get();
    int got = w->stream.next(&object);
    if (got == 0) return;
    WatchMessage m;
    Status s = got < 0 ? Status{Status::kFailed, "etcd watch: malformed stream", 0}
                       : decode_watch(object, &m);
    if (!s.ok()) {
      // "no leader": the next watch (and call) starts at the next endpoint.
      if (s.code == Status::kUnavailable && current_ == w->endpoint) {
        current_ = (w->endpoint + 1) % endpoints_.size();
      }
      return end_watch(id, std::move(s));
    }
    if (m.created) {
      w->created = true;
      current_ = w->endpoint;
    }
    // One on_events per revision: a response may carry several revisions
    // (catching up), never part of one (we do not ask for fragments).
    std::size_t i = 0;
    while (i < m.events.size()) {
      std::int64_t revision = m.events[i].kv.mod_revision;
      std::vector<Event> group;
      while (i < m.events.size() && m.events[i].kv.mod_revision == revision) {
        group.push_back(std::move(m.events[i++]));
      }
      // A copy: the callback may cancel the watch, destroying the original.
      OnEvents on_events = w->on_events;
      on_events(revision, std::move(group));
      if (!*alive) return;
      it = watches_.find(id);
      if (it == watches_.end()) return;
      w = it->second.get();
    }
    if (m.compact_revision > 0) {
      return end_watch(id, Status{Status::kCompacted,
                                  "etcd watch: revision compacted (oldest kept " +
                                      std::to_string(m.compact_revision) + ")",
                                  m.compact_revision});
    }
    if (m.canceled) {
      return end_watch(id, Status{Status::kFailed, "etcd watch cancelled: " + m.cancel_reason, 0});
    }
  }
}

void Client::end_watch(std::uint64_t id, Status status) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  std::unique_ptr<Watch> w = std::move(it->second);
  watches_.erase(it);
  if (w->http_id != 0) watch_http_.cancel(w->http_id);
  w->on_end(std::move(status));
}

void Client::cancel_watch(std::uint64_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  if (it->second->http_id != 0) watch_http_.cancel(it->second->http_id);
  watches_.erase(it);
}

}  // namespace kgw::etcd
