// Broker: turns request frames from `net` into calls of the per-API handlers
// (src/broker/handlers/, one file per Kafka API), which answer through the
// HandlerContext it builds for them (handler_context.h). It owns the
// PartitionResolver and the ReplicaManager (src/replica/).
//
// The happy path is: net delivers a frame -> the header is decoded -> the
// API and version are checked against what we serve -> the handler decodes
// the body, answers at once or after storage completes -> respond() encodes
// the response header and body and hands the frame to net, which sends it in
// request order. Possible failure modes: a frame too short for a header, an
// unknown api key or a malformed body (the connection is closed with a log
// line naming the peer and reason, as Kafka does); an unsupported version
// (ApiVersions answers UNSUPPORTED_VERSION at v0; other APIs close the
// connection, as Kafka does).
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "protocol/wire/error_code.h"
#include "protocol/wire/headers.h"
#include "src/broker/broker_config.h"
#include "src/broker/handler_context.h"
#include "src/broker/responder.h"

namespace kgw {

class PartitionResolver;
class ReplicaManager;

class Broker {
 public:
  Broker(uv_loop_t* loop, Responder& responder, Store& store, BrokerServices services,
         BrokerConfig& config, BrokerIdentity identity);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  void on_frame(InboundFrame&& frame);
  // Stop timers of waiting fetches (they answer at once) and of the group
  // coordinator; call before the server and store stop.
  void stop();

  // What handlers get (handler_context.h).
  HandlerContext& context() { return *context_; }
  const PartitionResolver& resolver() const { return *resolver_; }
  ReplicaManager& replicas() { return *replicas_; }

 private:
  void dispatch(RequestPtr req);

  Responder& responder_;
  Store& store_;
  BrokerServices services_;
  BrokerConfig& config_;
  BrokerIdentity identity_;
  std::unique_ptr<PartitionResolver> resolver_;
  std::unique_ptr<ReplicaManager> replicas_;
  std::unique_ptr<HandlerContext> context_;
};

}  // namespace kgw
