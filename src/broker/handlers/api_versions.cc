// ApiVersions (key 18): the APIs and versions this broker serves.
#include "all_messages.h"
#include "api_table.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_api_versions(HandlerContext& ctx, RequestPtr req) {
  ApiVersionsResponse resp;
  for (const ServedApi& s : served_apis()) {
    const ApiInfo* info = find_api(s.api_key);
    auto& k = resp.api_keys.emplace_back();
    k.api_key = info->key;
    k.min_version = served_min_version(s, info->min_version);
    k.max_version = info->max_version;
  }
  if (req->version() > ApiVersionsRequest::max_version) {
    // Unknown (newer) version: answer at v0 so any client can read it.
    resp.error_code = code(ErrorCode::kUnsupportedVersion);
    req->header.api_version = 0;
    ctx.respond(*req, resp);
    return;
  }
  ApiVersionsRequest body;
  if (!ctx.decode(*req, body)) return;
  ctx.respond(*req, resp);
}

}  // namespace kgw
