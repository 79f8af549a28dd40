// DescribeClientQuotas (key 48): the stored quotas of the entities that
// match the filters (src/cluster/client_quotas.h). A bad filter is
// INVALID_REQUEST with Kafka's message, and null entries.
#include <deque>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

void handle_describe_client_quotas(HandlerContext& ctx, RequestPtr req) {
  DescribeClientQuotasRequest body;
  if (!ctx.decode(*req, body)) return;
  DescribeClientQuotasResponse resp;
  resp.error_message = std::nullopt;
  std::vector<ClientQuotas::Filter> filters;
  for (const auto& c : body.components) {
    ClientQuotas::Filter f;
    f.entity_type = std::string(c.entity_type);
    f.match_type = c.match_type;
    if (c.match) f.match = std::string(*c.match);
    filters.push_back(std::move(f));
  }
  std::string error;
  auto found = ctx.metadata().image()->quotas().describe(filters, body.strict, error);
  std::deque<std::string> strings;
  if (!error.empty()) {
    resp.error_code = code(ErrorCode::kInvalidRequest);
    resp.error_message = strings.emplace_back(error);
    resp.entries = std::nullopt;
    ctx.respond(*req, resp);
    return;
  }
  auto& entries = resp.entries.emplace();
  for (const auto& [entity, values] : found) {
    auto& e = entries.emplace_back();
    for (const auto& [type, name] : entity) {
      auto& part = e.entity.emplace_back();
      part.entity_type = strings.emplace_back(type);
      if (name) {
        part.entity_name = strings.emplace_back(*name);
      } else {
        part.entity_name = std::nullopt;
      }
    }
    for (const auto& [key, value] : values) {
      auto& v = e.values.emplace_back();
      v.key = strings.emplace_back(key);
      v.value = value;
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
