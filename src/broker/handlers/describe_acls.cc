// DescribeAcls (key 29): no authorizer (see create_acls.cc), so
// SECURITY_DISABLED as a Kafka broker without one answers.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_describe_acls(Broker& broker, RequestPtr req) {
  DescribeAclsRequest body;
  if (!broker.decode(*req, body)) return;
  DescribeAclsResponse resp;
  resp.error_code = code(ErrorCode::kSecurityDisabled);
  resp.error_message = "No Authorizer is configured on the broker";
  broker.respond(*req, resp);
}

}  // namespace kgw
