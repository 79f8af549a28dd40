// HandlerContext: what a handler may use, and nothing else. Handlers
// (src/broker/handlers/) get it instead of the Broker: the seams they go
// through (the metadata log and image, the PartitionResolver, the
// ReplicaManager), the coordinators, the configs and this node's identity,
// and the calls that answer a request (decode, respond, skip, close,
// reserve_response, the produce backpressure count) through a Responder.
// A handler unit test builds one from its parts with a fake Responder and
// an in-memory store (tests/broker/handler_fixture.h); no socket, no
// Broker needed.
//
// Threads: the loop thread only, as every handler.
//
// The happy path of an answer: decode() the body -> the handler's work ->
// respond() encodes the response header (the version the request's API
// and version call for) and body and hands the frame to the Responder,
// which sends it in request order. Failure modes: a body that does not
// decode, or a response over the 2 GiB a Kafka frame can carry: the
// connection is closed, naming why.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "protocol/wire/error_code.h"
#include "protocol/wire/headers.h"
#include "src/broker/broker_config.h"
#include "src/broker/responder.h"
#include "src/broker/response_frame.h"
#include "src/net/server.h"

namespace kgw {

class Store;
class GroupCoordinator;
class OffsetManager;
class TransactionCoordinator;
class ProducerStateManager;
class MetadataLog;
class PartitionResolver;
class ReplicaManager;
class Upstream;

// One request: the frame (which decoded views point into), its header and
// its connection's session (never null once dispatched).
struct RequestContext {
  InboundFrame frame;
  RequestHeader header;
  std::size_t body_offset = 0;

  std::int16_t api_key() const { return header.api_key; }
  std::int16_t version() const { return header.api_version; }
  Bytes body() const { return Bytes(frame.bytes).subspan(body_offset); }
  const std::string& peer() const { return frame.session->peer; }
  // The listener, peer and principal of the connection this came on.
  Session& session() const { return *frame.session; }
};
// Handlers that wait for storage keep the request (and so the frame the
// decoded views point into) alive by sharing it with their completions.
using RequestPtr = std::shared_ptr<RequestContext>;

// The domain services the handlers call, owned by main.
struct BrokerServices {
  GroupCoordinator& groups;
  OffsetManager& offsets;
  TransactionCoordinator& txns;
  ProducerStateManager& producers;
  MetadataLog& metadata;
  // Proxy mode (issue 17): the legacy cluster; nullptr otherwise.
  Upstream* upstream = nullptr;
};

// Who this node is and how clients reach it.
struct BrokerIdentity {
  struct Endpoint {
    std::string host;
    std::int32_t port = 0;
  };
  std::int32_t node_id = 1;
  // Part of a cluster (metadata in etcd), not a single node.
  bool clustered = false;
  // The first listener's advertised address.
  std::string advertised_host = "127.0.0.1";
  std::int32_t advertised_port = 9092;
  std::string cluster_id;
  // Each listener's advertised address, by listener name (as Kafka, a
  // client is told the address of the listener it asked on).
  std::map<std::string, Endpoint> listener_endpoints;

  Endpoint advertised(const std::string& listener) const {
    auto it = listener_endpoints.find(listener);
    return it != listener_endpoints.end() ? it->second : Endpoint{advertised_host, advertised_port};
  }
};

// The services a handler may call. Each is owned elsewhere (main.cc, the
// Broker) and outlives the context.
struct HandlerServices {
  uv_loop_t* loop;
  // The partition logs, for reads the ReplicaManager does not wrap yet
  // (Fetch, ListOffsets by time, DeleteRecords, DescribeLogDirs).
  Store& store;
  MetadataLog& metadata;
  const PartitionResolver& resolver;
  ReplicaManager& replicas;
  GroupCoordinator& groups;
  OffsetManager& offsets;
  TransactionCoordinator& txns;
  ProducerStateManager& producers;
  BrokerConfig& config;
  const BrokerIdentity& identity;
  // Proxy mode: the legacy cluster (src/proxy/upstream.h); nullptr otherwise.
  Upstream* upstream = nullptr;
};

class HandlerContext {
 public:
  // `decode_limits` bound what a request body may make us allocate
  // (socket.request.max.bytes); `max_produce_bytes` is
  // queued.max.request.bytes (SIZE_MAX: no bound).
  HandlerContext(HandlerServices services, Responder& responder, DecodeLimits decode_limits,
                 std::size_t max_produce_bytes)
      : services_(services),
        responder_(responder),
        decode_limits_(decode_limits),
        max_produce_bytes_(max_produce_bytes) {}
  HandlerContext(const HandlerContext&) = delete;
  HandlerContext& operator=(const HandlerContext&) = delete;

  // Encode `body` as the response to `req` and send it.
  template <typename Response>
  void respond(const RequestContext& req, const Response& body) {
    std::vector<std::uint8_t> frame;
    std::size_t size = 0;
    const std::int16_t hv = response_header_version(req.api_key(), req.version());
    ResponseHeader header;
    header.correlation_id = req.header.correlation_id;
    if (!encode_response_frame(header, hv, body, req.version(), frame, size)) {
      // Cannot happen with the fetch limits; nothing else to answer with.
      close(req, std::string(Response::api_name) + " response of " + std::to_string(size) +
                     " bytes is over the 2147483647 a Kafka frame can carry");
      return;
    }
    responder_.respond(req.frame.connection, req.frame.sequence, std::move(frame));
  }
  // The response to `req` may be up to `bytes` large: the connection counts
  // it against its queued-response limit until answered (Responder's
  // reserve_response), so pipelined fetches stop its reading early.
  void reserve_response(const RequestContext& req, std::size_t bytes) {
    responder_.reserve_response(req.frame.connection, req.frame.sequence, bytes);
  }
  // The request gets no response (acks=0 produce).
  void skip(const RequestContext& req) {
    responder_.skip(req.frame.connection, req.frame.sequence);
  }
  // Backpressure on produce (queued.max.request.bytes, as Kafka): the bytes
  // of Produce requests taken in and not yet answered (being checked on the
  // threadpool, waiting in line, or waiting for the writer). Over the
  // bound, the connection that sent the request is held (not read) until
  // the total is back to half of it; fetches and connections that do not
  // produce go on. The Produce handler calls started() once it has decoded
  // a request and finished() when it answers (or skips, for acks=0).
  void produce_started(const RequestContext& req);
  void produce_finished(const RequestContext& req);
  // Malformed input: close this connection, naming the reason.
  void close(const RequestContext& req, const std::string& reason) {
    responder_.close_connection(req.frame.connection, reason);
  }
  // Decode the request body as T; on failure closes the connection and
  // returns false.
  template <typename Request>
  bool decode(const RequestContext& req, Request& out) {
    Reader r(req.body(), decode_limits_);
    if (!out.decode(r, req.version())) {
      close(req, std::string("malformed ") + Request::api_name + " v" +
                     std::to_string(req.version()) + " request: " + decode_error_name(r.error()));
      return false;
    }
    return true;
  }
  const DecodeLimits& decode_limits() const { return decode_limits_; }

  uv_loop_t* loop() const { return services_.loop; }
  Store& store() { return services_.store; }
  MetadataLog& metadata() { return services_.metadata; }
  const PartitionResolver& resolver() const { return services_.resolver; }
  ReplicaManager& replicas() { return services_.replicas; }
  GroupCoordinator& groups() { return services_.groups; }
  OffsetManager& offsets() { return services_.offsets; }
  TransactionCoordinator& txns() { return services_.txns; }
  ProducerStateManager& producers() { return services_.producers; }
  BrokerConfig& config() { return services_.config; }
  const BrokerConfig& config() const { return services_.config; }
  const BrokerIdentity& identity() const { return services_.identity; }
  // nullptr unless in proxy mode.
  Upstream* upstream() const { return services_.upstream; }

 private:
  HandlerServices services_;
  Responder& responder_;
  DecodeLimits decode_limits_;
  std::size_t produce_bytes_ = 0;
  std::size_t max_produce_bytes_;
};

}  // namespace kgw
