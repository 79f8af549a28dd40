// What AlterConfigs and IncrementalAlterConfigs share: resource types,
// their loop over resources (alter_config_resources), which dynamic layer
// a broker resource names, committing a changed set of topic overrides or
// dynamic broker configs, and keeping dynamic broker configs in the store
// across restarts. All of it runs on the loop thread; a failed write is
// answered as KAFKA_STORAGE_ERROR for that resource.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/broker/broker_config.h"

namespace kgw {

class Broker;
class Store;
struct TopicInfo;

// ConfigResource types (DescribeConfigs, AlterConfigs, ...).
inline constexpr std::int8_t kTopicResource = 2;
inline constexpr std::int8_t kBrokerResource = 4;
inline constexpr std::int8_t kBrokerLoggerResource = 8;

// "" is the cluster-wide default, this node's id is this broker; anything
// else is Kafka's INVALID_REQUEST with the message in `error`.
std::optional<DynamicLayer> broker_layer(const Broker& broker, std::string_view name,
                                         std::string& error);

// Replaces a topic's overrides; `done` gets "" or the storage error.
void commit_topic_configs(Broker& broker, const TopicInfo& topic,
                          std::map<std::string, std::string> configs,
                          std::function<void(std::string)> done);
// Replaces one layer of dynamic broker configs (validated by the caller):
// in memory at once (topics' log policies and the background schedules
// follow), persisted, then `done`.
void commit_broker_configs(Broker& broker, DynamicLayer layer,
                           std::map<std::string, std::string> configs,
                           std::function<void(std::string)> done);

// One resource of an AlterConfigs or IncrementalAlterConfigs request: the
// part the two handlers do differently is `edit`, which turns the
// resource's current configs (a topic's overrides, or the dynamic broker
// layer it names) into the set wanted: AlterConfigs replaces them all,
// IncrementalAlterConfigs applies its operations. It returns kNone, or the
// error with Kafka's message in `message`.
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
// `validate_only`, the commit (a failed write: KAFKA_STORAGE_ERROR). `done`
// runs once every commit has answered, with one result per resource in
// request order. Edits run before this returns.
void alter_config_resources(Broker& broker, std::vector<ConfigResourceChange> resources,
                            bool validate_only, std::string logger_message,
                            std::function<void(std::vector<ConfigResourceResult>)> done);

// At start: the dynamic broker configs the store kept. Returns "" or what
// is wrong with the record (the caller logs it and starts without them).
std::string load_dynamic_broker_configs(const Store& store, BrokerConfig& config);

}  // namespace kgw
