// UnregisterBroker (key 64): forget a broker that is gone for good
// (KIP-631). The metadata log checks and decides it: an unknown id is
// BROKER_ID_NOT_REGISTERED; a live broker (its session open) is refused
// with INVALID_REQUEST, where Kafka would unregister it and let it register
// again, since in kgw its session key would keep it listed; on one node
// the only broker is this one, so every id is one of those two.
#include <memory>
#include <string>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {
struct UnregisterCall : PendingAnswer<UnregisterBrokerResponse> {
  std::string message;
};
}  // namespace

void handle_unregister_broker(HandlerContext& ctx, RequestPtr req) {
  UnregisterBrokerRequest body;
  if (!ctx.decode(*req, body)) return;
  auto call = std::make_shared<UnregisterCall>();
  call->req = req;
  ctx.metadata().submit(UnregisterBroker{body.broker_id},
                        [&ctx, call](ErrorCode e, std::string message) {
                          if (e != ErrorCode::kNone) {
                            call->resp.error_code = code(e);
                            call->message = std::move(message);
                            call->resp.error_message = call->message;
                          }
                          finish_one(ctx, *call);
                        });
}

}  // namespace kgw
