// AlterConfigs (key 33): replace a topic's overrides, or one layer of
// dynamic broker configs, with the set given; configs left out return to
// their defaults, as in Kafka. Kafka's answers: an unknown topic
// (UNKNOWN_TOPIC_OR_PARTITION), an unknown config or a bad value
// (INVALID_CONFIG, with Kafka's message), a broker config that cannot
// change at run time (INVALID_CONFIG), another broker's id or a resource
// type this API does not take (INVALID_REQUEST). validate_only checks and
// changes nothing. The loop over resources is config_changes.h's
// alter_config_resources(); this handler supplies the "replace all" edit.
#include <memory>

#include "all_messages.h"
#include "src/broker/config_changes.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_alter_configs(HandlerContext& ctx, RequestPtr req) {
  AlterConfigsRequest body;
  if (!ctx.decode(*req, body)) return;
  auto resp = std::make_shared<AlterConfigsResponse>();
  resp->responses.resize(body.resources.size());
  std::vector<ConfigResourceChange> changes;
  for (std::size_t i = 0; i < body.resources.size(); ++i) {
    const auto& want = body.resources[i];
    resp->responses[i].resource_type = want.resource_type;
    resp->responses[i].resource_name = want.resource_name;
    // Null values mean "not set" (Kafka's legacy AlterConfigs drops them).
    std::map<std::string, std::string> wanted;
    for (const auto& c : want.configs) {
      if (c.value) wanted[std::string(c.name)] = std::string(*c.value);
    }
    changes.push_back(ConfigResourceChange{
        want.resource_type, want.resource_name,
        [wanted = std::move(wanted)](std::map<std::string, std::string>& configs, std::string&) {
          configs = wanted;
          return ErrorCode::kNone;
        }});
  }
  alter_config_resources(
      ctx, std::move(changes), body.validate_only,
      "AlterConfigs does not support the resource type BROKER_LOGGER; kgw's log level is set "
      "by --log-level",
      [&ctx, req, resp](std::vector<ConfigResourceResult> results) {
        fill_config_results(resp->responses, results);
        ctx.respond(*req, *resp);
      });
}

}  // namespace kgw
