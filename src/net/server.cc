#include "src/net/server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "src/net/connection.h"

namespace kgw {

namespace {

constexpr int kBacklog = SOMAXCONN;
// Refused connections are logged at most this often (a client looping on
// connect would otherwise fill the log).
constexpr std::uint64_t kRefusalLogIntervalMs = 10000;

// How often to look for idle connections: a tenth of the idle time, so a
// connection closes at most 10% late, within [10 ms, 1 s].
std::uint64_t sweep_interval_ms(std::int64_t idle_ms) {
  return static_cast<std::uint64_t>(std::clamp<std::int64_t>(idle_ms / 10, 10, 1000));
}

// The canonical text of an IP literal (as uv_ip*_name prints a peer), or
// "" when `text` is not one.
std::string canonical_ip(std::string text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  char name[INET6_ADDRSTRLEN + 1] = {};
  sockaddr_in a4{};
  sockaddr_in6 a6{};
  if (uv_ip4_addr(text.c_str(), 0, &a4) == 0) {
    uv_ip4_name(&a4, name, sizeof name);
  } else if (uv_ip6_addr(text.c_str(), 0, &a6) == 0) {
    uv_ip6_name(&a6, name, sizeof name);
  } else {
    return "";
  }
  return name;
}

// "host:port", with brackets around IPv6 literals, as users write it.
std::string format_address(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// The addresses `host` stands for: an IPv4 or IPv6 literal as is,
// otherwise whatever the resolver says. Runs before the loop serves
// anything, so resolving synchronously blocks nobody.
bool resolve(uv_loop_t* loop, const std::string& host, int port, std::vector<sockaddr_storage>& out,
             std::string& error) {
  std::string h = host.empty() ? "0.0.0.0" : host;  // empty = all interfaces, as in Kafka
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  sockaddr_storage ss{};
  if (uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
      uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
    out.push_back(ss);
    return true;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  uv_getaddrinfo_t req{};
  int rc = uv_getaddrinfo(loop, &req, nullptr, h.c_str(), nullptr, &hints);
  if (rc != 0) {
    error = std::string("cannot resolve host: ") + uv_strerror(rc);
    return false;
  }
  for (const addrinfo* ai = req.addrinfo; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    sockaddr_storage a{};
    std::memcpy(&a, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(static_cast<std::uint16_t>(port));
    } else {
      reinterpret_cast<sockaddr_in6*>(&a)->sin6_port = htons(static_cast<std::uint16_t>(port));
    }
    out.push_back(a);
  }
  uv_freeaddrinfo(req.addrinfo);
  if (out.empty()) {
    error = "cannot resolve host: no IPv4 or IPv6 address";
    return false;
  }
  return true;
}

// A bound, listening, non-blocking socket, or -1 with `err` a libuv error.
// Done with plain POSIX calls so that a failure leaves no libuv handle
// behind: a closing handle would outlive a Server destroyed right after a
// failed start().
int listen_socket(const sockaddr_storage& addr, int& err) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = uv_translate_sys_error(errno);
    return -1;
  }
  // Restarting while old connections sit in TIME_WAIT must not fail, as
  // libuv and Kafka do.
  int one = 1;
  socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 ||
      ::listen(fd, kBacklog) != 0) {
    err = uv_translate_sys_error(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

bool parse_connection_overrides(const std::string& text,
                                std::unordered_map<std::string, std::size_t>& out,
                                std::string& error) {
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    std::string entry = text.substr(at, end - at);
    at = end + 1;
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (entry.empty()) continue;
    const std::string what = "max.connections.per.ip.overrides: '" + entry + "' ";
    std::size_t colon = entry.rfind(':');
    if (colon == std::string::npos) {
      error = what + "is not IP:COUNT";
      return false;
    }
    std::string ip = canonical_ip(entry.substr(0, colon));
    if (ip.empty()) {
      error = what + "does not start with an IP address (host names are not supported)";
      return false;
    }
    const std::string count = entry.substr(colon + 1);
    char* stop = nullptr;
    errno = 0;
    long long n = std::strtoll(count.c_str(), &stop, 10);
    if (count.empty() || *stop != '\0' || errno != 0 || n < 0 || n > INT32_MAX) {
      error = what + "has a count that is not in [0, 2147483647]";
      return false;
    }
    out[ip] = static_cast<std::size_t>(n);
  }
  return true;
}

Server::Server(uv_loop_t* loop, ServerOptions options, FrameHandler on_frame)
    : loop_(loop), options_(std::move(options)), on_frame_(std::move(on_frame)) {
  // A limit of 0 would pause every connection before its first request,
  // forever; 1 is the strictest that still works.
  if (options_.max_inflight_requests == 0) options_.max_inflight_requests = 1;
  if (options_.max_queued_response_bytes == 0) options_.max_queued_response_bytes = 1;
  if (options_.listeners.empty()) {
    ListenerConfig l;
    l.host = options_.host;
    l.port = options_.port;
    options_.listeners.push_back(std::move(l));
  }
}

Server::~Server() {
  if ((listening_ && !listeners_closed()) || (idle_open_ && !idle_closed_) ||
      (sweep_open_ && !sweep_closed_) || !connections_.empty()) {
    // libuv would touch the freed handles on its next iteration.
    LOG_ERROR("net",
              "server destroyed with %zu connections open; call stop() and run the loop "
              "until done",
              connections_.size());
    std::abort();
  }
}

bool Server::listeners_closed() const {
  return std::all_of(listeners_.begin(), listeners_.end(),
                     [](const std::unique_ptr<Listening>& l) { return l->closed; });
}

bool Server::start(std::string& error) {
  const ListenerConfig& first = options_.listeners.front();
  if (listening_ || stopping_) {
    error = format_address(first.host, first.port) + ": server already started";
    return false;
  }
  if (std::string why = refuse_unsupported(options_.listeners); !why.empty()) {
    error = why;
    return false;
  }
  // Every socket is bound before any libuv handle exists, so a listener
  // that cannot bind leaves nothing behind (rule 7).
  std::vector<int> fds;
  auto fail = [&fds, &error](const std::string& why) {
    for (int fd : fds) ::close(fd);
    error = why;
    return false;
  };
  for (const ListenerConfig& l : options_.listeners) {
    const std::string where = format_address(l.host, l.port);
    if (l.port < 0 || l.port > 65535) return fail(where + ": port out of range 0-65535");
    std::vector<sockaddr_storage> addrs;
    std::string why;
    if (!resolve(loop_, l.host, l.port, addrs, why)) return fail(where + ": " + why);
    // Take the first address that binds: "localhost" may name ::1 first
    // on a host without IPv6.
    int fd = -1;
    int err = UV_EADDRNOTAVAIL;
    for (const auto& a : addrs) {
      fd = listen_socket(a, err);
      if (fd >= 0) break;
    }
    if (fd < 0) return fail(where + ": " + uv_strerror(err));
    fds.push_back(fd);
  }

  listening_ = true;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    auto listening = std::make_unique<Listening>();
    listening->server = this;
    listening->config = &options_.listeners[i];
    listening->bound_port = bound_port(fds[i]);
    uv_tcp_init(loop_, &listening->handle);  // cannot fail without a domain
    listening->handle.data = listening.get();
    Listening& l = *listening;
    listeners_.push_back(std::move(listening));
    int rc = uv_tcp_open(&l.handle, fds[i]);
    if (rc != 0) ::close(fds[i]);  // not adopted by the handle
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l.handle), kBacklog, on_connection);
    if (rc != 0) {
      // Not expected on a socket we just bound; the handles exist now, so
      // they must be closed through the loop (stop() waits for them).
      for (std::size_t j = i + 1; j < fds.size(); ++j) ::close(fds[j]);
      error = format_address(l.config->host, l.config->port) + ": " + uv_strerror(rc);
      listener_closing_ = true;
      for (auto& open : listeners_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&open->handle), on_listener_closed);
      }
      return false;
    }
  }
  uv_idle_init(loop_, &resume_idle_);
  resume_idle_.data = this;
  idle_open_ = true;
  if (options_.connections_max_idle_ms >= 0) {
    uv_timer_init(loop_, &sweep_timer_);
    sweep_timer_.data = this;
    sweep_open_ = true;
    const std::uint64_t every = sweep_interval_ms(options_.connections_max_idle_ms);
    uv_timer_start(&sweep_timer_, on_sweep, every, every);
    // The sweep alone must not keep a loop with nothing else to do alive.
    uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_timer_));
  }
  for (const auto& l : listeners_) {
    LOG_INFO("net", "listening on %s (listener %s, %s)",
             format_address(l->config->host, l->bound_port).c_str(), l->config->name.c_str(),
             security_protocol_name(l->config->protocol));
  }
  return true;
}

void Server::on_connection(uv_stream_t* server, int status) {
  auto* listening = static_cast<Listening*>(server->data);
  Server* self = listening->server;
  if (status < 0) {
    // EMFILE and friends: libuv already dropped the pending connection.
    LOG_WARN("net", "accept on port %d failed: %s", listening->bound_port, uv_strerror(status));
    return;
  }
  try {
    self->accept_one(*listening);
  } catch (const std::exception& e) {
    LOG_ERROR("net", "accept on port %d failed: %s", listening->bound_port, e.what());
  }
}

void Server::accept_one(Listening& listening) {
  if (stopping_) return;
  ConnectionId id = next_id_++;
  auto* conn = new Connection(this, id, *listening.config);
  connections_.emplace(id, conn);
  if (!conn->open(reinterpret_cast<uv_stream_t*>(&listening.handle))) {
    connections_.erase(id);
    delete conn;
  }
}

std::string Server::admit(Connection& conn) {
  auto limit_for_ip = [this](const std::string& ip) {
    auto it = options_.max_connections_per_ip_overrides.find(ip);
    return it != options_.max_connections_per_ip_overrides.end() ? it->second
                                                                 : options_.max_connections_per_ip;
  };
  std::string why;
  if (admitted_ >= options_.max_connections) {
    why = "max.connections " + std::to_string(options_.max_connections) + " reached";
  } else if (std::size_t limit = limit_for_ip(conn.ip_); per_ip_[conn.ip_] >= limit) {
    why = "max.connections.per.ip " + std::to_string(limit) + " reached for " + conn.ip_;
  }
  if (why.empty()) {
    ++admitted_;
    ++per_ip_[conn.ip_];
    conn.admitted_ = true;
    return why;
  }
  if (per_ip_[conn.ip_] == 0) per_ip_.erase(conn.ip_);
  ++refused_unlogged_;
  const std::uint64_t now = uv_now(loop_);
  if (refusal_logged_ms_ == 0 || now - refusal_logged_ms_ >= kRefusalLogIntervalMs) {
    LOG_WARN("net", "refused %zu connection(s), the last from %s: %s (raise it with --set)",
             refused_unlogged_, conn.peer_.c_str(), why.c_str());
    refused_unlogged_ = 0;
    refusal_logged_ms_ = now == 0 ? 1 : now;
  }
  return why;
}

void Server::release(const Connection& conn) {
  if (!conn.admitted_) return;
  --admitted_;
  auto it = per_ip_.find(conn.ip_);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

void Server::on_sweep(uv_timer_t* timer) {
  auto* self = static_cast<Server*>(timer->data);
  try {
    self->sweep_idle();
  } catch (const std::exception& e) {
    LOG_ERROR("net", "idle sweep failed: %s", e.what());
  }
}

void Server::sweep_idle() {
  const std::uint64_t now = uv_now(loop_);
  const auto idle = static_cast<std::uint64_t>(options_.connections_max_idle_ms);
  if (now < idle) return;
  const std::uint64_t since = now - idle;
  // close() only marks and calls uv_close: entries leave the map later.
  for (auto& [id, conn] : connections_) {
    if (conn->idle_since(since)) {
      conn->close(LogLevel::kDebug, "idle for connections.max.idle.ms %" PRId64,
                  options_.connections_max_idle_ms);
    }
  }
}

void Server::respond(ConnectionId connection, std::uint64_t sequence,
                     std::vector<std::uint8_t> bytes) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;  // gone: rule 3
  it->second->respond(sequence, std::move(bytes));
}

void Server::skip(ConnectionId connection, std::uint64_t sequence) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  it->second->skip(sequence);
}

void Server::reserve_response(ConnectionId connection, std::uint64_t sequence, std::size_t bytes) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  it->second->reserve_response(sequence, bytes);
}

void Server::close_connection(ConnectionId connection, const std::string& reason) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  it->second->close(LogLevel::kWarn, "%s", reason.c_str());
}

void Server::hold(ConnectionId connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end() || it->second->held()) return;
  it->second->set_held(true);
  held_.push_back(connection);
}

void Server::release_held() {
  std::vector<ConnectionId> ids;
  ids.swap(held_);
  for (ConnectionId id : ids) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second->set_held(false);
  }
}

void Server::schedule_resume(ConnectionId id) {
  if (stopping_ || !idle_open_) return;
  resume_queue_.push_back(id);
  if (!idle_active_) {
    uv_idle_start(&resume_idle_, on_resume_idle);
    idle_active_ = true;
  }
}

void Server::on_resume_idle(uv_idle_t* idle) {
  auto* self = static_cast<Server*>(idle->data);
  uv_idle_stop(idle);
  self->idle_active_ = false;
  std::vector<ConnectionId> ids;
  ids.swap(self->resume_queue_);
  for (ConnectionId id : ids) {
    auto it = self->connections_.find(id);
    if (it != self->connections_.end()) it->second->resume();  // catches its own
  }
}

void Server::forget(ConnectionId id) {
  connections_.erase(id);
  if (on_closed_) on_closed_(id);
  maybe_finish_stop();
}

void Server::stop(std::function<void()> done) {
  if (stopped_) {
    if (done) done();
    return;
  }
  if (done) {
    if (stop_done_) {
      stop_done_ = [first = std::move(stop_done_), second = std::move(done)]() {
        first();
        second();
      };
    } else {
      stop_done_ = std::move(done);
    }
  }
  if (!stopping_) {
    stopping_ = true;
    if (listening_ && !listener_closing_) {
      listener_closing_ = true;
      for (auto& l : listeners_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&l->handle), on_listener_closed);
      }
    }
    if (idle_open_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&resume_idle_), on_idle_closed);
    }
    if (sweep_open_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), on_sweep_closed);
    }
    resume_queue_.clear();
    // Closing only marks each connection and calls uv_close; entries leave
    // the map in their close callbacks, so iterating here is safe.
    for (auto& [id, conn] : connections_) conn->close(LogLevel::kDebug, "server stopping");
    LOG_INFO("net", "stopping: closing %zu connections", connections_.size());
  }
  maybe_finish_stop();
}

void Server::on_listener_closed(uv_handle_t* handle) {
  auto* listening = static_cast<Listening*>(handle->data);
  listening->closed = true;
  listening->server->maybe_finish_stop();
}

void Server::on_idle_closed(uv_handle_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  self->idle_closed_ = true;
  self->maybe_finish_stop();
}

void Server::on_sweep_closed(uv_handle_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  self->sweep_closed_ = true;
  self->maybe_finish_stop();
}

void Server::maybe_finish_stop() {
  if (!stopping_ || stopped_) return;
  if (listening_ && !listeners_closed()) return;
  if (idle_open_ && !idle_closed_) return;
  if (sweep_open_ && !sweep_closed_) return;
  if (!connections_.empty()) return;
  stopped_ = true;
  auto done = std::move(stop_done_);
  stop_done_ = nullptr;
  if (!done) return;
  // `done` may destroy this Server: nothing after it touches members. It
  // runs inside a libuv close callback, where an exception must not go.
  try {
    done();
  } catch (const std::exception& e) {
    LOG_ERROR("net", "stop callback failed: %s", e.what());
  } catch (...) {
    LOG_ERROR("net", "stop callback failed");
  }
}

}  // namespace kgw
