// The etcd v3 client: KvApi over etcd's JSON gateway (HTTP/1.1, the
// /v3/kv, /v3/lease and /v3/watch endpoints), with libcurl's multi
// interface on the libuv loop (HttpLoop) and nlohmann/json (etcd_json.h).
//
// Threads: one loop; every method on it, every callback on it, never
// inside the call that started it and never after the Client is destroyed
// or the watch cancelled. Nothing blocks.
//
// Happy path: a call posts to the current endpoint over a kept-alive
// connection (at most ClientOptions::max_connections at once, the rest
// wait) and decodes the answer. A watch is one streaming POST whose
// answer is a sequence of JSON objects: "created", then one per batch of
// events, handed on one revision at a time.
//
// Failure modes: an endpoint that cannot be reached (refused, connect
// timeout) or that has no leader is left for the next one, round robin,
// until the request timeout: then kUnavailable. So is one that does not
// answer a call safe to repeat (reads, leases) within the attempt timeout,
// or a watch's create (a member cut off from its quorum, a blackholed
// host). A txn or put is not sent twice: one that goes unanswered is
// kUnavailable at the request timeout, and the next call starts at the
// next endpoint. A connection that breaks after the request went out is
// kUnavailable at once (the request may have been applied; the caller
// re-reads). etcd refusing is kFailed, a
// compacted revision kCompacted. A watch ends (on_end, once) with
// kCompacted and the compact revision, kUnavailable when its stream
// breaks (a cut link: TCP keepalive, about 5 s; http_loop.h) or its
// member has had no leader for a few election timeouts (it
// asks for that, as clientv3.WithRequireLeader: a member cut off from its
// quorum would keep a quiet stream open; the next call and watch then
// start at the next endpoint), or kFailed when etcd cancels it for another
// reason.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

#include "src/cluster/etcd/etcd_json.h"
#include "src/cluster/etcd/etcd_types.h"
#include "src/cluster/etcd/http_loop.h"

namespace kgw::etcd {

struct ClientOptions {
  // "host:port" or "http://host:port". Default: none (every call fails
  // kUnavailable).
  std::vector<std::string> endpoints;
  // Default 5000: a call (all its endpoint attempts) or a watch's connect
  // gives up after this.
  std::int64_t request_timeout_ms = 5000;
  // Default 1000: one endpoint's connect attempt, so a host that drops
  // packets leaves time for the others.
  std::int64_t connect_timeout_ms = 1000;
  // Default 64: connections per endpoint for calls (watches have their
  // own); calls beyond it wait for one to come free.
  long max_connections = 64;
  // Default 2000: one endpoint's answer to a call that is safe to repeat
  // (range, lease grant/keepalive/revoke, compaction), and to a watch's
  // create; then the next endpoint is tried. A stopped member, or one cut off
  // from its quorum, accepts connections and requests and never answers.
  std::int64_t attempt_timeout_ms = 2000;
};

class Client : public KvApi {
 public:
  Client(uv_loop_t* loop, ClientOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void range(std::string key, std::string range_end, std::int64_t revision,
             RangeDone done) override;
  void txn(TxnRequest request, TxnDone done) override;
  void put(std::string key, std::string value, std::int64_t lease, PutDone done) override;
  void lease_grant(std::int64_t ttl_seconds, GrantDone done) override;
  void lease_keepalive(std::int64_t id, KeepAliveDone done) override;
  void lease_revoke(std::int64_t id, RevokeDone done) override;
  std::uint64_t watch(std::string key, std::string range_end, std::int64_t start_revision,
                      OnEvents on_events, OnEnd on_end) override;
  void cancel_watch(std::uint64_t id) override;

  // Not in KvApi (operators and tests): discards revisions below
  // `revision` (etcd's compaction, physical).
  void compact(std::int64_t revision, RevokeDone done);

  // The endpoints as URLs, and the one calls start at (the last that
  // answered).
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  std::size_t current_endpoint() const { return current_; }

 private:
  struct Call;
  struct Watch;
  using Answer = std::function<void(Status, int http_status, const std::string& body)>;

  // repeatable: the request may be sent to another endpoint when one does
  // not answer within the attempt timeout.
  void call(const char* path, std::string body, bool repeatable, Answer answer);
  void attempt(std::shared_ptr<Call> c);
  // After a failed connect to `endpoint`: the next one, or kUnavailable.
  bool next_endpoint(std::size_t* endpoint, std::size_t* tried, std::uint64_t deadline,
                     std::uint64_t* delay_ms);
  void start_watch(std::uint64_t id);
  void on_watch_data(std::uint64_t id, std::string_view bytes);
  void end_watch(std::uint64_t id, Status status);

  HttpLoop http_;        // calls, and the deferred retries
  HttpLoop watch_http_;  // watch streams: they hold their connections
  ClientOptions options_;
  std::vector<std::string> endpoints_;
  std::size_t current_ = 0;
  std::uint64_t next_watch_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Watch>> watches_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kgw::etcd
