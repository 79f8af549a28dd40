// IncrementalAlterConfigs (key 44): change single configs of a topic or of
// one layer of dynamic broker configs: SET (0), DELETE (1, back to the
// default), APPEND (2) and SUBTRACT (3) elements of LIST configs such as
// cleanup.policy. Kafka's answers: a config named twice (INVALID_REQUEST),
// an unknown operation (INVALID_REQUEST), APPEND/SUBTRACT on a config that
// is not a list, an unknown config or a bad value (INVALID_CONFIG, with
// Kafka's message), an unknown topic (UNKNOWN_TOPIC_OR_PARTITION). The request
// handling is config_changes.h's handle_config_resources(); this handler
// supplies the edit that applies the operations.
#include <algorithm>
#include <memory>
#include <set>

#include "all_messages.h"
#include "src/broker/config_changes.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

namespace {

constexpr std::int8_t kSet = 0;
constexpr std::int8_t kDelete = 1;
constexpr std::int8_t kAppend = 2;
constexpr std::int8_t kSubtract = 3;

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ",";
    out += p;
  }
  return out;
}

// Applies the operations to `configs`; returns the error (and sets `e`).
std::string apply_ops(const IncrementalAlterConfigsRequest::AlterConfigsResource& want,
                      const ConfigDef* (*find)(std::string_view),
                      std::map<std::string, std::string>& configs, ErrorCode& e) {
  std::set<std::string_view> seen;
  for (const auto& c : want.configs) {
    if (!seen.insert(c.name).second) {
      e = ErrorCode::kInvalidRequest;
      return "Error due to duplicate config keys";
    }
  }
  for (const auto& c : want.configs) {
    const std::string name(c.name);
    const ConfigDef* def = find(c.name);
    switch (c.config_operation) {
      case kSet:
        if (!c.value) {
          e = ErrorCode::kInvalidRequest;
          return "Null value not supported for : " + name;
        }
        configs[name] = std::string(*c.value);
        break;
      case kDelete:
        configs.erase(name);
        break;
      case kAppend:
      case kSubtract: {
        const char* op = c.config_operation == kAppend ? "APPEND" : "SUBTRACT";
        if (def == nullptr) {
          e = ErrorCode::kInvalidConfig;
          return "Unknown config name: " + name;
        }
        if (def->type != ConfigType::kList) {
          e = ErrorCode::kInvalidConfig;
          return std::string("Can't ") + op + " to key " + name + " because its type is not LIST.";
        }
        auto it = configs.find(name);
        std::vector<std::string> list = split_config_list(
            it != configs.end() ? it->second
                                : std::string(def->default_value ? def->default_value : ""));
        for (const std::string& v : split_config_list(c.value.value_or(""))) {
          auto pos = std::find(list.begin(), list.end(), v);
          if (c.config_operation == kAppend && pos == list.end()) list.push_back(v);
          if (c.config_operation == kSubtract && pos != list.end()) list.erase(pos);
        }
        configs[name] = join(list);
        break;
      }
      default:
        e = ErrorCode::kInvalidRequest;
        return "Unknown operation type " + std::to_string(c.config_operation) + " for config " +
               name;
    }
  }
  return "";
}

}  // namespace

void handle_incremental_alter_configs(HandlerContext& ctx, RequestPtr req) {
  handle_config_resources<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(
      ctx, std::move(req),
      "Broker logger configs are not supported; kgw's log level is set by --log-level",
      [](const IncrementalAlterConfigsRequest::AlterConfigsResource& want) {
        const auto find =
            want.resource_type == kTopicResource ? &find_topic_config : &find_broker_config;
        // `want` outlives the edit: alter_config_resources() runs it before
        // returning.
        return [&want, find](std::map<std::string, std::string>& configs, std::string& message) {
          ErrorCode e = ErrorCode::kNone;
          message = apply_ops(want, find, configs, e);
          return e;
        };
      });
}

}  // namespace kgw
