// IncrementalAlterConfigs (key 44): change single configs of a topic or of
// one layer of dynamic broker configs: SET (0), DELETE (1, back to the
// default), APPEND (2) and SUBTRACT (3) elements of LIST configs such as
// cleanup.policy. Kafka's answers: a config named twice (INVALID_REQUEST),
// an unknown operation (INVALID_REQUEST), APPEND/SUBTRACT on a config that
// is not a list, an unknown config or a bad value (INVALID_CONFIG, with
// Kafka's message), an unknown topic (UNKNOWN_TOPIC_OR_PARTITION).
#include <algorithm>
#include <deque>
#include <memory>
#include <set>

#include "all_messages.h"
#include "src/broker/config_changes.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {

constexpr std::int8_t kSet = 0;
constexpr std::int8_t kDelete = 1;
constexpr std::int8_t kAppend = 2;
constexpr std::int8_t kSubtract = 3;

struct AlterCall {
  RequestPtr req;
  IncrementalAlterConfigsResponse resp;
  std::deque<std::string> strings;
  int pending = 1;
};

void finish_one(Broker& broker, const std::shared_ptr<AlterCall>& call) {
  if (--call->pending == 0) broker.respond(*call->req, call->resp);
}

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

void handle_incremental_alter_configs(Broker& broker, RequestPtr req) {
  IncrementalAlterConfigsRequest body;
  if (!broker.decode(*req, body)) return;
  auto call = std::make_shared<AlterCall>();
  call->req = req;
  call->resp.responses.resize(body.resources.size());
  const ImagePtr image = broker.metadata().image();
  for (std::size_t i = 0; i < body.resources.size(); ++i) {
    const auto& want = body.resources[i];
    auto& out = call->resp.responses[i];
    out.resource_type = want.resource_type;
    out.resource_name = want.resource_name;
    out.error_message = std::nullopt;
    auto fail = [&](ErrorCode e, std::string message) {
      out.error_code = code(e);
      out.error_message = call->strings.emplace_back(std::move(message));
    };
    auto done = [&broker, call, i](ErrorCode e, std::string error) {
      if (e != ErrorCode::kNone) {
        call->resp.responses[i].error_code = code(e);
        call->resp.responses[i].error_message = call->strings.emplace_back(std::move(error));
      }
      finish_one(broker, call);
    };
    ErrorCode e = ErrorCode::kNone;
    if (want.resource_type == kTopicResource) {
      const TopicPtr t = image->topic(want.resource_name);
      if (t == nullptr) {
        fail(ErrorCode::kUnknownTopicOrPartition,
             "Topic '" + std::string(want.resource_name) + "' does not exist.");
        continue;
      }
      // Changes still being written count: two requests in a row each
      // change what the other left.
      const TopicPtr latest = broker.metadata().latest()->topic(t->id);
      std::map<std::string, std::string> configs = latest ? latest->configs : t->configs;
      if (std::string err = apply_ops(want, &find_topic_config, configs, e); !err.empty()) {
        fail(e, err);
        continue;
      }
      if (std::string err = BrokerConfig::validate_topic_overrides(configs); !err.empty()) {
        fail(ErrorCode::kInvalidConfig, err);
        continue;
      }
      if (body.validate_only) continue;
      ++call->pending;
      commit_topic_configs(broker, *t, std::move(configs), done);
    } else if (want.resource_type == kBrokerResource) {
      std::string error;
      auto layer = broker_layer(broker, want.resource_name, error);
      if (!layer) {
        fail(ErrorCode::kInvalidRequest, error);
        continue;
      }
      std::map<std::string, std::string> configs = broker.metadata().latest()->broker_configs(
          *layer == DynamicLayer::kBroker ? std::optional<std::int32_t>(broker.identity().node_id)
                                          : std::nullopt);
      if (std::string err = apply_ops(want, &find_broker_config, configs, e); !err.empty()) {
        fail(e, err);
        continue;
      }
      if (std::string err = BrokerConfig::validate_dynamic(configs); !err.empty()) {
        fail(ErrorCode::kInvalidConfig, err);
        continue;
      }
      if (body.validate_only) continue;
      ++call->pending;
      commit_broker_configs(broker, *layer, std::move(configs), done);
    } else if (want.resource_type == kBrokerLoggerResource) {
      fail(ErrorCode::kInvalidRequest,
           "Broker logger configs are not supported; kgw's log level is set by --log-level");
    } else {
      fail(ErrorCode::kInvalidRequest,
           "Unsupported resource type " + std::to_string(want.resource_type));
    }
  }
  finish_one(broker, call);
}

}  // namespace kgw
