// AlterConfigs (key 33): replace a topic's overrides, or one layer of
// dynamic broker configs, with the set given; configs left out return to
// their defaults, as in Kafka. Kafka's answers: an unknown topic
// (UNKNOWN_TOPIC_OR_PARTITION), an unknown config or a bad value
// (INVALID_CONFIG, with Kafka's message), a broker config that cannot
// change at run time (INVALID_CONFIG), another broker's id or a resource
// type this API does not take (INVALID_REQUEST). validate_only checks and
// changes nothing.
#include <deque>
#include <memory>

#include "all_messages.h"
#include "src/broker/config_changes.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {
struct AlterCall {
  RequestPtr req;
  AlterConfigsResponse resp;
  std::deque<std::string> strings;
  int pending = 1;
};

void finish_one(Broker& broker, const std::shared_ptr<AlterCall>& call) {
  if (--call->pending == 0) broker.respond(*call->req, call->resp);
}
}  // namespace

void handle_alter_configs(Broker& broker, RequestPtr req) {
  AlterConfigsRequest body;
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
    // Null values mean "not set" (Kafka's legacy AlterConfigs drops them).
    std::map<std::string, std::string> configs;
    for (const auto& c : want.configs) {
      if (c.value) configs[std::string(c.name)] = std::string(*c.value);
    }
    auto done = [&broker, call, i](ErrorCode e, std::string error) {
      if (e != ErrorCode::kNone) {
        call->resp.responses[i].error_code = code(e);
        call->resp.responses[i].error_message = call->strings.emplace_back(std::move(error));
      }
      finish_one(broker, call);
    };
    if (want.resource_type == kTopicResource) {
      const TopicPtr t = image->topic(want.resource_name);
      if (t == nullptr) {
        fail(ErrorCode::kUnknownTopicOrPartition,
             "Topic '" + std::string(want.resource_name) + "' does not exist.");
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
      if (std::string err = BrokerConfig::validate_dynamic(configs); !err.empty()) {
        fail(ErrorCode::kInvalidConfig, err);
        continue;
      }
      if (body.validate_only) continue;
      ++call->pending;
      commit_broker_configs(broker, *layer, std::move(configs), done);
    } else if (want.resource_type == kBrokerLoggerResource) {
      fail(ErrorCode::kInvalidRequest,
           "AlterConfigs does not support the resource type BROKER_LOGGER; kgw's log level is set "
           "by --log-level");
    } else {
      fail(ErrorCode::kInvalidRequest,
           "Unsupported resource type " + std::to_string(want.resource_type));
    }
  }
  finish_one(broker, call);
}

}  // namespace kgw
