// AlterConfigs (key 33): replace a topic's overrides, or one layer of
// dynamic broker configs, with the set given; configs left out return to
// their defaults, as in Kafka. Kafka's answers: an unknown topic
// (UNKNOWN_TOPIC_OR_PARTITION), an unknown config or a bad value
// (INVALID_CONFIG, with Kafka's message), a broker config that cannot
// change at run time (INVALID_CONFIG), another broker's id or a resource
// type this API does not take (INVALID_REQUEST). validate_only checks and
// changes nothing. The request handling is config_changes.h's
// handle_config_resources(); this handler supplies the "replace all" edit.
// kgw's migration configs (kgw.migration.*, set by kgw-admin migrate and
// the cutover) are not the user's to replace: a set that leaves them out
// keeps them, so that a tool that sends every config it knows (Kafka's
// legacy kafka-configs.sh) can still change a migrated topic.
#include <memory>
#include <string_view>

#include "all_messages.h"
#include "src/broker/config_changes.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/migration_state.h"

namespace kgw {

void handle_alter_configs(HandlerContext& ctx, RequestPtr req) {
  handle_config_resources<AlterConfigsRequest, AlterConfigsResponse>(
      ctx, std::move(req),
      "AlterConfigs does not support the resource type BROKER_LOGGER; kgw's log level is set "
      "by --log-level",
      [](const AlterConfigsRequest::AlterConfigsResource& want) {
        // Null values mean "not set" (Kafka's legacy AlterConfigs drops them).
        std::map<std::string, std::string> wanted;
        for (const auto& c : want.configs) {
          if (c.value) wanted[std::string(c.name)] = std::string(*c.value);
        }
        return [wanted = std::move(wanted)](std::map<std::string, std::string>& configs,
                                            std::string&) {
          std::map<std::string, std::string> next = wanted;
          for (const auto& [name, value] : configs) {
            if (std::string_view(name).starts_with(kMigrationConfigPrefix)) {
              next.emplace(name, value);
            }
          }
          configs = std::move(next);
          return ErrorCode::kNone;
        };
      });
}

}  // namespace kgw
