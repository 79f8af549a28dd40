#include "src/net/connection.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

namespace kgw {

namespace {

// A frame that has sent this much and has at least this much left is read
// straight into its own buffer, in steps of this size; a frame's buffer
// only ever grows as bytes actually arrive (at most doubling), so a peer
// that sends a large size prefix and trickles cannot make us hold more
// than about twice what it sent.
constexpr std::size_t kStagingBytes = Server::kReadBufferBytes;
// Largest response a Kafka frame can carry: its size prefix is an int32.
constexpr std::size_t kMaxResponseFrame = 4 + static_cast<std::size_t>(INT32_MAX);
// Bounds the uv_buf_t array of one coalesced write.
constexpr std::size_t kMaxBuffersPerWrite = 64;

// "ip:port" (brackets around IPv6) into `peer` and the bare address into
// `ip`; both stay as they were when the peer is unknown.
void format_peer(const uv_tcp_t* tcp, std::string& peer, std::string& ip) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
  char name[INET6_ADDRSTRLEN + 1] = {};
  char out[INET6_ADDRSTRLEN + 16];
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, name, sizeof name);
    std::snprintf(out, sizeof out, "[%s]:%u", name, static_cast<unsigned>(ntohs(a->sin6_port)));
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, name, sizeof name);
    std::snprintf(out, sizeof out, "%s:%u", name, static_cast<unsigned>(ntohs(a->sin_port)));
  }
  peer = out;
  ip = name;
}

}  // namespace

Connection::Connection(Server* server, ConnectionId id, const ListenerConfig& listener)
    : server_(server),
      id_(id),
      session_(std::make_shared<Session>(Session::on_listener(listener))) {}

bool Connection::open(uv_stream_t* listener) {
  if (uv_tcp_init(server_->loop_, &tcp_) != 0) return false;
  tcp_.data = this;
  int rc = uv_accept(listener, stream());
  if (rc != 0) {
    close(LogLevel::kWarn, "accept failed: %s", uv_strerror(rc));
    return true;
  }
  format_peer(&tcp_, peer_, ip_);
  session_->peer = peer_;
  touch();
  if (std::string why = server_->admit(*this); !why.empty()) {
    // Kafka closes a connection over max.connections.per.ip at once; over
    // max.connections it stops accepting, where we accept and close (the
    // Server logs these, rate-limited).
    close(LogLevel::kDebug, "%s", why.c_str());
    return true;
  }
  // Responses are whole frames handed to one write; Nagle would only hold
  // them back behind the client's delayed ACK.
  rc = uv_tcp_nodelay(&tcp_, 1);
  if (rc != 0) LOG_DEBUG("net", "%s: cannot set TCP_NODELAY: %s", peer_.c_str(), uv_strerror(rc));
  LOG_DEBUG("net", "accepted %s as connection %" PRIu64, peer_.c_str(), id_);
  start_reading();
  return true;
}

void Connection::close(LogLevel level, const char* fmt, ...) {
  if (closing_) return;
  closing_ = true;
  char reason[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  KGW_LOG(level, "net", "closing %s: %s", peer_.c_str(), reason);
  // Abandon what the layer above still owes: its respond()/skip() calls
  // for this id become no-ops once the Server forgets it.
  slots_.clear();
  pending_count_ = 0;
  frame_ = {};
  leftover_ = {};
  leftover_begin_ = 0;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
}

void Connection::on_close(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  Server* server = self->server_;
  ConnectionId id = self->id_;
  server->release(*self);
  delete self;
  // Last: forget() may finish stop() and run a `done` that destroys the
  // Server.
  server->forget(id);
}

void Connection::start_reading() {
  if (reading_ || closing_) return;
  int rc = uv_read_start(stream(), on_alloc, on_read);
  if (rc != 0) {
    close(LogLevel::kWarn, "cannot read: %s", uv_strerror(rc));
    return;
  }
  reading_ = true;
}

void Connection::stop_reading() {
  if (!reading_) return;
  uv_read_stop(stream());
  reading_ = false;
}

// ---- reading and framing ----

void Connection::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  try {
    self->alloc(buf);
  } catch (...) {
    // libuv reports an empty buffer to on_read as UV_ENOBUFS.
    *buf = uv_buf_init(nullptr, 0);
  }
}

void Connection::alloc(uv_buf_t* buf) {
  if (in_body_ && frame_have_ >= kStagingBytes && frame_size_ - frame_have_ >= kStagingBytes) {
    grow_frame(frame_have_ + kStagingBytes);
    direct_read_ = true;
    std::size_t room = frame_.size() - frame_have_;
    *buf = uv_buf_init(reinterpret_cast<char*>(frame_.data() + frame_have_),
                       static_cast<unsigned>(room));
    return;
  }
  // The shared buffer: handle_read parses it or copies what is left before
  // any other connection reads into it (one loop thread, and libuv runs
  // each read callback right after its alloc).
  direct_read_ = false;
  *buf = uv_buf_init(reinterpret_cast<char*>(server_->read_buffer_.data()),
                     static_cast<unsigned>(server_->read_buffer_.size()));
}

void Connection::touch() {
  last_active_ms_ = uv_now(server_->loop_);
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<Connection*>(stream->data);
  self->guarded([self, nread] { self->handle_read(nread); });
}

void Connection::handle_read(ssize_t nread) {
  if (nread == 0) return;  // EAGAIN: nothing this time
  if (nread < 0) {
    int err = static_cast<int>(nread);
    if (err == UV_EOF) {
      close(LogLevel::kDebug, "peer closed the connection");
    } else if (err == UV_ECONNRESET) {
      close(LogLevel::kDebug, "connection reset by peer");
    } else if (err == UV_ENOBUFS) {
      close(LogLevel::kWarn, "out of memory for a frame of %zu bytes", frame_size_);
    } else {
      close(LogLevel::kWarn, "read failed: %s", uv_strerror(err));
    }
    return;
  }
  auto n = static_cast<std::size_t>(nread);
  touch();
  if (direct_read_) {
    frame_have_ += n;
    if (frame_have_ == frame_size_) deliver_frame();
    return;
  }
  const std::uint8_t* p = server_->read_buffer_.data();
  std::size_t used = parse(p, n);
  if (!closing_ && used < n) keep_leftover(p + used, n - used);
}

void Connection::keep_leftover(const std::uint8_t* p, std::size_t n) {
  // Only when paused or held, and reading stopped then: at most one read's worth.
  leftover_.assign(p, p + n);
  leftover_begin_ = 0;
}

std::size_t Connection::parse(const std::uint8_t* p, std::size_t n) {
  std::size_t used = 0;
  while (!closing_ && !paused_ && !held_ && used < n) {
    std::size_t avail = n - used;
    if (!in_body_) {
      std::size_t k = std::min(avail, sizeof header_ - header_have_);
      std::memcpy(header_ + header_have_, p + used, k);
      header_have_ += k;
      used += k;
      if (header_have_ == sizeof header_ && !begin_frame()) return used;
      continue;
    }
    std::size_t k = std::min(avail, frame_size_ - frame_have_);
    grow_frame(frame_have_ + k);
    std::memcpy(frame_.data() + frame_have_, p + used, k);
    frame_have_ += k;
    used += k;
    // May run the handler, which may close us (and free leftover_, which
    // `p` may point into): the loop condition checks before touching `p`.
    if (frame_have_ == frame_size_) deliver_frame();
  }
  return used;
}

bool Connection::begin_frame() {
  header_have_ = 0;
  auto raw = (std::uint32_t{header_[0]} << 24) | (std::uint32_t{header_[1]} << 16) |
             (std::uint32_t{header_[2]} << 8) | std::uint32_t{header_[3]};
  auto size = static_cast<std::int32_t>(raw);
  if (size < 0) {
    close(LogLevel::kWarn, "negative frame size %" PRId32, size);
    return false;
  }
  const std::size_t max = server_->options_.max_frame_bytes;
  if (static_cast<std::size_t>(size) > max) {
    close(LogLevel::kWarn, "frame of %" PRId32 " bytes over socket.request.max.bytes %zu", size,
          max);
    return false;
  }
  in_body_ = true;
  frame_size_ = static_cast<std::size_t>(size);
  frame_have_ = 0;
  frame_ = {};  // grown as the body arrives, never to the promised size up front
  if (frame_size_ == 0) deliver_frame();
  return true;
}

void Connection::grow_frame(std::size_t at_least) {
  if (frame_.size() >= at_least) return;
  // Doubling keeps the extra copying of a large frame under one copy in
  // total; never past the declared size, so the final vector is exact.
  frame_.resize(std::min(frame_size_, std::max(at_least, frame_.size() * 2)));
}

void Connection::deliver_frame() {
  InboundFrame frame;
  frame.connection = id_;
  frame.sequence = next_sequence_++;
  frame.peer = &peer_;
  frame.session = session_;
  frame.bytes = std::move(frame_);
  frame_ = {};
  in_body_ = false;
  frame_size_ = frame_have_ = 0;
  // The slot exists before the handler runs, so it may answer at once.
  slots_.emplace_back();
  ++pending_count_;
  server_->on_frame_(std::move(frame));
  // The handler may have closed us; update_backpressure checks.
  update_backpressure();
}

void Connection::resume() {
  resume_scheduled_ = false;
  if (closing_) return;
  guarded([this] {
    if (leftover_begin_ >= leftover_.size()) return;
    std::size_t used =
        parse(leftover_.data() + leftover_begin_, leftover_.size() - leftover_begin_);
    if (closing_) return;
    leftover_begin_ += used;
    if (leftover_begin_ == leftover_.size()) {
      leftover_ = {};  // release it: an idle connection holds no buffer
      leftover_begin_ = 0;
    }
  });
  if (!closing_ && !paused_ && !held_ && leftover_.empty()) start_reading();
}

void Connection::set_held(bool held) {
  if (closing_ || held == held_) return;
  held_ = held;
  if (held_) {
    stop_reading();
    LOG_DEBUG("net", "%s: held (the store's write queue is full)", peer_.c_str());
    return;
  }
  if (paused_) return;  // its own backpressure resumes it
  read_again();
}

void Connection::read_again() {
  if (leftover_begin_ < leftover_.size()) {
    if (!resume_scheduled_) {
      resume_scheduled_ = true;
      server_->schedule_resume(id_);
    }
  } else {
    start_reading();
  }
}

// ---- backpressure ----

void Connection::update_backpressure() {
  if (closing_) return;
  const ServerOptions& o = server_->options_;
  if (!paused_) {
    if (slots_.size() >= o.max_inflight_requests || queued_bytes_ >= o.max_queued_response_bytes) {
      paused_ = true;
      stop_reading();
      LOG_DEBUG("net", "%s: paused reading (%zu requests unanswered, %zu response bytes queued)",
                peer_.c_str(), slots_.size(), queued_bytes_);
    }
    return;
  }
  // Half the limits, so a connection at the edge does not flip between
  // reading and not reading on every request.
  if (slots_.size() * 2 < o.max_inflight_requests &&
      queued_bytes_ * 2 < o.max_queued_response_bytes) {
    paused_ = false;
    LOG_DEBUG("net", "%s: resumed reading", peer_.c_str());
    if (held_) return;  // set_held(false) resumes it
    read_again();
  }
}

// ---- responses ----

Connection::Slot* Connection::find_pending(std::uint64_t sequence, const char* what) {
  // Both are bugs in the layer above; the connection itself is fine.
  if (sequence >= front_sequence_ + slots_.size()) {
    LOG_WARN("net", "%s: %s for unknown request %" PRIu64 " ignored", peer_.c_str(), what,
             sequence);
    return nullptr;
  }
  Slot* slot = nullptr;
  if (sequence >= front_sequence_) {
    slot = &slots_[static_cast<std::size_t>(sequence - front_sequence_)];
  }
  if (slot == nullptr || slot->state != SlotState::kPending) {
    LOG_WARN("net", "%s: %s for request %" PRIu64 " that was already answered ignored",
             peer_.c_str(), what, sequence);
    return nullptr;
  }
  return slot;
}

void Connection::respond(std::uint64_t sequence, std::vector<std::uint8_t> bytes) {
  if (closing_) return;
  Slot* slot = find_pending(sequence, "response");
  if (slot == nullptr) return;
  if (bytes.size() > kMaxResponseFrame) {
    // The layer above refuses to encode these; a client could not read
    // one anyway, and uv_buf_t lengths are 32-bit.
    close(LogLevel::kError,
          "response to request %" PRIu64 " of %zu bytes is over the %zu a Kafka frame can carry",
          sequence, bytes.size(), kMaxResponseFrame);
    return;
  }
  slot->state = SlotState::kReady;
  --pending_count_;
  queued_bytes_ -= slot->reserved;
  slot->reserved = 0;
  queued_bytes_ += bytes.size();
  slot->bytes = std::move(bytes);
  flush();
  update_backpressure();
}

void Connection::skip(std::uint64_t sequence) {
  if (closing_) return;
  Slot* slot = find_pending(sequence, "skip");
  if (slot == nullptr) return;
  slot->state = SlotState::kSkipped;
  --pending_count_;
  queued_bytes_ -= slot->reserved;
  slot->reserved = 0;
  flush();
  update_backpressure();
}

void Connection::reserve_response(std::uint64_t sequence, std::size_t bytes) {
  if (closing_) return;
  Slot* slot = find_pending(sequence, "reservation");
  if (slot == nullptr) return;
  slot->reserved += bytes;
  queued_bytes_ += bytes;
  update_backpressure();
}

void Connection::flush() {
  if (closing_ || writing_) return;
  write_buffers_.clear();
  write_bufs_.clear();
  write_bytes_ = 0;
  while (!slots_.empty() && write_buffers_.size() < kMaxBuffersPerWrite) {
    Slot& slot = slots_.front();
    if (slot.state == SlotState::kPending) break;
    if (slot.state == SlotState::kReady && !slot.bytes.empty()) {
      write_bytes_ += slot.bytes.size();
      write_buffers_.push_back(std::move(slot.bytes));
    }
    slots_.pop_front();
    ++front_sequence_;
  }
  if (write_buffers_.empty()) return;
  for (auto& b : write_buffers_) {
    write_bufs_.push_back(
        uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(b.size())));
  }
  write_req_.data = this;
  int rc = uv_write(&write_req_, stream(), write_bufs_.data(),
                    static_cast<unsigned>(write_bufs_.size()), on_write);
  if (rc != 0) {
    close(LogLevel::kWarn, "write failed: %s", uv_strerror(rc));
    return;
  }
  writing_ = true;
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  self->guarded([self, status] { self->handle_write(status); });
}

void Connection::handle_write(int status) {
  // libuv cancels a write in flight on uv_close and runs this callback
  // before the close callback, so `this` is still alive here.
  writing_ = false;
  if (status >= 0) touch();
  queued_bytes_ -= write_bytes_;
  write_bytes_ = 0;
  write_buffers_.clear();
  write_bufs_.clear();
  if (closing_ || status == UV_ECANCELED) return;
  if (status < 0) {
    if (status == UV_EPIPE || status == UV_ECONNRESET) {
      close(LogLevel::kDebug, "peer went away while writing: %s", uv_strerror(status));
    } else {
      close(LogLevel::kWarn, "write failed: %s", uv_strerror(status));
    }
    return;
  }
  flush();
  update_backpressure();
}

}  // namespace kgw
