#include "src/cluster/etcd/http_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>

namespace kgw::etcd {

struct HttpLoop::Transfer {
  std::uint64_t id = 0;
  HttpLoop* owner = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string request;  // curl reads the body from here (CURLOPT_POSTFIELDS)
  std::string received;
  OnData on_data;
  Done done;
  bool queued = false;  // in ready_
  bool finished = false;
  bool too_large = false;
  CURLcode code = CURLE_OK;
  char error[CURL_ERROR_SIZE] = {};
};

struct HttpLoop::Poll {
  uv_poll_t handle;
  curl_socket_t fd;
  HttpLoop* owner;
};

namespace {

constexpr long kKeepIdleS = 2;
constexpr long kKeepIntervalS = 1;
constexpr int kKeepCount = 3;

// libcurl before 8.9 has no CURLOPT_TCP_KEEPCNT.
int set_keepalive_count(void*, curl_socket_t fd, curlsocktype purpose) {
  if (purpose == CURLSOCKTYPE_IPCXN) {
    int count = kKeepCount;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }
  return CURL_SOCKOPT_OK;
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

template <typename Handle>
void close_and_free(Handle* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* handle) { delete reinterpret_cast<Handle*>(handle); });
}

}  // namespace

HttpLoop::HttpLoop(uv_loop_t* loop, long max_connections_per_host, std::vector<std::string> headers)
    : loop_(loop), headers_(std::move(headers)) {
  init_curl_once();
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections_per_host);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpLoop::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpLoop::on_curl_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_timer_ = new uv_timer_t;
  uv_timer_init(loop_, curl_timer_);
  curl_timer_->data = this;
  deferred_timer_ = new uv_timer_t;
  uv_timer_init(loop_, deferred_timer_);
  deferred_timer_->data = this;
}

HttpLoop::~HttpLoop() {
  *alive_ = false;
  closing_ = true;
  for (auto& [id, t] : transfers_) {
    curl_multi_remove_handle(multi_, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
  }
  transfers_.clear();
  // Closes the cached connections; curl may report their sockets removed.
  curl_multi_cleanup(multi_);
  for (Poll* p : polls_) close_and_free(p);
  polls_.clear();
  close_and_free(curl_timer_);
  close_and_free(deferred_timer_);
}

std::uint64_t HttpLoop::post(const std::string& url, std::string body, std::int64_t timeout_ms,
                             std::int64_t connect_timeout_ms, OnData on_data, Done done) {
  auto t = std::make_unique<Transfer>();
  t->id = next_id_++;
  t->owner = this;
  t->request = std::move(body);
  t->on_data = std::move(on_data);
  t->done = std::move(done);
  std::uint64_t id = t->id;
  CURL* e = curl_easy_init();
  t->easy = e;
  if (e == nullptr) {
    HttpResult r{HttpResult::kConnectFailed, 0, {}, "curl_easy_init failed"};
    after(0, [done = std::move(t->done), r = std::move(r)]() mutable { done(std::move(r)); });
    return id;
  }
  t->headers = curl_slist_append(nullptr, "Content-Type: application/json");
  // No "Expect: 100-continue" round trip for bodies over 1 KiB.
  t->headers = curl_slist_append(t->headers, "Expect:");
  for (const std::string& h : headers_) t->headers = curl_slist_append(t->headers, h.c_str());
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpLoop::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  // Signals belong to the broker; curl uses MSG_NOSIGNAL instead.
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(timeout_ms, 0)));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<std::int64_t>(connect_timeout_ms, 1)));
  // A watch stream idles for long stretches: keepalive probes find a peer
  // that vanished without a FIN (a cut link: the partition test saw
  // Linux's default 9 probes take 5 + 9 x 2 = 23 s, the majority's watches
  // on the cut-off member missing every change meanwhile). Now about
  // 2 + 3 x 1 = 5 s; the probes are a few bytes a second per connection.
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, kKeepIdleS);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, kKeepIntervalS);
  curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, &set_keepalive_count);
  Transfer* raw = t.get();
  transfers_.emplace(id, std::move(t));
  if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
    raw->finished = true;
    raw->code = CURLE_FAILED_INIT;
    ready_.push_back(id);
    raw->queued = true;
    after(0, [] {});  // deliver() runs after every deferred batch
  }
  return id;
}

void HttpLoop::cancel(std::uint64_t id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  remove(it->second.get());
  transfers_.erase(it);
}

void HttpLoop::remove(Transfer* t) {
  if (!t->finished) curl_multi_remove_handle(multi_, t->easy);
  curl_easy_cleanup(t->easy);
  curl_slist_free_all(t->headers);
  t->easy = nullptr;
  t->headers = nullptr;
}

void HttpLoop::after(std::uint64_t delay_ms, std::function<void()> fn) {
  deferred_.emplace(uv_now(loop_) + delay_ms, std::move(fn));
  schedule_deferred();
}

void HttpLoop::schedule_deferred() {
  if (deferred_.empty()) {
    uv_timer_stop(deferred_timer_);
    return;
  }
  std::uint64_t now = uv_now(loop_);
  std::uint64_t due = deferred_.begin()->first;
  uv_timer_start(deferred_timer_, &HttpLoop::on_deferred, due > now ? due - now : 0, 0);
}

void HttpLoop::on_deferred(uv_timer_t* timer) {
  auto* self = static_cast<HttpLoop*>(timer->data);
  auto alive = self->alive_;
  std::uint64_t now = uv_now(self->loop_);
  // Only what is due now: calls added by these run on a later iteration.
  std::vector<std::function<void()>> due;
  while (!self->deferred_.empty() && self->deferred_.begin()->first <= now) {
    due.push_back(std::move(self->deferred_.begin()->second));
    self->deferred_.erase(self->deferred_.begin());
  }
  for (auto& fn : due) {
    fn();
    if (!*alive) return;
  }
  self->schedule_deferred();
  self->deliver();
}

int HttpLoop::on_socket(CURL*, curl_socket_t fd, int what, void* self_ptr, void* socketp) {
  auto* self = static_cast<HttpLoop*>(self_ptr);
  auto* p = static_cast<Poll*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (p != nullptr) {
      self->polls_.erase(p);
      close_and_free(p);
      if (!self->closing_) curl_multi_assign(self->multi_, fd, nullptr);
    }
    return 0;
  }
  if (self->closing_) return 0;
  if (p == nullptr) {
    p = new Poll;
    p->fd = fd;
    p->owner = self;
    if (uv_poll_init_socket(self->loop_, &p->handle, fd) != 0) {
      delete p;
      return -1;
    }
    p->handle.data = p;
    self->polls_.insert(p);
    curl_multi_assign(self->multi_, fd, p);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  uv_poll_start(&p->handle, events, &HttpLoop::on_poll);
  return 0;
}

int HttpLoop::on_curl_timer(CURLM*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<HttpLoop*>(self_ptr);
  if (timeout_ms < 0) {
    uv_timer_stop(self->curl_timer_);
  } else {
    // 0 means "now": the next loop iteration, not inside curl.
    uv_timer_start(self->curl_timer_, &HttpLoop::on_timeout, static_cast<std::uint64_t>(timeout_ms),
                   0);
  }
  return 0;
}

size_t HttpLoop::on_write(char* data, size_t size, size_t count, void* transfer) {
  auto* t = static_cast<Transfer*>(transfer);
  size_t n = size * count;
  if (t->received.size() + n > kMaxBody) {
    t->too_large = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  t->received.append(data, n);
  if (t->on_data && !t->queued) {
    t->queued = true;
    t->owner->ready_.push_back(t->id);
  }
  return n;
}

void HttpLoop::on_poll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<Poll*>(handle->data);
  int flags = 0;
  if (status < 0) flags |= CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  p->owner->socket_action(p->fd, flags);
}

void HttpLoop::on_timeout(uv_timer_t* timer) {
  static_cast<HttpLoop*>(timer->data)->socket_action(CURL_SOCKET_TIMEOUT, 0);
}

void HttpLoop::socket_action(curl_socket_t fd, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  collect_finished();
  deliver();
}

void HttpLoop::collect_finished() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    CURLcode code = msg->data.result;
    curl_multi_remove_handle(multi_, msg->easy_handle);
    if (t == nullptr) continue;
    t->finished = true;
    t->code = code;
    if (!t->queued) {
      t->queued = true;
      ready_.push_back(t->id);
    }
  }
}

void HttpLoop::deliver() {
  auto alive = alive_;
  std::vector<std::uint64_t> ready;
  ready.swap(ready_);
  for (std::uint64_t id : ready) {
    auto it = transfers_.find(id);
    if (it == transfers_.end()) continue;
    Transfer* t = it->second.get();
    t->queued = false;
    if (t->on_data && !t->received.empty()) {
      std::string bytes;
      bytes.swap(t->received);
      t->on_data(bytes);
      if (!*alive) return;
      it = transfers_.find(id);  // on_data may have cancelled it
      if (it == transfers_.end()) continue;
      t = it->second.get();
    }
    if (!t->finished) continue;
    HttpResult r;
    double connect_time = 0;
    curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME, &connect_time);
    if (t->code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      r.http_status = static_cast<int>(status);
      if (!t->on_data) r.body.swap(t->received);
    } else {
      r.error = t->error[0] != '\0' ? t->error : curl_easy_strerror(t->code);
      if (t->too_large) r.error = "answer larger than " + std::to_string(kMaxBody) + " bytes";
      switch (t->code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_FAILED_INIT:
          r.outcome = HttpResult::kConnectFailed;
          break;
        case CURLE_OPERATION_TIMEDOUT:
          // A connect timeout sent nothing: as safe to retry as a refusal.
          r.outcome = connect_time <= 0 ? HttpResult::kConnectFailed : HttpResult::kTimedOut;
          break;
        default:
          r.outcome = HttpResult::kBroken;
      }
    }
    Done done = std::move(t->done);
    remove(t);
    transfers_.erase(it);
    done(std::move(r));
    if (!*alive) return;
  }
}

}  // namespace kgw::etcd
