// HTTP/1.1 POSTs on a libuv loop with libcurl's multi interface: a
// uv_poll_t per socket curl asks to watch (CURLMOPT_SOCKETFUNCTION), one
// uv_timer_t for curl's timeouts (CURLMOPT_TIMERFUNCTION), and
// curl_multi_socket_action when either fires. curl keeps finished
// connections open and reuses them (keep-alive). Also runs deferred calls
// (after()), so the etcd Client needs no timers of its own.
//
// Threads: everything on the loop thread. Happy path: post() adds a
// transfer; bytes arrive inside curl's callbacks, where they are only
// buffered; after curl_multi_socket_action returns, stream transfers hand
// their new bytes to on_data and finished transfers call done. So a
// callback never runs inside post(), inside curl, or after cancel() or
// destruction, and a callback may cancel, post or destroy the HttpLoop.
//
// Failure modes: HttpResult::outcome says whether the endpoint could not
// be reached (kConnectFailed: safe to try elsewhere, nothing was sent),
// timed out, or broke after connecting (the request may have been applied).
// Connections use TCP keepalive (idle 2 s, 3 probes 1 s apart): one a cut
// link left half-open, a watch stream above all, breaks after about 5 s.
//
// Ownership, libuv style:
//  1. The uv handles live in heap blocks freed by their close callbacks, so
//     the loop must run once more after destruction to release them.
//  2. Destruction removes every transfer; no callback runs afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <curl/curl.h>
#include <uv.h>

namespace kgw::etcd {

struct HttpResult {
  enum Outcome { kOk, kConnectFailed, kTimedOut, kBroken };
  Outcome outcome = kOk;
  int http_status = 0;  // kOk: the status line's code
  std::string body;     // kOk, not streaming: the whole body
  std::string error;    // curl's message otherwise
};

class HttpLoop {
 public:
  using OnData = std::function<void(std::string_view bytes)>;
  using Done = std::function<void(HttpResult)>;

  // Default: an answer body larger than this ends the transfer (kBroken).
  static constexpr std::size_t kMaxBody = 256u << 20;

  // max_connections_per_host: 0 no limit (default); otherwise transfers
  // beyond it wait inside curl for a connection to come free (their
  // timeout runs meanwhile). headers: sent with every request ("Name:
  // value"), besides the JSON content type.
  explicit HttpLoop(uv_loop_t* loop, long max_connections_per_host = 0,
                    std::vector<std::string> headers = {});
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  uv_loop_t* loop() const { return loop_; }

  // POSTs `body` (JSON) to `url`. timeout_ms 0: none (streams);
  // connect_timeout_ms bounds reaching the server. With on_data the body is
  // streamed to it and HttpResult::body stays empty. Returns the transfer id.
  std::uint64_t post(const std::string& url, std::string body, std::int64_t timeout_ms,
                     std::int64_t connect_timeout_ms, OnData on_data, Done done);
  // No callback of the transfer runs after this.
  void cancel(std::uint64_t id);
  // Runs `fn` on the loop after `delay_ms` (0: on the next iteration); never
  // inside this call, never after destruction.
  void after(std::uint64_t delay_ms, std::function<void()> fn);

 private:
  struct Transfer;
  struct Poll;

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int on_curl_timer(CURLM* multi, long timeout_ms, void* self);
  static size_t on_write(char* data, size_t size, size_t count, void* transfer);
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_timeout(uv_timer_t* timer);
  static void on_deferred(uv_timer_t* timer);

  void socket_action(curl_socket_t fd, int flags);
  void collect_finished();
  void deliver();
  void schedule_deferred();
  void remove(Transfer* t);

  uv_loop_t* loop_;
  std::vector<std::string> headers_;
  CURLM* multi_ = nullptr;
  uv_timer_t* curl_timer_ = nullptr;
  uv_timer_t* deferred_timer_ = nullptr;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Transfer>> transfers_;
  std::unordered_set<Poll*> polls_;
  std::vector<std::uint64_t> ready_;  // transfers with bytes or an end to deliver
  std::multimap<std::uint64_t, std::function<void()>> deferred_;  // by due time (uv_now)
  bool closing_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kgw::etcd
