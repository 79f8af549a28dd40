// Topic helpers shared by the handlers that create or look up topics.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "protocol/wire/error_code.h"

namespace kgw {

class Broker;
struct TopicInfo;

// "" if `name` is a legal Kafka topic name, else why not.
std::string topic_name_error(std::string_view name);

struct TopicCreation {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  const TopicInfo* topic = nullptr;  // valid until the next topic change
};

// Validates and (unless validate_only) creates a topic; `done` runs on the
// loop thread. partitions/replication -1 mean the broker defaults.
void create_topic(Broker& broker, std::string_view name, std::int32_t partitions,
                  std::int32_t replication_factor, std::map<std::string, std::string> configs,
                  bool validate_only, std::function<void(TopicCreation)> done);

}  // namespace kgw
