// DeleteAcls (key 31): no authorizer (see create_acls.cc), so
// SECURITY_DISABLED for each filter, as a Kafka broker without one answers.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_delete_acls(HandlerContext& ctx, RequestPtr req) {
  DeleteAclsRequest body;
  if (!ctx.decode(*req, body)) return;
  DeleteAclsResponse resp;
  for (std::size_t i = 0; i < body.filters.size(); ++i) {
    auto& r = resp.filter_results.emplace_back();
    r.error_code = code(ErrorCode::kSecurityDisabled);
    r.error_message = "No Authorizer is configured on the broker";
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
