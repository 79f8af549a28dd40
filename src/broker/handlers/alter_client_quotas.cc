// AlterClientQuotas (key 49): set or remove quota values per entity, with
// Kafka's validation (INVALID_REQUEST and its message per entry), stored
// through the metadata log (in the store across restarts). Not enforced yet (client_quotas.h).
#include <algorithm>
#include <deque>
#include <memory>

#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

void handle_alter_client_quotas(HandlerContext& ctx, RequestPtr req) {
  AlterClientQuotasRequest body;
  if (!ctx.decode(*req, body)) return;
  struct Call {
    RequestPtr req;
    AlterClientQuotasResponse resp;
    std::deque<std::string> strings;
  };
  auto call = std::make_shared<Call>();
  call->req = req;
  SetClientQuotas change;
  for (const auto& entry : body.entries) {
    auto& out = call->resp.entries.emplace_back();
    out.error_message = std::nullopt;
    ClientQuotas::Entity entity;
    for (const auto& part : entry.entity) {
      auto& o = out.entity.emplace_back();
      o.entity_type = part.entity_type;
      o.entity_name = part.entity_name;
      entity.emplace_back(std::string(part.entity_type),
                          part.entity_name
                              ? std::optional<std::string>(std::string(*part.entity_name))
                              : std::nullopt);
    }
    std::sort(entity.begin(), entity.end());
    std::vector<ClientQuotas::Op> ops;
    for (const auto& op : entry.ops) ops.push_back({std::string(op.key), op.value, op.remove});
    if (std::string err = ClientQuotas::validate(entity, ops); !err.empty()) {
      out.error_code = code(ErrorCode::kInvalidRequest);
      out.error_message = call->strings.emplace_back(std::move(err));
      continue;
    }
    if (body.validate_only) continue;
    change.entries.emplace_back(std::move(entity), std::move(ops));
  }
  if (change.entries.empty()) {
    ctx.respond(*req, call->resp);
    return;
  }
  ctx.metadata().submit(std::move(change), [&ctx, call](ErrorCode failed, std::string error) {
    if (failed != ErrorCode::kNone) {
      LOG_ERROR("quotas", "saving client quotas: %s", error.c_str());
      for (auto& e : call->resp.entries) {
        if (e.error_code == 0) {
          e.error_code = code(failed);
          e.error_message = call->strings.emplace_back(error);
        }
      }
    }
    ctx.respond(*call->req, call->resp);
  });
}

}  // namespace kgw
