// What AlterConfigs and IncrementalAlterConfigs share: resource types,
// which dynamic layer a broker resource names, committing a changed set of
// topic overrides or dynamic broker configs, and keeping dynamic broker
// configs in the store across restarts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

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

// At start: the dynamic broker configs the store kept. Returns "" or what
// is wrong with the record (the caller logs it and starts without them).
std::string load_dynamic_broker_configs(const Store& store, BrokerConfig& config);

}  // namespace kgw
