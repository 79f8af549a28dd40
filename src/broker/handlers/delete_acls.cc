// DeleteAcls (key 31): no authorizer (see create_acls.cc), so
// SECURITY_DISABLED for each filter, as a Kafka broker without one answers.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/no_authorizer.h"

namespace kgw {

void handle_delete_acls(HandlerContext& ctx, RequestPtr req) {
  answer_without_authorizer(ctx, *req, &DeleteAclsRequest::filters,
                            &DeleteAclsResponse::filter_results);
}

}  // namespace kgw
