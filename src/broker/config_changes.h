// What AlterConfigs and IncrementalAlterConfigs share: resource types,
// their request handling but for the edit (handle_config_resources) and
// its loop over resources (alter_config_resources), which dynamic layer
// a broker resource names, and committing a changed set
// of topic overrides or dynamic broker configs through the metadata log
// (src/cluster/metadata_log.h); BrokerConfig's dynamic layers follow the
// metadata image.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/broker/broker_config.h"
#include "src/broker/handler_context.h"

namespace kgw {

struct TopicImage;

// ConfigResource types (DescribeConfigs, AlterConfigs, ...).
inline constexpr std::int8_t kTopicResource = 2;
inline constexpr std::int8_t kBrokerResource = 4;
inline constexpr std::int8_t kBrokerLoggerResource = 8;

// "" is the cluster-wide default, this node's id is this broker; anything
// else is Kafka's INVALID_REQUEST with the message in `error`.
std::optional<DynamicLayer> broker_layer(const HandlerContext& ctx, std::string_view name,
                                         std::string& error);

using CommitDone = std::function<void(ErrorCode error, std::string message)>;

// Replaces a topic's overrides; `done` runs once the change is applied
// (kNone) or with the metadata log's error.
void commit_topic_configs(HandlerContext& ctx, const TopicImage& topic,
                          std::map<std::string, std::string> configs, CommitDone done);
// Replaces one layer of dynamic broker configs (validated by the caller);
// `done` runs once the change is applied, when BrokerConfig, the topics'
// log policies and the background schedules have followed it.
void commit_broker_configs(HandlerContext& ctx, DynamicLayer layer,
                           std::map<std::string, std::string> configs, CommitDone done);

// Called once by the Broker at start: sets BrokerConfig's dynamic layers
// from the metadata image, and again (with the store's log policies and
// maintenance schedules) after every applied SetBrokerConfigs.
void follow_dynamic_broker_configs(HandlerContext& ctx);

// One resource of an AlterConfigs or IncrementalAlterConfigs request: the
// part the two handlers do differently is `edit`, which turns the
// resource's current configs (a topic's overrides, or the dynamic broker
// layer it names, as the metadata log will have them once the changes
// being written are applied) into the set wanted: AlterConfigs replaces
// them all, IncrementalAlterConfigs applies its operations. It returns
// kNone, or the error with Kafka's message in `message`.
struct ConfigResourceChange {
  std::int8_t resource_type = 0;
  std::string_view resource_name;  // read before alter_config_resources returns
  std::function<ErrorCode(std::map<std::string, std::string>& configs, std::string& message)> edit;
};

struct ConfigResourceResult {
  ErrorCode error = ErrorCode::kNone;
  std::string message;  // Kafka's message when `error` is set
};

// The loop both handlers share. For each resource in order: a topic must
// exist (UNKNOWN_TOPIC_OR_PARTITION), a broker resource must name this
// broker or the cluster default (INVALID_REQUEST), BROKER_LOGGER is
// INVALID_REQUEST with `logger_message`, any other type INVALID_REQUEST;
// then `edit`, validation of the whole new set (INVALID_CONFIG) and, unless
// `validate_only`, the commit through the metadata log (its error, e.g.
// KAFKA_STORAGE_ERROR). `done` runs once every commit has answered, with
// one result per resource in request order. Edits run before this returns.
void alter_config_resources(HandlerContext& ctx, std::vector<ConfigResourceChange> resources,
                            bool validate_only, std::string logger_message,
                            std::function<void(std::vector<ConfigResourceResult>)> done);

// The whole of both handlers but their edit: decode `Request`, answer
// each resource with its type and name, take each resource's edit from
// `make_edit(resource)` (the edit may refer to the resource: the body
// lives until alter_config_resources() has run the edits), and answer
// with one error_code and error_message (null unless an error) per
// resource.
template <typename Request, typename Response, typename MakeEdit>
void handle_config_resources(HandlerContext& ctx, RequestPtr req, std::string logger_message,
                             MakeEdit make_edit) {
  Request body;
  if (!ctx.decode(*req, body)) return;
  auto resp = std::make_shared<Response>();
  resp->responses.resize(body.resources.size());
  std::vector<ConfigResourceChange> changes;
  for (std::size_t i = 0; i < body.resources.size(); ++i) {
    const auto& want = body.resources[i];
    resp->responses[i].resource_type = want.resource_type;
    resp->responses[i].resource_name = want.resource_name;
    changes.push_back(
        ConfigResourceChange{want.resource_type, want.resource_name, make_edit(want)});
  }
  alter_config_resources(ctx, std::move(changes), body.validate_only, std::move(logger_message),
                         [&ctx, req, resp](std::vector<ConfigResourceResult> results) {
                           // The messages point into `results`: respond before they go.
                           for (std::size_t i = 0; i < results.size(); ++i) {
                             auto& out = resp->responses[i];
                             out.error_code = code(results[i].error);
                             out.error_message = std::nullopt;
                             if (results[i].error != ErrorCode::kNone)
                               out.error_message = results[i].message;
                           }
                           ctx.respond(*req, *resp);
                         });
}

}  // namespace kgw
