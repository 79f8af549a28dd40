// FindCoordinator (key 10): the broker that coordinates a group or a
// transactional id, as coordinator_placement.h places it: the leader of the
// key's partition of `__consumer_offsets` / `__transaction_state` when that
// topic exists, else (one node, every data dir today) this node, at the
// address the metadata image has for it. Single key up to v3, batched keys
// from v4. A key whose partition has no live leader is
// COORDINATOR_NOT_AVAILABLE, which clients retry.
#include <algorithm>
#include <string>

#include "all_messages.h"
#include "common/log.h"
#include "src/broker/coordinator_topics.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/coordinator_placement.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {

struct Found {
  ErrorCode error = ErrorCode::kNone;
  std::int32_t node = -1;
  AdvertisedAddress endpoint;
};

// The coordinator of `key` (of a known type, not empty). The endpoint
// points into `image` or the broker's identity.
Found find(HandlerContext& ctx, const RequestContext& req, const MetadataImage& image,
           CoordinatorType type, std::string_view key) {
  Found f;
  if (ctx.identity().clustered && !image.topic(coordinator_topic(type))) {
    // As Kafka: the internal topic is made on first use
    // (coordinator_topics.h); until it is there, clients retry.
    request_coordinator_topic(ctx.metadata(), ctx.config(), type);
    f.error = ErrorCode::kCoordinatorNotAvailable;
    return f;
  }
  const CoordinatorPlacement placed = place_coordinator(image, type, key, ctx.identity().node_id);
  // This node not registered yet (main registers it before serving), or
  // the key's partition without a live leader: no coordinator to name.
  const BrokerImage* node = placed.node >= 0 ? image.broker(placed.node) : nullptr;
  if (node == nullptr) {
    f.error = ErrorCode::kCoordinatorNotAvailable;
    return f;
  }
  f.node = node->id;
  f.endpoint = advertised_endpoint(ctx, req, *node);
  return f;
}

}  // namespace

void handle_find_coordinator(HandlerContext& ctx, RequestPtr req) {
  FindCoordinatorRequest body;
  if (!ctx.decode(*req, body)) return;
  FindCoordinatorResponse resp;
  const ImagePtr image = ctx.metadata().image();
  const bool known_type = body.key_type == 0 || body.key_type == 1;
  const auto type = static_cast<CoordinatorType>(body.key_type);
  if (req->version() < 4) {
    if (!known_type) {
      resp.error_code = code(ErrorCode::kInvalidRequest);
      resp.error_message = "Unknown coordinator key type";
    } else if (body.key.empty()) {
      resp.error_code =
          code(body.key_type == 0 ? ErrorCode::kInvalidGroupId : ErrorCode::kInvalidRequest);
    } else if (const Found f = find(ctx, *req, *image, type, body.key);
               f.error != ErrorCode::kNone) {
      resp.error_code = code(f.error);
    } else {
      resp.node_id = f.node;
      resp.host = f.endpoint.host;
      resp.port = f.endpoint.port;
      resp.error_message = std::nullopt;
    }
    if (resp.error_code != 0) {
      resp.node_id = -1;
      resp.port = -1;
    }
  } else {
    for (auto key : body.coordinator_keys) {
      auto& c = resp.coordinators.emplace_back();
      c.key = key;
      if (!known_type || key.empty()) {
        c.error_code = code(!known_type ? ErrorCode::kInvalidRequest
                                        : (body.key_type == 0 ? ErrorCode::kInvalidGroupId
                                                              : ErrorCode::kInvalidRequest));
        c.node_id = -1;
        c.port = -1;
        continue;
      }
      const Found f = find(ctx, *req, *image, type, key);
      if (f.error != ErrorCode::kNone) {
        c.error_code = code(f.error);
        c.node_id = -1;
        c.port = -1;
        continue;
      }
      c.node_id = f.node;
      c.host = f.endpoint.host;
      c.port = f.endpoint.port;
      c.error_message = std::nullopt;
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
