// BrokerConnection: one outgoing Kafka-protocol TCP connection from this
// broker to another, on the libuv loop, for calls between brokers
// (WriteTxnMarkers from a transaction coordinator; replica fetchers next).
//
// The happy path is: the first call() resolves the address, connects
// (connect_timeout_ms), asks ApiVersions and keeps the peer's version
// ranges; each call is sent at the highest version both sides speak, with
// its own correlation id, and its answer (answers come back in request
// order, as every Kafka broker sends them) is decoded with the generated
// codec and handed to the caller's callback. Calls made before the
// connection is ready wait in a queue and leave in order once it is.
//
// Possible failure modes are, each answered exactly once through the
// call's callback and never by an exception:
//  - the address does not resolve, connect fails or takes longer than
//    connect_timeout_ms: every waiting call gets kConnectFailed; the next
//    attempt waits a backoff that doubles from reconnect_backoff_ms up to
//    reconnect_backoff_max_ms (reset by a connection that got ready);
//  - the peer closes, a read or write fails, a frame is over
//    max_frame_bytes or an answer does not decode: calls in flight get
//    kDisconnected (kDecodeFailed for the one that did not decode) and
//    the connection is dropped; queued calls wait for the next one;
//  - a call is not answered within request_timeout_ms: it gets kTimedOut
//    and, if it was sent, the connection is dropped with every other call
//    in flight (Kafka's NetworkClient does the same: answers come in
//    order, so nothing behind a lost answer would come back);
//  - the peer speaks no version of the API in our range: kUnsupportedVersion;
//  - close() (or the destructor): every call gets kClosed, nothing runs
//    afterwards, and later calls get kClosed at once.
// Callbacks run on the loop thread, never inside call(); a callback may
// make new calls or close() the connection, but must not destroy it.
//
// Ownership, libuv style: the socket and each write live in heap blocks
// freed by their own libuv callbacks, so the BrokerConnection may be
// destroyed (after close()) while they finish; the loop must run once more
// for that memory to be released.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/headers.h"
#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw {

struct BrokerConnectionOptions {
  // Default: "kgw-interbroker". The client id in every request header.
  std::string client_id = "kgw-interbroker";
  // Default: 10000. Resolving and connecting (Kafka's socket.connection.setup.timeout.ms).
  std::uint64_t connect_timeout_ms = 10000;
  // Default: 30000. One call, from call() to its answer (request.timeout.ms).
  std::uint64_t request_timeout_ms = 30000;
  // Default: 50 and 1000. Wait before the next connect after a failure,
  // doubling up to the max (reconnect.backoff.ms, reconnect.backoff.max.ms).
  std::uint64_t reconnect_backoff_ms = 50;
  std::uint64_t reconnect_backoff_max_ms = 1000;
  // Default: 104857600. Largest answer frame accepted.
  std::size_t max_frame_bytes = 100 * 1024 * 1024;
};

enum class CallError : std::uint8_t {
  kNone = 0,
  kConnectFailed,       // could not resolve or connect (or not in time)
  kDisconnected,        // the connection dropped before the answer came
  kTimedOut,            // no answer within request_timeout_ms
  kUnsupportedVersion,  // the peer speaks no version of the API we do
  kDecodeFailed,        // the answer did not decode
  kUnknownBroker,       // (InterBrokerClient) no such live broker in the image
  kClosed,              // the connection (or client) was closed
};
const char* call_error_name(CallError e);

class BrokerConnection {
 public:
  // `body`: the answer after its header, valid during the callback only.
  using RawDone = std::function<void(CallError, std::int16_t version, Bytes body)>;
  // Appends the request body at `version` to `out`.
  using Encode = std::function<void(Writer& out, std::int16_t version)>;

  BrokerConnection(uv_loop_t* loop, std::string host, std::int32_t port,
                   BrokerConnectionOptions options = {});
  ~BrokerConnection();
  BrokerConnection(const BrokerConnection&) = delete;
  BrokerConnection& operator=(const BrokerConnection&) = delete;

  // Sends `req` at the highest version both sides speak (at most
  // `max_version`); `done` gets the decoded answer (its strings are views
  // valid during the callback only) or the error.
  template <typename Req, typename Resp>
  void call(const Req& req, std::function<void(CallError, const Resp&)> done,
            std::int16_t max_version = Req::max_version) {
    send(
        Req::api_key, Req::min_version, max_version,
        [req](Writer& w, std::int16_t v) { req.encode(w, v); },
        [done = std::move(done)](CallError e, std::int16_t version, Bytes body) {
          Resp resp;
          if (e == CallError::kNone) {
            Reader r(body);
            if (!resp.decode(r, version)) e = CallError::kDecodeFailed;
          }
          done(e, resp);
        });
  }
  // The untyped call underneath: any API key, the version range we speak.
  void send(std::int16_t api_key, std::int16_t min_version, std::int16_t max_version, Encode encode,
            RawDone done);

  // A broker that moved: the next connection goes to the new address (the
  // current one, if any, is kept until it drops).
  void set_address(std::string host, std::int32_t port);
  const std::string& host() const { return host_; }
  std::int32_t port() const { return port_; }
  bool ready() const { return state_ == State::kReady; }
  // Calls waiting to be sent or answered.
  std::size_t pending() const { return queue_.size() + in_flight_.size(); }

  // Fails every call with kClosed; later calls fail at once.
  void close();

 private:
  enum class State : std::uint8_t { kIdle, kConnecting, kNegotiating, kReady, kBackoff, kClosed };
  struct Call {
    std::int16_t api_key = 0;
    std::int16_t min_version = 0;
    std::int16_t max_version = 0;
    std::int16_t version = 0;
    Encode encode;
    RawDone done;
    TimerQueue::Id timer = 0;
    std::uint64_t id = 0;
  };
  struct Socket;
  struct Resolve;

  void connect();
  void on_resolved(int status, const struct addrinfo* res);
  void on_connected(int status);
  void on_read(const char* data, std::size_t size);
  void handle_frame(Bytes frame);
  // Sends ApiVersions at api_versions_version_, ahead of every queued call.
  void send_api_versions();
  void on_api_versions(CallError e, std::int16_t version, Bytes body);
  // Drops the socket; calls in flight get `error`. Queued ones stay.
  void drop(CallError error, const std::string& why);
  void connect_failed(const std::string& why);
  // Lets go of the address lookup and the socket (their callbacks then do
  // nothing) and of the bytes read.
  void release_socket();
  // Sends queued calls while ready.
  void flush();
  void write_call(Call& c);
  void on_call_timeout(std::uint64_t id);
  void fail_all(CallError error);

  uv_loop_t* loop_;
  std::string host_;
  std::int32_t port_;
  BrokerConnectionOptions options_;
  TimerQueue timers_;
  State state_ = State::kIdle;
  Socket* socket_ = nullptr;
  Resolve* resolve_ = nullptr;
  TimerQueue::Id connect_timer_ = 0;
  TimerQueue::Id backoff_timer_ = 0;
  std::uint64_t backoff_ms_ = 0;
  std::int32_t next_correlation_ = 1;
  std::uint64_t next_call_id_ = 1;
  std::deque<Call> queue_;                  // not sent yet, in order
  std::map<std::int32_t, Call> in_flight_;  // by correlation id
  std::vector<std::uint8_t> read_buf_;
  // The peer's version ranges, by api key (from ApiVersions).
  std::map<std::int16_t, std::pair<std::int16_t, std::int16_t>> versions_;
  // The ApiVersions version we open with: our newest until the peer answers
  // UNSUPPORTED_VERSION (KIP-511), then the newest it names (kept across
  // reconnects to the same address).
  std::int16_t api_versions_version_;
};

}  // namespace kgw
