// DeleteGroups (key 42): remove empty groups and their committed offsets.
// GROUP_ID_NOT_FOUND for unknown groups, NON_EMPTY_GROUP while members
// remain.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"

namespace kgw {

void handle_delete_groups(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<DeleteGroupsRequest>();
  if (!ctx.decode(*req, *body)) return;
  std::vector<std::string> ids(body->groups_names.begin(), body->groups_names.end());
  ctx.offsets().delete_groups(std::move(ids), [&ctx, req, body](std::vector<ErrorCode> errors) {
    DeleteGroupsResponse resp;
    for (std::size_t i = 0; i < body->groups_names.size(); ++i) {
      auto& out = resp.results.emplace_back();
      out.group_id = body->groups_names[i];
      out.error_code = code(errors[i]);
    }
    ctx.respond(*req, resp);
  });
}

}  // namespace kgw
