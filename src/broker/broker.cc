#include "src/broker/broker.h"

#include "src/proxy/upstream.h"

#include "all_messages.h"
#include "api_table.h"
#include "common/log.h"
#include "src/broker/admission.h"
#include "src/broker/append_policy.h"
#include "src/broker/config_changes.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/store.h"

namespace kgw {

Broker::Broker(uv_loop_t* loop, Responder& responder, Store& store, BrokerServices services,
               BrokerConfig& config, BrokerIdentity identity)
    : responder_(responder),
      store_(store),
      services_(services),
      config_(config),
      identity_(std::move(identity)),
      resolver_(std::make_unique<PartitionResolver>(store, services.metadata, identity_.node_id)),
      replicas_(std::make_unique<ReplicaManager>(
          loop, store, services.producers, services.txns,
          [this](const TopicInfo& t) { return append_policy(config_, t.configs); })) {
  // Proxy mode: topics this node does not have may be the legacy cluster's.
  resolver_->set_upstream(services.upstream);
  DecodeLimits limits;
  limits.max_bytes = static_cast<std::size_t>(config_.get_long("socket.request.max.bytes"));
  const std::int64_t queued = config_.get_long("queued.max.request.bytes");
  context_ = std::make_unique<HandlerContext>(
      HandlerServices{loop, store, services.metadata, *resolver_, *replicas_, services.groups,
                      services.offsets, services.txns, services.producers, config_, identity_,
                      services.upstream},
      responder_, limits, queued < 0 ? SIZE_MAX : static_cast<std::size_t>(queued));
  // The dynamic broker configs come from the metadata image: before the
  // topics' log policies are resolved from them, and again each time a
  // change to them is applied.
  follow_dynamic_broker_configs(*context_);
  store_.set_policy_resolver([this](const TopicInfo& t) { return config_.log_policy(t.configs); });
  store_.set_maintenance(config_.maintenance());
  responder_.set_closed_handler([this](ConnectionId id) { replicas_->forget_connection(id); });
}

Broker::~Broker() {
  stop();
}

ErrorCode fenced_for_version(ErrorCode e, std::int16_t version, std::int16_t first_version) {
  return e == ErrorCode::kProducerFenced && version < first_version
             ? ErrorCode::kInvalidProducerEpoch
             : e;
}

std::string client_host(const RequestContext& req) {
  // The peer is "1.2.3.4:port" or "[::1]:port".
  std::string host = req.peer();
  const auto colon = host.rfind(':');
  if (colon != std::string::npos) host.resize(colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return "/" + host;
}

AdvertisedAddress advertised_endpoint(const HandlerContext& ctx, const RequestContext& req,
                                      const BrokerImage& node) {
  const BrokerIdentity& id = ctx.identity();
  if (node.id != id.node_id) return {node.host, node.port};
  auto it = id.listener_endpoints.find(req.session().listener);
  if (it != id.listener_endpoints.end()) return {it->second.host, it->second.port};
  return {id.advertised_host, id.advertised_port};
}

void Broker::stop() {
  responder_.set_closed_handler(nullptr);
  replicas_->stop();
  services_.txns.stop();
  services_.groups.stop();
  services_.offsets.stop();
}

void Broker::on_frame(InboundFrame&& frame) {
  auto req = std::make_shared<RequestContext>();
  if (!frame.session) {
    // A frame from outside a Server (the fuzz target): a PLAINTEXT session.
    frame.session = std::make_shared<Session>();
    frame.session->peer = frame.peer ? *frame.peer : std::string("?");
  }
  req->frame = std::move(frame);
  req->frame.peer = nullptr;  // only valid during the net callback
  dispatch(std::move(req));
}

void HandlerContext::produce_started(const RequestContext& req) {
  produce_bytes_ += req.frame.bytes.size();
  if (produce_bytes_ > max_produce_bytes_) responder_.hold(req.frame.connection);
}

void HandlerContext::produce_finished(const RequestContext& req) {
  produce_bytes_ -= req.frame.bytes.size();
  if (produce_bytes_ <= max_produce_bytes_ / 2 && responder_.held_count() != 0) {
    responder_.release_held();
  }
}

void Broker::dispatch(RequestPtr req) {
  HandlerContext& ctx = *context_;
  std::int16_t key = 0, version = 0;
  if (!peek_api(Bytes(req->frame.bytes), key, version)) {
    ctx.close(*req, "frame of " + std::to_string(req->frame.bytes.size()) +
                        " bytes is shorter than a request header");
    return;
  }
  // The session's rules come before any handler (SASL before
  // authentication, per-listener rules).
  if (std::string why = admit(req->session(), key); !why.empty()) {
    ctx.close(*req, why);
    return;
  }
  const ApiInfo* api = find_api(key);
  const ServedApi* served = find_served_api(key);
  if (api == nullptr || served == nullptr) {
    ctx.close(*req, "unknown or unsupported api key " + std::to_string(key));
    return;
  }
  const std::int16_t min_version = served_min_version(*served, api->min_version);
  if (version < min_version || version > api->max_version) {
    if (key == ApiVersionsRequest::api_key) {
      // Kafka's rule: answer any ApiVersions version, at v0, with
      // UNSUPPORTED_VERSION and our ranges, so the client can retry with
      // one we speak. Only the correlation id is needed from the header.
      Reader r{Bytes(req->frame.bytes)};
      req->header.api_key = r.i16();
      req->header.api_version = r.i16();
      req->header.correlation_id = r.i32();
      req->body_offset = req->frame.bytes.size();
      served->handler(ctx, std::move(req));
      return;
    }
    ctx.close(*req, std::string("unsupported ") + api->name + " version " +
                        std::to_string(version) + " (we speak " + std::to_string(min_version) +
                        "-" + std::to_string(api->max_version) + ")");
    return;
  }
  Reader r(Bytes(req->frame.bytes), ctx.decode_limits());
  if (!req->header.decode(r, request_header_version(key, version))) {
    ctx.close(*req, std::string("malformed request header: ") + decode_error_name(r.error()));
    return;
  }
  req->body_offset = r.consumed();
  LOG_DEBUG("broker", "%s: %s v%d correlation %d", req->peer().c_str(), api->name, version,
            req->header.correlation_id);
  served->handler(ctx, std::move(req));
}

}  // namespace kgw
