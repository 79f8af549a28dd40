// Broker and topic configuration by Kafka's names, types and defaults.
//
// The broker's values come from (highest first) --set NAME=VALUE, the JSON
// config file, and the defaults below. A topic's values come from its own
// overrides, then the broker's synonym (retention.ms <- log.retention.ms),
// then the default. DescribeConfigs reports the value in force and where it
// came from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kgw {

enum class ConfigType : std::int8_t {
  kUnknown = 0, kBoolean = 1, kString = 2, kInt = 3, kShort = 4, kLong = 5, kDouble = 6,
  kList = 7, kClass = 8, kPassword = 9,
};

// DescribeConfigs config_source values.
enum class ConfigSource : std::int8_t {
  kUnknown = 0, kDynamicTopic = 1, kDynamicBroker = 2, kDynamicDefaultBroker = 3,
  kStaticBroker = 4, kDefault = 5,
};

struct ConfigDef {
  const char* name;
  ConfigType type;
  const char* default_value;  // nullptr: no value (null)
  const char* doc;
  // For topic configs: the broker config that supplies the default.
  const char* broker_synonym = nullptr;
  // Allowed values, '|'-separated, for enumerated strings; nullptr = any.
  const char* allowed = nullptr;
  bool read_only = false;
};

std::vector<ConfigDef> const& broker_config_defs();
std::vector<ConfigDef> const& topic_config_defs();
const ConfigDef* find_broker_config(std::string_view name);
const ConfigDef* find_topic_config(std::string_view name);

// Checks a value against a definition; returns "" or a message naming the
// config and what is allowed (it goes into INVALID_CONFIG answers).
std::string validate_config_value(const ConfigDef& def, std::string_view value);

struct ConfigValue {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::kDefault;
  ConfigType type = ConfigType::kUnknown;
  const char* doc = "";
  bool read_only = false;
  // Lower-precedence values (for include_synonyms), highest first.
  std::vector<std::pair<std::string, std::pair<std::optional<std::string>, ConfigSource>>> synonyms;
};

class BrokerConfig {
 public:
  // Sets a static broker config (config file or --set); returns "" or an
  // error naming the config.
  std::string set(std::string_view name, std::string_view value);

  std::optional<std::string> get(std::string_view name) const;
  std::int64_t get_long(std::string_view name) const;
  bool get_bool(std::string_view name) const;

  // Every broker config with the value in force.
  std::vector<ConfigValue> describe_broker() const;
  // Every topic config for a topic with these overrides.
  std::vector<ConfigValue> describe_topic(const std::map<std::string, std::string>& overrides) const;
  // One topic config's value in force.
  std::optional<std::string> topic_value(const std::map<std::string, std::string>& overrides,
                                         std::string_view name) const;
  // A numeric topic config (validated when set); 0 if it has no value.
  std::int64_t topic_long(const std::map<std::string, std::string>& overrides,
                          std::string_view name) const;

 private:
  std::map<std::string, std::string, std::less<>> static_;
};

}  // namespace kgw
