// Server: the libuv TCP listeners and their connections (the `net` layer).
//
// Ownership and threading, in order:
// 1. Everything here runs on the one loop thread that owns the uv_loop_t.
// 2. The Server owns its Connections; a Connection frees itself in the
//    uv_close callback, never earlier.
// 3. Above `net`, a connection is only a ConnectionId (never reused). Work
//    that completes later calls respond()/skip() with that id and the
//    request's sequence number; if the connection is gone meanwhile, the
//    call does nothing.
// 4. Responses on one connection leave in request order: each frame gets a
//    slot in a FIFO when it arrives; a slot's bytes are written once every
//    slot before it is written (or skipped, for requests that get no
//    response such as acks=0 produce).
// 5. Backpressure: a connection stops reading while its unanswered requests
//    or its unsent and reserved response bytes are over their limits, and
//    resumes below half of them.
// 6. Limits on connections (Kafka's names): connections.max.idle.ms closes
//    a connection with no bytes read or written for that long (a half-sent
//    request included; one waiting for the layer above's answer excepted);
//    max.connections and max.connections.per.ip(.overrides) close new
//    connections over them at once.
// 7. The Server is destroyed only after stop()'s `done` has run, or when
//    start() never succeeded (a failed start() leaves no handle in the
//    loop). Destroying it with handles still open is a programmer error and
//    aborts, because libuv would later touch the freed handles.
// 8. Listeners: the Server binds every listener in ServerOptions (all or
//    none: a start() that fails on one leaves none bound); each connection
//    carries a Session naming the listener it came in on, shared with every
//    frame it delivers.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/net/listener.h"
#include "src/net/session.h"

namespace kgw {

using ConnectionId = std::uint64_t;

struct ServerOptions {
  // The listeners to bind, in order; empty: one PLAINTEXT listener named
  // PLAINTEXT on host:port.
  std::vector<ListenerConfig> listeners;
  std::string host = "127.0.0.1";  // Default: 127.0.0.1
  int port = 9092;                 // Default: 9092; 0 picks a free port
  // Largest request frame accepted (socket.request.max.bytes). Default: 100 MiB.
  std::size_t max_frame_bytes = 100u << 20;
  // Stop reading a connection with this many requests unanswered. Default: 1000.
  std::size_t max_inflight_requests = 1000;
  // Stop reading while this many response bytes wait to be sent or are
  // reserved by requests being answered. Default: 64 MiB.
  std::size_t max_queued_response_bytes = 64u << 20;
  // Close a connection with no bytes read or written for this long
  // (connections.max.idle.ms); negative: never. Default: 600000 (10 min).
  std::int64_t connections_max_idle_ms = 600000;
  // Connections open at once (max.connections); new ones over it are
  // closed. Default: 2147483647.
  std::size_t max_connections = 2147483647;
  // Connections open at once from one IP address (max.connections.per.ip).
  // Default: 2147483647.
  std::size_t max_connections_per_ip = 2147483647;
  // Per-address exceptions to it, by IP literal
  // (max.connections.per.ip.overrides). Default: none.
  std::unordered_map<std::string, std::size_t> max_connections_per_ip_overrides;
};

// Parses max.connections.per.ip.overrides, "IP:COUNT,IP:COUNT" (IPv6 in
// brackets or not; Kafka also takes host names, we take IP literals only).
// Returns false with one line in `error` naming the bad entry.
bool parse_connection_overrides(const std::string& text,
                                std::unordered_map<std::string, std::size_t>& out,
                                std::string& error);

// What `net` hands upward: one whole request frame (without the 4-byte size
// prefix), in arrival order per connection.
struct InboundFrame {
  ConnectionId connection = 0;
  std::uint64_t sequence = 0;         // per connection, 0, 1, 2, ...
  const std::string* peer = nullptr;  // "ip:port", valid during the call
  std::vector<std::uint8_t> bytes;
  // The connection's session (listener, peer, principal); shared by every
  // frame of the connection, and kept alive by whoever holds a frame.
  std::shared_ptr<Session> session;
};

class Connection;

class Server {
 public:
  using FrameHandler = std::function<void(InboundFrame&&)>;

  using ClosedHandler = std::function<void(ConnectionId)>;

  Server(uv_loop_t* loop, ServerOptions options, FrameHandler on_frame);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on every listener; on failure returns a one-line
  // reason naming the address (e.g. "127.0.0.1:9092: address already in
  // use") and leaves none bound.
  bool start(std::string& error);
  // The port actually bound by the first listener (useful with port 0).
  int port() const { return port(0); }
  // The port actually bound by listener `index` (0 before start()).
  int port(std::size_t index) const {
    return index < listeners_.size() ? listeners_[index]->bound_port : 0;
  }
  // The listeners, as configured (ServerOptions::listeners, or the one made
  // from host and port), in order.
  const std::vector<ListenerConfig>& listeners() const { return options_.listeners; }

  // Queue the response for request `sequence` on `connection`: `bytes` is
  // the whole response frame including its 4-byte size prefix.
  void respond(ConnectionId connection, std::uint64_t sequence, std::vector<std::uint8_t> bytes);
  // The request gets no response (acks=0 produce); later ones may go out.
  void skip(ConnectionId connection, std::uint64_t sequence);
  // The response to `sequence` is being produced and may be up to `bytes`
  // large (a fetch reading up to its max bytes): count it against the
  // connection's max_queued_response_bytes until respond()/skip(), so
  // pipelined requests whose answers pile up stop the connection's reading
  // before their answers exist.
  void reserve_response(ConnectionId connection, std::uint64_t sequence, std::size_t bytes);
  // Close one connection (malformed request, protocol violation), logging
  // the peer and the reason.
  void close_connection(ConnectionId connection, const std::string& reason);

  // Stop accepting and close every connection; `done` runs on the loop once
  // all handles are closed (before stop() returns if nothing was open, e.g.
  // start() never succeeded or the server is already stopped). `done` may
  // destroy the Server.
  void stop(std::function<void()> done);

  std::size_t connection_count() const { return connections_.size(); }

  // The layer above stops reading from a connection until release_held()
  // (the store's write queue is over its bound: producing connections wait
  // for it to drain). Frames already read wait too. Independent of the
  // connection's own backpressure.
  void hold(ConnectionId connection);
  void release_held();
  std::size_t held_count() const { return held_.size(); }
  // Size of the one read buffer every connection reads into.
  static constexpr std::size_t kReadBufferBytes = 64 * 1024;

  // Called once per connection after it is gone, so the layer above can
  // drop work it keeps for it (waiting fetches hold whole request frames).
  void set_closed_handler(ClosedHandler on_closed) { on_closed_ = std::move(on_closed); }

 private:
  friend class Connection;
  // One bound listener: its libuv handle (data points here) and config.
  struct Listening {
    Server* server = nullptr;
    const ListenerConfig* config = nullptr;  // in options_.listeners
    uv_tcp_t handle{};
    int bound_port = 0;
    bool closed = false;  // its close callback ran
  };
  static void on_connection(uv_stream_t* server, int status);
  static void on_listener_closed(uv_handle_t* handle);
  static void on_resume_idle(uv_idle_t* idle);
  static void on_idle_closed(uv_handle_t* handle);
  static void on_sweep(uv_timer_t* timer);
  static void on_sweep_closed(uv_handle_t* handle);
  // Counts a new connection against the caps; returns why not when over.
  std::string admit(Connection& conn);
  // Called from a Connection's close callback before it frees itself.
  void release(const Connection& conn);
  void sweep_idle();
  void accept_one(Listening& listening);
  bool listeners_closed() const;
  // Called from a Connection's close callback, after it freed itself.
  void forget(ConnectionId id);
  void maybe_finish_stop();
  // A connection fell below its backpressure limits with frames already
  // read but not delivered; deliver them from an idle callback rather than
  // from inside respond(), so the frame handler is never re-entered.
  void schedule_resume(ConnectionId id);

  uv_loop_t* loop_;
  ServerOptions options_;
  FrameHandler on_frame_;
  ClosedHandler on_closed_;
  // Stable addresses: libuv holds pointers to the handles.
  std::vector<std::unique_ptr<Listening>> listeners_;
  bool listening_ = false;
  bool stopping_ = false;
  ConnectionId next_id_ = 1;
  // Every Connection whose close callback has not run yet, closing or not.
  std::unordered_map<ConnectionId, Connection*> connections_;
  std::function<void()> stop_done_;
  bool listener_closing_ = false;
  bool stopped_ = false;  // stop() finished and ran its `done`
  uv_idle_t resume_idle_{};
  bool idle_open_ = false;
  bool idle_active_ = false;
  bool idle_closed_ = false;
  // At most one entry per connection (Connection::resume_scheduled_).
  std::vector<ConnectionId> resume_queue_;
  std::vector<ConnectionId> held_;
  // Every connection reads into this, and parses it before the next read.
  std::vector<std::uint8_t> read_buffer_ = std::vector<std::uint8_t>(kReadBufferBytes);
  // connections.max.idle.ms: a periodic sweep.
  uv_timer_t sweep_timer_{};
  bool sweep_open_ = false;
  bool sweep_closed_ = false;
  // The connection caps: admitted connections, in all and per IP.
  std::size_t admitted_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::size_t refused_unlogged_ = 0;
  std::uint64_t refusal_logged_ms_ = 0;
};

}  // namespace kgw
