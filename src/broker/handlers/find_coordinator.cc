// FindCoordinator (key 10): on one node, this node coordinates every group
// and transactional id. Single key up to v3, batched keys from v4.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_find_coordinator(Broker& broker, RequestPtr req) {
  FindCoordinatorRequest body;
  if (!broker.decode(*req, body)) return;
  FindCoordinatorResponse resp;
  const auto& id = broker.identity();
  const auto endpoint = id.advertised(req->session().listener);
  const bool known_type = body.key_type == 0 || body.key_type == 1;
  if (req->version() < 4) {
    if (!known_type) {
      resp.error_code = code(ErrorCode::kInvalidRequest);
      resp.error_message = "Unknown coordinator key type";
    } else if (body.key.empty()) {
      resp.error_code =
          code(body.key_type == 0 ? ErrorCode::kInvalidGroupId : ErrorCode::kInvalidRequest);
    } else {
      resp.node_id = id.node_id;
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
      c.node_id = id.node_id;
      c.host = endpoint.host;
      c.port = endpoint.port;
      c.error_message = std::nullopt;
    }
  }
  broker.respond(*req, resp);
}

}  // namespace kgw
