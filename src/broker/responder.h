// Responder: the calls the Broker makes on whatever carries its answers back
// to clients. In kgw that is the net Server (ServerResponder below forwards
// to it); in handler unit tests it is a fake that records the frames, so
// handlers run without sockets.
//
// Threads: the loop thread only, as the Server. The happy path: a request
// (connection, sequence) is answered by exactly one respond() or skip(),
// in any order; net sends the answers in request order. Failure modes: a
// call naming a connection that is gone does nothing (the answer is
// dropped), as with the Server; close_connection() of a malformed request's
// connection drops the answers still owed on it.
//
// The interface lives in src/broker, not src/net: it is the broker's port
// to its transport (the proxy and handler tests plug in other ones), and
// net stays ignorant of the layer above it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "src/net/server.h"

namespace kgw {

class Responder {
 public:
  using ClosedHandler = std::function<void(ConnectionId)>;

  virtual ~Responder() = default;

  // Queue the response frame (with its 4-byte size prefix) for request
  // `sequence` on `connection`.
  virtual void respond(ConnectionId connection, std::uint64_t sequence,
                       std::vector<std::uint8_t> frame) = 0;
  // The request gets no response (acks=0 produce).
  virtual void skip(ConnectionId connection, std::uint64_t sequence) = 0;
  // The response to `sequence` may be up to `bytes` large: count it against
  // the connection's queued-response limit until answered.
  virtual void reserve_response(ConnectionId connection, std::uint64_t sequence,
                                std::size_t bytes) = 0;
  // Close the connection (malformed request), naming the reason.
  virtual void close_connection(ConnectionId connection, const std::string& reason) = 0;
  // Stop reading `connection` until release_held() (produce backpressure).
  virtual void hold(ConnectionId connection) = 0;
  virtual void release_held() = 0;
  virtual std::size_t held_count() const = 0;
  // Called once per connection after it is gone; nullptr clears it.
  virtual void set_closed_handler(ClosedHandler on_closed) = 0;
};

// The Responder of a running kgw: forwards to the net Server (owned by
// main, which outlives the adapter).
class ServerResponder final : public Responder {
 public:
  explicit ServerResponder(Server& server) : server_(server) {}

  void respond(ConnectionId connection, std::uint64_t sequence,
               std::vector<std::uint8_t> frame) override {
    server_.respond(connection, sequence, std::move(frame));
  }
  void skip(ConnectionId connection, std::uint64_t sequence) override {
    server_.skip(connection, sequence);
  }
  void reserve_response(ConnectionId connection, std::uint64_t sequence,
                        std::size_t bytes) override {
    server_.reserve_response(connection, sequence, bytes);
  }
  void close_connection(ConnectionId connection, const std::string& reason) override {
    server_.close_connection(connection, reason);
  }
  void hold(ConnectionId connection) override { server_.hold(connection); }
  void release_held() override { server_.release_held(); }
  std::size_t held_count() const override { return server_.held_count(); }
  void set_closed_handler(ClosedHandler on_closed) override {
    server_.set_closed_handler(std::move(on_closed));
  }

 private:
  Server& server_;
};

}  // namespace kgw
