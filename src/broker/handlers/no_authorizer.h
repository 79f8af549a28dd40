// The answer of a Kafka broker without an authorizer to the ACL APIs
// (DescribeAcls, CreateAcls, DeleteAcls): SECURITY_DISABLED with Kafka's
// message. kgw has none until the security work (see create_acls.cc).
//
// Threads: the loop thread, as every handler. Failure modes: a body that
// does not decode closes the connection (HandlerContext::decode).
#pragma once

#include <cstddef>

#include "protocol/wire/error_code.h"
#include "src/broker/handler_context.h"

namespace kgw {

inline constexpr const char* kNoAuthorizerMessage = "No Authorizer is configured on the broker";

// Answers `req` with one SECURITY_DISABLED result in the response's
// `results` per entry of the request's `entries` (CreateAcls: a result
// per binding; DeleteAcls: a filter result per filter).
template <typename Request, typename Entries, typename Response, typename Results>
void answer_without_authorizer(HandlerContext& ctx, const RequestContext& req,
                               Entries Request::*entries, Results Response::*results) {
  Request body;
  if (!ctx.decode(req, body)) return;
  Response resp;
  for (std::size_t i = 0; i < (body.*entries).size(); ++i) {
    auto& r = (resp.*results).emplace_back();
    r.error_code = code(ErrorCode::kSecurityDisabled);
    r.error_message = kNoAuthorizerMessage;
  }
  ctx.respond(req, resp);
}

}  // namespace kgw
