// What AlterConfigs and IncrementalAlterConfigs share: resource types,
// which dynamic layer a broker resource names, and committing a changed set
// of topic overrides or dynamic broker configs through the metadata log
// (src/cluster/metadata_log.h); BrokerConfig's dynamic layers follow the
// metadata image.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/wire/error_code.h"
#include "src/broker/broker_config.h"

namespace kgw {

class Broker;
struct TopicImage;

// ConfigResource types (DescribeConfigs, AlterConfigs, ...).
inline constexpr std::int8_t kTopicResource = 2;
inline constexpr std::int8_t kBrokerResource = 4;
inline constexpr std::int8_t kBrokerLoggerResource = 8;

// "" is the cluster-wide default, this node's id is this broker; anything
// else is Kafka's INVALID_REQUEST with the message in `error`.
std::optional<DynamicLayer> broker_layer(const Broker& broker, std::string_view name,
                                         std::string& error);

using CommitDone = std::function<void(ErrorCode error, std::string message)>;

// Replaces a topic's overrides; `done` runs once the change is applied
// (kNone) or with the metadata log's error.
void commit_topic_configs(Broker& broker, const TopicImage& topic,
                          std::map<std::string, std::string> configs, CommitDone done);
// Replaces one layer of dynamic broker configs (validated by the caller);
// `done` runs once the change is applied, when BrokerConfig, the topics'
// log policies and the background schedules have followed it.
void commit_broker_configs(Broker& broker, DynamicLayer layer,
                           std::map<std::string, std::string> configs, CommitDone done);

// Called once by the Broker at start: sets BrokerConfig's dynamic layers
// from the metadata image, and again (with the store's log policies and
// maintenance schedules) after every applied SetBrokerConfigs.
void follow_dynamic_broker_configs(Broker& broker);

}  // namespace kgw
