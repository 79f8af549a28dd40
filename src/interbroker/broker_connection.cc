#include "src/interbroker/broker_connection.h"

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "kgw_version.h"
#include "protocol/schema/api_versions.h"
#include "protocol/wire/error_code.h"

namespace kgw {

const char* call_error_name(CallError e) {
  switch (e) {
    case CallError::kNone:
      return "none";
    case CallError::kConnectFailed:
      return "cannot connect";
    case CallError::kDisconnected:
      return "disconnected";
    case CallError::kTimedOut:
      return "timed out";
    case CallError::kUnsupportedVersion:
      return "unsupported version";
    case CallError::kDecodeFailed:
      return "answer does not decode";
    case CallError::kUnknownBroker:
      return "unknown broker";
    case CallError::kClosed:
      return "closed";
  }
  return "?";
}

// The socket and its connect request; freed by the close callback. `owner`
// is cleared when the connection lets go of it, so late callbacks do nothing.
struct BrokerConnection::Socket {
  uv_tcp_t tcp{};
  uv_connect_t connect{};
  BrokerConnection* owner = nullptr;
  bool closing = false;
  std::vector<char> buf;

  void close() {
    owner = nullptr;
    if (closing) return;
    closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp),
             [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
  }
};

struct BrokerConnection::Resolve {
  uv_getaddrinfo_t req{};
  BrokerConnection* owner = nullptr;
};

namespace {

struct WriteReq {
  uv_write_t req{};
  std::vector<std::uint8_t> bytes;
};

constexpr std::int16_t kApiVersionsKey = 18;
constexpr std::int16_t kApiVersionsVersion = 3;

}  // namespace

BrokerConnection::BrokerConnection(uv_loop_t* loop, std::string host, std::int32_t port,
                                   BrokerConnectionOptions options)
    : loop_(loop),
      host_(std::move(host)),
      port_(port),
      options_(std::move(options)),
      timers_(loop),
      api_versions_version_(kApiVersionsVersion) {}

BrokerConnection::~BrokerConnection() {
  close();
  timers_.stop();
}

void BrokerConnection::set_address(std::string host, std::int32_t port) {
  if (host != host_ || port != port_) api_versions_version_ = kApiVersionsVersion;
  host_ = std::move(host);
  port_ = port;
}

void BrokerConnection::send(std::int16_t api_key, std::int16_t min_version,
                            std::int16_t max_version, Encode encode, RawDone done) {
  Call c;
  c.api_key = api_key;
  c.min_version = min_version;
  c.max_version = max_version;
  c.encode = std::move(encode);
  c.done = std::move(done);
  c.id = next_call_id_++;
  if (state_ == State::kClosed) {
    // Never inside call(): the answer comes on a later loop turn.
    c.timer = timers_.schedule(0, [d = std::move(c.done)] { d(CallError::kClosed, 0, Bytes()); });
    return;
  }
  c.timer =
      timers_.schedule(options_.request_timeout_ms, [this, id = c.id] { on_call_timeout(id); });
  queue_.push_back(std::move(c));
  if (state_ == State::kIdle) {
    connect();
  } else if (state_ == State::kReady) {
    flush();
  }
}

void BrokerConnection::connect() {
  state_ = State::kConnecting;
  versions_.clear();
  connect_timer_ = timers_.schedule(options_.connect_timeout_ms, [this] {
    connect_timer_ = 0;
    connect_failed("no connection within " + std::to_string(options_.connect_timeout_ms) + " ms");
  });
  auto* r = new Resolve;
  r->owner = this;
  r->req.data = r;
  resolve_ = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(port_);
  const int rc = uv_getaddrinfo(
      loop_, &r->req,
      [](uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
        auto* rr = static_cast<Resolve*>(req->data);
        if (rr->owner != nullptr) {
          BrokerConnection* owner = rr->owner;
          owner->resolve_ = nullptr;
          owner->on_resolved(status, res);
        }
        uv_freeaddrinfo(res);
        delete rr;
      },
      host_.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    resolve_ = nullptr;
    delete r;
    connect_failed(std::string("resolving: ") + uv_strerror(rc));
  }
}

void BrokerConnection::on_resolved(int status, const struct addrinfo* res) {
  if (state_ != State::kConnecting) return;
  if (status != 0 || res == nullptr) {
    return connect_failed(std::string("resolving: ") + uv_strerror(status));
  }
  auto* s = new Socket;
  s->owner = this;
  s->tcp.data = s;
  s->connect.data = s;
  if (int rc = uv_tcp_init(loop_, &s->tcp); rc != 0) {
    delete s;
    return connect_failed(std::string("socket: ") + uv_strerror(rc));
  }
  socket_ = s;
  uv_tcp_nodelay(&s->tcp, 1);
  const int rc = uv_tcp_connect(&s->connect, &s->tcp, res->ai_addr, [](uv_connect_t* req, int st) {
    auto* sock = static_cast<Socket*>(req->data);
    if (sock->owner != nullptr) sock->owner->on_connected(st);
  });
  if (rc != 0) connect_failed(std::string("connect: ") + uv_strerror(rc));
}

void BrokerConnection::on_connected(int status) {
  if (state_ != State::kConnecting) return;
  if (status != 0) return connect_failed(std::string("connect: ") + uv_strerror(status));
  const int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&socket_->tcp),
      [](uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) {
        auto* sock = static_cast<Socket*>(h->data);
        sock->buf.resize(std::max<std::size_t>(suggested, 64 * 1024));
        *buf = uv_buf_init(sock->buf.data(), static_cast<unsigned>(sock->buf.size()));
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* sock = static_cast<Socket*>(stream->data);
        BrokerConnection* owner = sock->owner;
        if (owner == nullptr) return;
        if (n < 0) {
          owner->drop(CallError::kDisconnected,
                      n == UV_EOF ? std::string("closed by the peer")
                                  : std::string("read: ") + uv_strerror(static_cast<int>(n)));
          return;
        }
        owner->on_read(buf->base, static_cast<std::size_t>(n));
      });
  if (rc != 0) return connect_failed(std::string("read: ") + uv_strerror(rc));
  state_ = State::kNegotiating;
  send_api_versions();
}

void BrokerConnection::send_api_versions() {
  Call c;
  c.api_key = kApiVersionsKey;
  c.version = api_versions_version_;
  c.id = next_call_id_++;
  c.encode = [](Writer& w, std::int16_t v) {
    ApiVersionsRequest req;
    req.client_software_name = "kgw";
    req.client_software_version = KGW_VERSION;
    req.encode(w, v);
  };
  c.done = [this](CallError e, std::int16_t v, Bytes body) { on_api_versions(e, v, body); };
  c.timer =
      timers_.schedule(options_.request_timeout_ms, [this, id = c.id] { on_call_timeout(id); });
  write_call(c);
}

void BrokerConnection::on_api_versions(CallError e, std::int16_t version, Bytes body) {
  if (e != CallError::kNone) return;  // drop() already ran or runs: the connection is gone
  ApiVersionsResponse resp;
  Reader r(body);
  const bool decoded = resp.decode(r, version);
  // The error code leads the body in every version.
  const std::int16_t error =
      decoded
          ? resp.error_code
          : (body.size() >= 2 ? static_cast<std::int16_t>((body.data()[0] << 8) | body.data()[1])
                              : std::int16_t{-1});
  if (error == static_cast<std::int16_t>(ErrorCode::kUnsupportedVersion) && version > 0) {
    // KIP-511: a peer older than our ApiVersions answers UNSUPPORTED_VERSION
    // in the v0 layout, naming its own ApiVersions range; we ask again at
    // the newest version it names, or at v0 when it names none (as the
    // Java client and librdkafka do). On the same connection.
    ApiVersionsResponse v0;
    Reader r0(body);
    const ApiVersionsResponse* named = v0.decode(r0, 0) ? &v0 : (decoded ? &resp : nullptr);
    std::int16_t next = 0;
    if (named != nullptr) {
      for (const auto& k : named->api_keys) {
        if (k.api_key == kApiVersionsKey && k.min_version <= k.max_version) {
          next = std::max<std::int16_t>(0, std::min<std::int16_t>(k.max_version, version - 1));
        }
      }
    }
    LOG_INFO("interbroker", "%s:%d does not speak ApiVersions v%d: asking again at v%d",
             host_.c_str(), port_, version, next);
    api_versions_version_ = next;
    send_api_versions();
    return;
  }
  if (!decoded) return drop(CallError::kDisconnected, "the ApiVersions answer does not decode");
  if (resp.error_code != 0) {
    return drop(CallError::kDisconnected,
                "ApiVersions answered error " + std::to_string(resp.error_code));
  }
  for (const auto& k : resp.api_keys) versions_[k.api_key] = {k.min_version, k.max_version};
  state_ = State::kReady;
  backoff_ms_ = 0;
  timers_.cancel(connect_timer_);
  connect_timer_ = 0;
  LOG_DEBUG("interbroker", "connected to %s:%d", host_.c_str(), port_);
  flush();
}

void BrokerConnection::flush() {
  while (state_ == State::kReady && !queue_.empty()) {
    Call c = std::move(queue_.front());
    queue_.pop_front();
    auto it = versions_.find(c.api_key);
    const std::int16_t top =
        it == versions_.end() ? -1 : std::min(it->second.second, c.max_version);
    const std::int16_t bottom =
        it == versions_.end() ? 0 : std::max(it->second.first, c.min_version);
    if (top < bottom) {
      timers_.cancel(c.timer);
      c.done(CallError::kUnsupportedVersion, 0, Bytes());
      continue;
    }
    c.version = top;
    write_call(c);
  }
}

void BrokerConnection::write_call(Call& c) {
  auto* w = new WriteReq;
  Writer out(w->bytes);
  out.i32(0);
  RequestHeader h;
  h.api_key = c.api_key;
  h.api_version = c.version;
  h.correlation_id = next_correlation_++;
  if (next_correlation_ == INT32_MAX) next_correlation_ = 1;
  h.client_id = options_.client_id;
  h.encode(out, request_header_version(c.api_key, c.version));
  c.encode(out, c.version);
  out.patch_i32(0, static_cast<std::int32_t>(w->bytes.size() - 4));
  w->req.data = w;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(w->bytes.data()), static_cast<unsigned>(w->bytes.size()));
  in_flight_.emplace(h.correlation_id, std::move(c));
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&socket_->tcp), &buf, 1,
                          [](uv_write_t* req, int status) {
                            auto* wr = static_cast<WriteReq*>(req->data);
                            auto* sock = static_cast<Socket*>(req->handle->data);
                            delete wr;
                            if (status != 0 && sock->owner != nullptr) {
                              sock->owner->drop(CallError::kDisconnected,
                                                std::string("write: ") + uv_strerror(status));
                            }
                          });
  if (rc != 0) {
    delete w;
    // Not from inside send(): a later turn drops the connection.
    timers_.schedule(0, [this, rc] {
      if (state_ == State::kReady || state_ == State::kNegotiating) {
        drop(CallError::kDisconnected, std::string("write: ") + uv_strerror(rc));
      }
    });
  }
}

void BrokerConnection::on_read(const char* data, std::size_t size) {
  read_buf_.insert(read_buf_.end(), data, data + size);
  std::size_t at = 0;
  Socket* sock = socket_;
  while (socket_ == sock && read_buf_.size() - at >= 4) {
    const auto* p = read_buf_.data() + at;
    const std::int32_t len =
        static_cast<std::int32_t>((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                  (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]});
    if (len < 4 || static_cast<std::size_t>(len) > options_.max_frame_bytes) {
      return drop(CallError::kDisconnected, "answer frame of " + std::to_string(len) + " bytes");
    }
    if (read_buf_.size() - at - 4 < static_cast<std::size_t>(len)) break;
    // The frame is copied out so a callback may reconnect (which clears
    // the read buffer) while the answer is still being read.
    std::vector<std::uint8_t> frame(read_buf_.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                    read_buf_.begin() + static_cast<std::ptrdiff_t>(at + 4 + len));
    at += 4 + static_cast<std::size_t>(len);
    handle_frame(Bytes(frame));
  }
  if (socket_ == sock)
    read_buf_.erase(read_buf_.begin(), read_buf_.begin() + static_cast<std::ptrdiff_t>(at));
}

void BrokerConnection::handle_frame(Bytes frame) {
  const auto* p = frame.data();
  const std::int32_t correlation =
      static_cast<std::int32_t>((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]});
  auto it = in_flight_.find(correlation);
  if (it == in_flight_.end()) {
    return drop(CallError::kDisconnected,
                "answer with unknown correlation id " + std::to_string(correlation));
  }
  Call c = std::move(it->second);
  in_flight_.erase(it);
  timers_.cancel(c.timer);
  Reader r(frame);
  ResponseHeader h;
  if (!h.decode(r, response_header_version(c.api_key, c.version))) {
    c.done(CallError::kDecodeFailed, c.version, Bytes());
    return drop(CallError::kDisconnected, "an answer header does not decode");
  }
  const std::size_t body_at = frame.size() - r.remaining();
  c.done(CallError::kNone, c.version, Bytes(frame.data() + body_at, r.remaining()));
}

void BrokerConnection::on_call_timeout(std::uint64_t id) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id != id) continue;
    Call c = std::move(*it);
    queue_.erase(it);
    c.done(CallError::kTimedOut, 0, Bytes());
    return;
  }
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
    if (it->second.id != id) continue;
    Call c = std::move(it->second);
    in_flight_.erase(it);
    c.done(CallError::kTimedOut, 0, Bytes());
    // Answers come in order: nothing behind the lost one would arrive.
    if (state_ == State::kReady || state_ == State::kNegotiating) {
      drop(CallError::kDisconnected, "a call timed out");
    }
    return;
  }
}

void BrokerConnection::drop(CallError error, const std::string& why) {
  if (state_ == State::kConnecting) return connect_failed(why);
  if (state_ != State::kReady && state_ != State::kNegotiating) return;
  LOG_INFO("interbroker", "connection to %s:%d dropped: %s", host_.c_str(), port_, why.c_str());
  const bool was_ready = state_ == State::kReady;
  release_socket();
  std::map<std::int32_t, Call> in_flight;
  in_flight.swap(in_flight_);
  if (was_ready) {
    state_ = State::kIdle;
  } else {
    // Negotiation failed: as a failed connect (backoff, queued calls fail).
    state_ = State::kConnecting;
  }
  for (auto& [corr, c] : in_flight) {
    timers_.cancel(c.timer);
    c.done(error, c.version, Bytes());
  }
  if (!was_ready) return connect_failed(why);
  if (state_ == State::kIdle && !queue_.empty()) connect();
}

void BrokerConnection::connect_failed(const std::string& why) {
  if (state_ != State::kConnecting && state_ != State::kNegotiating) return;
  LOG_INFO("interbroker", "cannot connect to %s:%d: %s", host_.c_str(), port_, why.c_str());
  timers_.cancel(connect_timer_);
  connect_timer_ = 0;
  release_socket();
  for (auto& [corr, c] : in_flight_) timers_.cancel(c.timer);
  in_flight_.clear();  // only the ApiVersions call can be here
  backoff_ms_ = backoff_ms_ == 0 ? options_.reconnect_backoff_ms
                                 : std::min(backoff_ms_ * 2, options_.reconnect_backoff_max_ms);
  state_ = State::kBackoff;
  backoff_timer_ = timers_.schedule(backoff_ms_, [this] {
    backoff_timer_ = 0;
    if (state_ != State::kBackoff) return;
    state_ = State::kIdle;
    if (!queue_.empty()) connect();
  });
  // Calls waiting for this connection fail now: their callers decide
  // whether to retry (and re-resolve where the broker is).
  std::deque<Call> queued;
  queued.swap(queue_);
  for (auto& c : queued) {
    timers_.cancel(c.timer);
    c.done(CallError::kConnectFailed, 0, Bytes());
  }
}

void BrokerConnection::fail_all(CallError error) {
  std::deque<Call> queued;
  queued.swap(queue_);
  std::map<std::int32_t, Call> in_flight;
  in_flight.swap(in_flight_);
  for (auto& [corr, c] : in_flight) {
    timers_.cancel(c.timer);
    c.done(error, c.version, Bytes());
  }
  for (auto& c : queued) {
    timers_.cancel(c.timer);
    c.done(error, 0, Bytes());
  }
}

void BrokerConnection::release_socket() {
  if (resolve_ != nullptr) {
    resolve_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
    resolve_ = nullptr;
  }
  if (socket_ != nullptr) socket_->close();
  socket_ = nullptr;
  read_buf_.clear();
}

void BrokerConnection::close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  release_socket();
  timers_.cancel(connect_timer_);
  timers_.cancel(backoff_timer_);
  connect_timer_ = backoff_timer_ = 0;
  fail_all(CallError::kClosed);
}

}  // namespace kgw
