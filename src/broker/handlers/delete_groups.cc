// DeleteGroups (key 42): remove empty groups and their committed offsets.
// GROUP_ID_NOT_FOUND for unknown groups, NON_EMPTY_GROUP while members
// remain.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/offset_manager.h"
#include "src/proxy/group_forward.h"

namespace kgw {

void handle_delete_groups(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<DeleteGroupsRequest>();
  if (!ctx.decode(*req, *body)) return;
  // Groups another broker coordinates are NOT_COORDINATOR, those whose
  // partition is still loading here COORDINATOR_LOAD_IN_PROGRESS; the rest
  // are deleted here, their answers put back in request order.
  std::vector<std::string> ids;
  std::vector<std::size_t> here;
  std::vector<ErrorCode> guards;
  // Proxy mode: the legacy cluster's groups are deleted there, one call
  // each, their answers put at their places once the local ones are in.
  auto up = std::make_shared<std::vector<std::pair<std::size_t, ErrorCode>>>();
  auto join = std::make_shared<GroupJoin>();
  for (std::size_t i = 0; i < body->groups_names.size(); ++i) {
    if (group_upstream(ctx, body->groups_names[i])) {
      guards.push_back(ErrorCode::kNone);
      DeleteGroupsRequest sub;
      sub.groups_names = {body->groups_names[i]};
      ++join->pending;
      forward_to_group_coordinator<DeleteGroupsRequest, DeleteGroupsResponse>(
          *ctx.upstream(), body->groups_names[i], std::move(sub), DeleteGroupsRequest::min_version,
          req->version(), [req, body, up, join, i](ErrorCode e, const DeleteGroupsResponse& r) {
            if (e == ErrorCode::kNone) {
              e = r.results.empty() ? ErrorCode::kUnknownServerError
                                    : static_cast<ErrorCode>(r.results.front().error_code);
            }
            up->emplace_back(i, e);
            join->one();
          });
      continue;
    }
    guards.push_back(group_coordinator_error(ctx, body->groups_names[i]));
    if (guards.back() != ErrorCode::kNone) continue;
    ids.emplace_back(body->groups_names[i]);
    here.push_back(i);
  }
  ++join->pending;
  ctx.offsets().delete_groups(
      std::move(ids), [&ctx, req, body, up, join, here = std::move(here),
                       guards = std::move(guards)](std::vector<ErrorCode> errors) {
        join->done = [&ctx, req, body, up, here, guards, errors] {
          DeleteGroupsResponse resp;
          for (std::size_t i = 0; i < body->groups_names.size(); ++i) {
            auto& out = resp.results.emplace_back();
            out.group_id = body->groups_names[i];
            out.error_code = code(guards[i]);
          }
          for (std::size_t k = 0; k < here.size() && k < errors.size(); ++k) {
            resp.results[here[k]].error_code = code(errors[k]);
          }
          for (const auto& [i, e] : *up) resp.results[i].error_code = code(e);
          ctx.respond(*req, resp);
        };
        join->one();
      });
  join->one();
}

}  // namespace kgw
