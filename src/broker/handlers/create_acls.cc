// CreateAcls (key 30): kgw has no authorizer yet (it comes with the
// security work), so it answers as a Kafka broker without one does:
// SECURITY_DISABLED, "No Authorizer is configured on the broker", for each
// binding. Storing ACLs that nothing enforces would let an operator
// believe a deny rule protects a topic.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/no_authorizer.h"

namespace kgw {

void handle_create_acls(HandlerContext& ctx, RequestPtr req) {
  answer_without_authorizer(ctx, *req, &CreateAclsRequest::creations, &CreateAclsResponse::results);
}

}  // namespace kgw
