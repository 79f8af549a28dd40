// Broker and topic configuration by Kafka's names, types, defaults and
// validation rules.
//
// A broker config's value comes from (highest first) the dynamic value for
// this broker (AlterConfigs on resource "1"), the dynamic cluster default
// (AlterConfigs on resource ""), the static value (--set NAME=VALUE or the
// JSON config file) and the default. A topic config's value comes from the
// topic's own override, then its broker synonyms in order, each with the
// broker precedence above (retention.ms <- log.retention.ms,
// log.retention.minutes, log.retention.hours), then the topic default.
// DescribeConfigs reports the value in force, where it came from and the
// synonyms behind it.
//
// Dynamic values are kept by the store (the caller persists them); this
// class only holds and resolves them. All of it runs on the loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/log_policy.h"

namespace kgw {

enum class ConfigType : std::int8_t {
  kUnknown = 0,
  kBoolean = 1,
  kString = 2,
  kInt = 3,
  kShort = 4,
  kLong = 5,
  kDouble = 6,
  kList = 7,
  kClass = 8,
  kPassword = 9,
};

// DescribeConfigs config_source values.
enum class ConfigSource : std::int8_t {
  kUnknown = 0,
  kDynamicTopic = 1,
  kDynamicBroker = 2,
  kDynamicDefaultBroker = 3,
  kStaticBroker = 4,
  kDefault = 5,
};

// A broker config that supplies a topic config's default; the broker value
// times `unit` is the topic value (log.retention.hours -> retention.ms).
struct BrokerSynonym {
  const char* name;
  std::int64_t unit = 1;
};

// How values are checked, as Kafka's ConfigDef validators.
enum class Check : std::int8_t {
  kNone,
  kRange,         // numbers: [min, max]
  kOneOf,         // strings: one of `allowed`
  kListOf,        // lists: every element one of `allowed`
  kReplicaList,   // "*" or "partition:broker,..." (the throttled replica lists)
  kVersion,       // a Kafka version such as 2.8 or 3.0-IV1
  kNotSupported,  // only the default is accepted (`allowed` says why)
};

struct ConfigDef {
  const char* name;
  ConfigType type;
  const char* default_value;  // nullptr: no value (null)
  const char* doc;
  // Topic configs: the broker configs that supply the default, highest
  // precedence first.
  std::vector<BrokerSynonym> synonyms = {};
  Check check = Check::kNone;
  double min = 0;
  double max = 0;
  // kOneOf / kListOf: allowed values, '|'-separated, in Kafka's order.
  const char* allowed = nullptr;
  // Broker configs: AlterConfigs may change it (Kafka's "dynamic" update
  // mode); the others are read-only at run time.
  bool dynamic = false;
};

// Java's Long.MAX_VALUE as the tables write it (the default or upper bound
// of many numeric configs) and as validation messages print it.
inline constexpr const char* kConfigLongMax = "9223372036854775807";
inline constexpr double kConfigLongMaxD = 9223372036854775807.0;

// The tables (broker_config_defs.cc).
std::vector<ConfigDef> const& broker_config_defs();
std::vector<ConfigDef> const& topic_config_defs();
const ConfigDef* find_broker_config(std::string_view name);
const ConfigDef* find_topic_config(std::string_view name);

// Checks a value against a definition; returns "" or Kafka's message
// ("Invalid value X for configuration Y: Value must be at least 0"), which
// goes into INVALID_CONFIG answers.
std::string validate_config_value(const ConfigDef& def, std::string_view value);
// Kafka's list syntax: comma-separated, blanks around elements ignored.
std::vector<std::string> split_config_list(std::string_view value);

struct ConfigSynonymValue {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::kDefault;
};

struct ConfigValue {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::kDefault;
  ConfigType type = ConfigType::kUnknown;
  const char* doc = "";
  bool read_only = false;
  // Every value behind this one (for include_synonyms), highest first,
  // starting with the one in force.
  std::vector<ConfigSynonymValue> synonyms;
};

// Which dynamic broker layer: this broker (resource name "1") or the
// cluster-wide default (resource name "").
enum class DynamicLayer : std::int8_t { kBroker, kDefault };

class BrokerConfig {
 public:
  // Sets a static broker config (config file or --set); returns "" or an
  // error naming the config.
  std::string set(std::string_view name, std::string_view value);

  // Checks a whole set of dynamic broker configs; "" or Kafka's message.
  static std::string validate_dynamic(const std::map<std::string, std::string>& configs);
  // Replaces one dynamic layer (validate first).
  void set_dynamic(DynamicLayer layer, std::map<std::string, std::string> configs);
  const std::map<std::string, std::string>& dynamic(DynamicLayer layer) const {
    return layer == DynamicLayer::kBroker ? dynamic_broker_ : dynamic_default_;
  }

  std::optional<std::string> get(std::string_view name) const;
  std::int64_t get_long(std::string_view name) const;
  bool get_bool(std::string_view name) const;

  // Every broker config with the value in force.
  std::vector<ConfigValue> describe_broker() const;
  // Every topic config for a topic with these overrides.
  std::vector<ConfigValue> describe_topic(
      const std::map<std::string, std::string>& overrides) const;
  // One topic config's value in force.
  std::optional<std::string> topic_value(const std::map<std::string, std::string>& overrides,
                                         std::string_view name) const;
  // A numeric topic config (validated when set); 0 if it has no value.
  std::int64_t topic_long(const std::map<std::string, std::string>& overrides,
                          std::string_view name) const;

  // Checks a topic's whole set of overrides (names and values); "" or
  // Kafka's message.
  static std::string validate_topic_overrides(const std::map<std::string, std::string>& overrides);

  // The numbers retention and compaction act on for a topic.
  LogPolicy log_policy(const std::map<std::string, std::string>& overrides) const;
  MaintenanceOptions maintenance() const;

 private:
  // The broker value of `name` in force and its source; nullopt if null.
  std::optional<std::pair<std::string, ConfigSource>> broker_value(std::string_view name) const;

  std::map<std::string, std::string, std::less<>> static_;
  std::map<std::string, std::string> dynamic_default_;
  std::map<std::string, std::string> dynamic_broker_;
};

}  // namespace kgw
