// DescribeAcls (key 29): no authorizer (see create_acls.cc), so
// SECURITY_DISABLED as a Kafka broker without one answers.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/no_authorizer.h"

namespace kgw {

void handle_describe_acls(HandlerContext& ctx, RequestPtr req) {
  DescribeAclsRequest body;
  if (!ctx.decode(*req, body)) return;
  DescribeAclsResponse resp;
  resp.error_code = code(ErrorCode::kSecurityDisabled);
  resp.error_message = kNoAuthorizerMessage;
  ctx.respond(*req, resp);
}

}  // namespace kgw
