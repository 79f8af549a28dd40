// DescribeCluster (key 60): this node is the whole cluster and its controller.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_describe_cluster(Broker& broker, RequestPtr req) {
  DescribeClusterRequest body;
  if (!broker.decode(*req, body)) return;
  DescribeClusterResponse resp;
  const auto& id = broker.identity();
  resp.endpoint_type = body.endpoint_type;
  if (body.endpoint_type != 1 && body.endpoint_type != 2) {
    resp.error_code = code(ErrorCode::kUnsupportedEndpointType);
    resp.error_message = "Unsupported endpoint type";
    broker.respond(*req, resp);
    return;
  }
  resp.cluster_id = id.cluster_id;
  resp.controller_id = id.node_id;
  auto& b = resp.brokers.emplace_back();
  b.broker_id = id.node_id;
  auto endpoint = id.advertised(req->session().listener);
  b.host = std::move(endpoint.host);
  b.port = endpoint.port;
  if (body.include_cluster_authorized_operations) {
    // No ACLs yet: every cluster operation is allowed. Bits are Kafka's
    // AclOperation codes: ALTER(7) DESCRIBE(8) CLUSTER_ACTION(9)
    // DESCRIBE_CONFIGS(10) ALTER_CONFIGS(11) IDEMPOTENT_WRITE(12) CREATE(5).
    resp.cluster_authorized_operations =
        (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
  }
  broker.respond(*req, resp);
}

}  // namespace kgw
