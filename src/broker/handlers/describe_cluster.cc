// DescribeCluster (key 60): the unfenced brokers of the metadata image and
// its controller (-1: none elected; on one node, this node), as Metadata
// names them.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

void handle_describe_cluster(HandlerContext& ctx, RequestPtr req) {
  DescribeClusterRequest body;
  if (!ctx.decode(*req, body)) return;
  DescribeClusterResponse resp;
  const auto& id = ctx.identity();
  resp.endpoint_type = body.endpoint_type;
  if (body.endpoint_type != 1 && body.endpoint_type != 2) {
    resp.error_code = code(ErrorCode::kUnsupportedEndpointType);
    resp.error_message = "Unsupported endpoint type";
    ctx.respond(*req, resp);
    return;
  }
  resp.cluster_id = id.cluster_id;
  const ImagePtr image = ctx.metadata().image();
  resp.controller_id = image->controller_id();
  for (const auto& [node, broker_image] : image->brokers()) {
    if (broker_image.fenced) continue;
    auto& b = resp.brokers.emplace_back();
    b.broker_id = node;
    auto endpoint = advertised_endpoint(ctx, *req, broker_image);
    b.host = endpoint.host;
    b.port = endpoint.port;
    if (broker_image.rack) b.rack = *broker_image.rack;
  }
  if (body.include_cluster_authorized_operations) {
    // No ACLs yet: every cluster operation is allowed. Bits are Kafka's
    // AclOperation codes: ALTER(7) DESCRIBE(8) CLUSTER_ACTION(9)
    // DESCRIBE_CONFIGS(10) ALTER_CONFIGS(11) IDEMPOTENT_WRITE(12) CREATE(5).
    resp.cluster_authorized_operations =
        (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
