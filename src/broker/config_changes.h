// What AlterConfigs and IncrementalAlterConfigs share: resource types,
// their request handling but for the edit (handle_config_resources) and
// its loop over resources (alter_config_resources), which dynamic layer
// a broker resource names, and committing a changed set
// of topic overrides or dynamic broker configs through the metadata log
// (src/cluster/metadata_log.h); BrokerConfig's dynamic layers follow the
// metadata image.
#pragma once

#include <cstdint>
#include <deque>
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
#include "src/cluster/metadata_log.h"
#include "src/proxy/admin_forward.h"

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
// resource. In proxy mode a topic only the legacy cluster has is changed
// there: those resources go to a legacy broker in a request of their own
// (src/proxy/admin_forward.h) and its answers are theirs.
template <typename Request, typename Response, typename MakeEdit>
void handle_config_resources(HandlerContext& ctx, RequestPtr req, std::string logger_message,
                             MakeEdit make_edit) {
  Request body;
  if (!ctx.decode(*req, body)) return;
  struct Call {
    RequestPtr req;
    Response resp;
    std::deque<std::string> messages;
    int pending = 1;
  };
  auto call = std::make_shared<Call>();
  call->req = req;
  auto finish = [&ctx, call] {
    if (--call->pending == 0) ctx.respond(*call->req, call->resp);
  };
  call->resp.responses.resize(body.resources.size());
  std::vector<ConfigResourceChange> changes;
  std::vector<std::size_t> local;
  Request legacy;
  legacy.validate_only = body.validate_only;
  std::vector<std::size_t> on_legacy;
  const ImagePtr image = ctx.metadata().image();
  for (std::size_t i = 0; i < body.resources.size(); ++i) {
    const auto& want = body.resources[i];
    call->resp.responses[i].resource_type = want.resource_type;
    call->resp.responses[i].resource_name = want.resource_name;
    call->resp.responses[i].error_message = std::nullopt;
    if (want.resource_type == kTopicResource &&
        legacy_only_topic(ctx.upstream(), *image, want.resource_name) != nullptr) {
      legacy.resources.push_back(want);
      on_legacy.push_back(i);
      continue;
    }
    changes.push_back(
        ConfigResourceChange{want.resource_type, want.resource_name, make_edit(want)});
    local.push_back(i);
  }
  if (!on_legacy.empty()) {
    ++call->pending;
    forward_admin<Request, Response>(
        *ctx.upstream(), AdminTarget::kAnyBroker, std::move(legacy), req->version(),
        [call, on_legacy, finish](ErrorCode e, const Response& r) {
          for (std::size_t i : on_legacy) {
            auto& out = call->resp.responses[i];
            const auto* got = static_cast<decltype(&r.responses.front())>(nullptr);
            for (const auto& res : r.responses) {
              if (res.resource_type == out.resource_type &&
                  res.resource_name == out.resource_name) {
                got = &res;
              }
            }
            if (!take_legacy_error(e, got, out, call->messages)) continue;
          }
          finish();
        });
  }
  if (changes.empty()) return finish();
  ++call->pending;
  alter_config_resources(ctx, std::move(changes), body.validate_only, std::move(logger_message),
                         [call, local, finish](std::vector<ConfigResourceResult> results) {
                           for (std::size_t k = 0; k < results.size(); ++k) {
                             auto& out = call->resp.responses[local[k]];
                             out.error_code = code(results[k].error);
                             if (results[k].error != ErrorCode::kNone) {
                               out.error_message =
                                   call->messages.emplace_back(std::move(results[k].message));
                             }
                           }
                           finish();
                         });
  finish();
}

}  // namespace kgw
