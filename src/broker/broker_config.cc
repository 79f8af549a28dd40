#include "src/broker/broker_config.h"

#include <charconv>

namespace kgw {

namespace {

using T = ConfigType;

const std::vector<ConfigDef> kBrokerDefs = {
    {"node.id", T::kInt, "1", "The id of this node in the cluster.", nullptr, nullptr, true},
    {"broker.id", T::kInt, "1", "Synonym of node.id.", nullptr, nullptr, true},
    {"num.partitions", T::kInt, "1", "Partitions of an auto-created topic."},
    {"default.replication.factor", T::kInt, "1", "Replication factor of an auto-created topic."},
    {"auto.create.topics.enable", T::kBoolean, "true",
     "Create a topic when a client asks Metadata for one that does not exist."},
    {"delete.topic.enable", T::kBoolean, "true", "Allow DeleteTopics."},
    {"socket.request.max.bytes", T::kInt, "104857600",
     "Largest request frame; a larger one closes the connection.", nullptr, nullptr, true},
    {"message.max.bytes", T::kInt, "1048588", "Largest record batch a topic accepts by default."},
    {"log.retention.ms", T::kLong, "604800000", "How long a partition keeps data by default."},
    {"log.retention.bytes", T::kLong, "-1", "Size a partition keeps by default; -1: no limit."},
    {"log.cleanup.policy", T::kList, "delete", "Default cleanup policy.", nullptr,
     "delete|compact|compact,delete|delete,compact"},
    {"log.segment.bytes", T::kInt, "1073741824", "Default retention granule in bytes."},
    {"log.roll.ms", T::kLong, "604800000", "Default retention granule in time."},
    {"log.message.timestamp.type", T::kString, "CreateTime", "Default timestamp type.", nullptr,
     "CreateTime|LogAppendTime"},
    {"log.message.timestamp.difference.max.ms", T::kLong, "9223372036854775807",
     "Largest accepted difference between a record's timestamp and the broker's clock."},
    {"compression.type", T::kString, "producer", "Default compression of stored batches.",
     nullptr, "uncompressed|zstd|lz4|snappy|gzip|producer"},
    {"min.insync.replicas", T::kInt, "1", "In-sync replicas acks=all needs."},
    {"log.cleaner.delete.retention.ms", T::kLong, "86400000",
     "How long tombstones survive compaction."},
    {"log.cleaner.min.compaction.lag.ms", T::kLong, "0", "Minimum age before compaction."},
    {"log.cleaner.min.cleanable.ratio", T::kDouble, "0.5", "Dirty ratio that starts compaction."},
    {"group.initial.rebalance.delay.ms", T::kInt, "3000",
     "Delay before the first rebalance of a new group.", nullptr, nullptr, true},
    {"group.min.session.timeout.ms", T::kInt, "6000",
     "Smallest session timeout a group member may ask for.", nullptr, nullptr, true},
    {"group.max.session.timeout.ms", T::kInt, "1800000",
     "Largest session timeout a group member may ask for.", nullptr, nullptr, true},
    {"group.max.size", T::kInt, "2147483647", "Most members in one consumer group.", nullptr,
     nullptr, true},
    {"offsets.retention.minutes", T::kInt, "10080",
     "How long offsets of an empty group (or of a group that only stores offsets) are kept.",
     nullptr, nullptr, true},
    {"offsets.retention.check.interval.ms", T::kLong, "600000",
     "How often expired offsets are looked for.", nullptr, nullptr, true},
    {"offset.metadata.max.bytes", T::kInt, "4096", "Longest metadata of a committed offset.",
     nullptr, nullptr, true},
    {"transaction.max.timeout.ms", T::kInt, "900000", "Largest transaction timeout."},
};

const std::vector<ConfigDef> kTopicDefs = {
    {"cleanup.policy", T::kList, "delete", "delete, compact, or both.", "log.cleanup.policy",
     "delete|compact|compact,delete|delete,compact"},
    {"retention.ms", T::kLong, "604800000", "How long the topic keeps data; -1: forever.",
     "log.retention.ms"},
    {"retention.bytes", T::kLong, "-1", "Bytes a partition keeps; -1: no limit.",
     "log.retention.bytes"},
    {"segment.bytes", T::kInt, "1073741824", "Retention granule in bytes.", "log.segment.bytes"},
    {"segment.ms", T::kLong, "604800000", "Retention granule in time.", "log.roll.ms"},
    {"max.message.bytes", T::kInt, "1048588", "Largest record batch accepted.",
     "message.max.bytes"},
    {"message.timestamp.type", T::kString, "CreateTime", "CreateTime or LogAppendTime.",
     "log.message.timestamp.type", "CreateTime|LogAppendTime"},
    {"message.timestamp.difference.max.ms", T::kLong, "9223372036854775807",
     "Largest accepted difference between a record's timestamp and the broker's clock.",
     "log.message.timestamp.difference.max.ms"},
    {"compression.type", T::kString, "producer", "Compression of stored batches.",
     "compression.type", "uncompressed|zstd|lz4|snappy|gzip|producer"},
    {"min.insync.replicas", T::kInt, "1", "In-sync replicas acks=all needs.",
     "min.insync.replicas"},
    {"delete.retention.ms", T::kLong, "86400000", "How long tombstones survive compaction.",
     "log.cleaner.delete.retention.ms"},
    {"min.compaction.lag.ms", T::kLong, "0", "Minimum age before compaction.",
     "log.cleaner.min.compaction.lag.ms"},
    {"min.cleanable.dirty.ratio", T::kDouble, "0.5", "Dirty ratio that starts compaction.",
     "log.cleaner.min.cleanable.ratio"},
};

const ConfigDef* find_in(const std::vector<ConfigDef>& defs, std::string_view name) {
  for (const auto& d : defs) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

bool parse_int(std::string_view s, std::int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

const std::vector<ConfigDef>& broker_config_defs() { return kBrokerDefs; }
const std::vector<ConfigDef>& topic_config_defs() { return kTopicDefs; }
const ConfigDef* find_broker_config(std::string_view name) { return find_in(kBrokerDefs, name); }
const ConfigDef* find_topic_config(std::string_view name) { return find_in(kTopicDefs, name); }

std::string validate_config_value(const ConfigDef& def, std::string_view value) {
  const std::string name = def.name;
  std::int64_t n = 0;
  switch (def.type) {
    case T::kBoolean:
      if (value != "true" && value != "false") {
        return "Invalid value " + std::string(value) + " for configuration " + name +
               ": Expected value to be either true or false";
      }
      break;
    case T::kInt:
    case T::kShort:
      if (!parse_int(value, n) || n < INT32_MIN || n > INT32_MAX) {
        return "Invalid value " + std::string(value) + " for configuration " + name +
               ": Not a number of type INT";
      }
      break;
    case T::kLong:
      if (!parse_int(value, n)) {
        return "Invalid value " + std::string(value) + " for configuration " + name +
               ": Not a number of type LONG";
      }
      break;
    case T::kDouble: {
      char* end = nullptr;
      std::string s(value);
      std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0') {
        return "Invalid value " + s + " for configuration " + name + ": Not a number of type DOUBLE";
      }
      break;
    }
    default:
      break;
  }
  if (def.allowed != nullptr) {
    std::string_view allowed = def.allowed;
    while (!allowed.empty()) {
      auto bar = allowed.find('|');
      if (allowed.substr(0, bar) == value) return "";
      if (bar == std::string_view::npos) break;
      allowed.remove_prefix(bar + 1);
    }
    std::string list(def.allowed);
    for (auto& c : list) {
      if (c == '|') c = ' ';
    }
    return "Invalid value " + std::string(value) + " for configuration " + name +
           ": String must be one of: " + list;
  }
  return "";
}

std::string BrokerConfig::set(std::string_view name, std::string_view value) {
  const ConfigDef* def = find_broker_config(name);
  if (def == nullptr) {
    return "unknown broker config '" + std::string(name) +
           "' (kgw --help lists them; topic configs go to CreateTopics or AlterConfigs)";
  }
  std::string err = validate_config_value(*def, value);
  if (!err.empty()) return err;
  static_[std::string(name)] = std::string(value);
  if (name == "node.id") static_["broker.id"] = std::string(value);
  if (name == "broker.id") static_["node.id"] = std::string(value);
  return "";
}

std::optional<std::string> BrokerConfig::get(std::string_view name) const {
  auto it = static_.find(name);
  if (it != static_.end()) return it->second;
  const ConfigDef* def = find_broker_config(name);
  if (def == nullptr || def->default_value == nullptr) return std::nullopt;
  return std::string(def->default_value);
}

std::int64_t BrokerConfig::get_long(std::string_view name) const {
  std::int64_t n = 0;
  auto v = get(name);
  if (v) parse_int(*v, n);
  return n;
}

bool BrokerConfig::get_bool(std::string_view name) const { return get(name) == "true"; }

std::vector<ConfigValue> BrokerConfig::describe_broker() const {
  std::vector<ConfigValue> out;
  for (const auto& d : kBrokerDefs) {
    ConfigValue v;
    v.name = d.name;
    v.type = d.type;
    v.doc = d.doc;
    v.read_only = d.read_only;
    auto it = static_.find(d.name);
    if (it != static_.end()) {
      v.value = it->second;
      v.source = ConfigSource::kStaticBroker;
      v.synonyms.push_back({d.name, {it->second, ConfigSource::kStaticBroker}});
    } else {
      v.value = d.default_value ? std::optional<std::string>(d.default_value) : std::nullopt;
      v.source = ConfigSource::kDefault;
    }
    if (d.default_value) v.synonyms.push_back({d.name, {d.default_value, ConfigSource::kDefault}});
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<ConfigValue> BrokerConfig::describe_topic(
    const std::map<std::string, std::string>& overrides) const {
  std::vector<ConfigValue> out;
  for (const auto& d : kTopicDefs) {
    ConfigValue v;
    v.name = d.name;
    v.type = d.type;
    v.doc = d.doc;
    auto it = overrides.find(d.name);
    if (it != overrides.end()) {
      v.value = it->second;
      v.source = ConfigSource::kDynamicTopic;
      v.synonyms.push_back({d.name, {it->second, ConfigSource::kDynamicTopic}});
    }
    auto st = d.broker_synonym ? static_.find(d.broker_synonym) : static_.end();
    if (st != static_.end()) {
      if (!v.value) {
        v.value = st->second;
        v.source = ConfigSource::kStaticBroker;
      }
      v.synonyms.push_back({d.broker_synonym, {st->second, ConfigSource::kStaticBroker}});
    }
    if (!v.value) {
      v.value = d.default_value ? std::optional<std::string>(d.default_value) : std::nullopt;
      v.source = ConfigSource::kDefault;
    }
    if (d.default_value) {
      v.synonyms.push_back({d.broker_synonym ? d.broker_synonym : d.name,
                            {d.default_value, ConfigSource::kDefault}});
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<std::string> BrokerConfig::topic_value(
    const std::map<std::string, std::string>& overrides, std::string_view name) const {
  auto it = overrides.find(std::string(name));
  if (it != overrides.end()) return it->second;
  const ConfigDef* d = find_topic_config(name);
  if (d == nullptr) return std::nullopt;
  if (d->broker_synonym) {
    auto st = static_.find(d->broker_synonym);
    if (st != static_.end()) return st->second;
  }
  return d->default_value ? std::optional<std::string>(d->default_value) : std::nullopt;
}

}  // namespace kgw

namespace kgw {

std::int64_t BrokerConfig::topic_long(const std::map<std::string, std::string>& overrides,
                                      std::string_view name) const {
  std::int64_t n = 0;
  auto v = topic_value(overrides, name);
  if (v) parse_int(*v, n);
  return n;
}

}  // namespace kgw
