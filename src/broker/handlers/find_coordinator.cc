// FindCoordinator (key 10): on one node, this node coordinates every group
// and transactional id, at the address the metadata image has for it. Single key up to v3, batched
// keys from v4.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

void handle_find_coordinator(HandlerContext& ctx, RequestPtr req) {
  FindCoordinatorRequest body;
  if (!ctx.decode(*req, body)) return;
  FindCoordinatorResponse resp;
  const ImagePtr image = ctx.metadata().image();
  // Not registered yet (main registers this node before serving): no
  // coordinator to name.
  const BrokerImage* self = image->broker(ctx.identity().node_id);
  const AdvertisedAddress endpoint =
      self != nullptr ? advertised_endpoint(ctx, *req, *self) : AdvertisedAddress{};
  const bool known_type = body.key_type == 0 || body.key_type == 1;
  if (req->version() < 4) {
    if (!known_type) {
      resp.error_code = code(ErrorCode::kInvalidRequest);
      resp.error_message = "Unknown coordinator key type";
    } else if (body.key.empty()) {
      resp.error_code =
          code(body.key_type == 0 ? ErrorCode::kInvalidGroupId : ErrorCode::kInvalidRequest);
    } else if (self == nullptr) {
      resp.error_code = code(ErrorCode::kCoordinatorNotAvailable);
    } else {
      resp.node_id = self->id;
      resp.host = endpoint.host;
      resp.port = endpoint.port;
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
      if (self == nullptr) {
        c.error_code = code(ErrorCode::kCoordinatorNotAvailable);
        c.node_id = -1;
        c.port = -1;
        continue;
      }
      c.node_id = self->id;
      c.host = endpoint.host;
      c.port = endpoint.port;
      c.error_message = std::nullopt;
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
