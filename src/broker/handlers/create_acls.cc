// CreateAcls (key 30): kgw has no authorizer yet (it comes with the
// security work), so it answers as a Kafka broker without one does:
// SECURITY_DISABLED, "No Authorizer is configured on the broker", for each
// binding. Storing ACLs that nothing enforces would let an operator
// believe a deny rule protects a topic.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_create_acls(HandlerContext& ctx, RequestPtr req) {
  CreateAclsRequest body;
  if (!ctx.decode(*req, body)) return;
  CreateAclsResponse resp;
  for (std::size_t i = 0; i < body.creations.size(); ++i) {
    auto& r = resp.results.emplace_back();
    r.error_code = code(ErrorCode::kSecurityDisabled);
    r.error_message = "No Authorizer is configured on the broker";
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
