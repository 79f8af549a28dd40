#include "src/broker/broker_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace kgw {

namespace {

using T = ConfigType;

const ConfigDef* find_in(const std::vector<ConfigDef>& defs, std::string_view name) {
  for (const auto& d : defs) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view s, std::int64_t& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool parse_double(std::string_view s, double& out) {
  std::string t(trim(s));
  if (t.empty()) return false;
  char* end = nullptr;
  out = std::strtod(t.c_str(), &end);
  return *end == '\0' && std::isfinite(out);
}

// Java's Number.toString for the bounds in messages: 0 for integers, 0.0
// for doubles.
std::string bound_text(const ConfigDef& def, double v) {
  if (def.type == T::kDouble) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
    return s;
  }
  if (v >= kConfigLongMaxD) return kConfigLongMax;
  return std::to_string(static_cast<std::int64_t>(v));
}

std::string invalid(const ConfigDef& def, std::string_view value, const std::string& why) {
  return "Invalid value " + std::string(value) + " for configuration " + def.name + ": " + why;
}

std::vector<std::string_view> allowed_values(const char* allowed) {
  std::vector<std::string_view> out;
  std::string_view rest = allowed;
  while (!rest.empty()) {
    auto bar = rest.find('|');
    out.push_back(rest.substr(0, bar));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  return out;
}

std::string one_of_message(const char* allowed) {
  std::string list;
  for (auto v : allowed_values(allowed)) {
    if (!list.empty()) list += ", ";
    list += v;
  }
  return "String must be one of: " + list;
}

bool is_allowed(const char* allowed, std::string_view v) {
  for (auto a : allowed_values(allowed)) {
    if (a == v) return true;
  }
  return false;
}

// "0.10.0.0", "2.8", "3.0-IV1", "3.0-IV1-something": digits and dots, an
// optional -IVn.
bool looks_like_version(std::string_view v) {
  v = trim(v);
  auto dash = v.find('-');
  std::string_view nums = v.substr(0, dash);
  if (nums.empty() || nums.front() == '.' || nums.back() == '.') return false;
  int dots = 0;
  for (char c : nums) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  if (dots < 1) return false;
  if (dash == std::string_view::npos) return true;
  std::string_view iv = v.substr(dash + 1);
  return iv.size() > 2 && iv.substr(0, 2) == "IV";
}

bool valid_replica_list(std::string_view v) {
  v = trim(v);
  if (v.empty() || v == "*") return true;
  for (const std::string& e : split_config_list(v)) {
    auto colon = e.find(':');
    std::int64_t a = 0, b = 0;
    if (colon == std::string::npos || !parse_int(std::string_view(e).substr(0, colon), a) ||
        !parse_int(std::string_view(e).substr(colon + 1), b)) {
      return false;
    }
  }
  return true;
}

}  // namespace

const ConfigDef* find_broker_config(std::string_view name) {
  return find_in(broker_config_defs(), name);
}
const ConfigDef* find_topic_config(std::string_view name) {
  return find_in(topic_config_defs(), name);
}

std::vector<std::string> split_config_list(std::string_view value) {
  std::vector<std::string> out;
  value = trim(value);
  if (value.empty()) return out;
  for (;;) {
    auto comma = value.find(',');
    out.emplace_back(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

std::string validate_config_value(const ConfigDef& def, std::string_view value) {
  std::int64_t n = 0;
  double d = 0;
  switch (def.type) {
    case T::kBoolean: {
      std::string lower(trim(value));
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower != "true" && lower != "false") {
        return invalid(def, value, "Expected value to be either true or false");
      }
      break;
    }
    case T::kShort:
      if (!parse_int(value, n) || n < INT16_MIN || n > INT16_MAX) {
        return invalid(def, value, "Not a number of type SHORT");
      }
      d = static_cast<double>(n);
      break;
    case T::kInt:
      if (!parse_int(value, n) || n < INT32_MIN || n > INT32_MAX) {
        return invalid(def, value, "Not a number of type INT");
      }
      d = static_cast<double>(n);
      break;
    case T::kLong:
      if (!parse_int(value, n)) return invalid(def, value, "Not a number of type LONG");
      d = static_cast<double>(n);
      break;
    case T::kDouble:
      if (!parse_double(value, d)) return invalid(def, value, "Not a number of type DOUBLE");
      break;
    default:
      break;
  }
  switch (def.check) {
    case Check::kNone:
      break;
    case Check::kRange:
      if (d < def.min)
        return invalid(def, value, "Value must be at least " + bound_text(def, def.min));
      if (d > def.max) {
        return invalid(def, value, "Value must be no more than " + bound_text(def, def.max));
      }
      break;
    case Check::kOneOf:
      if (!is_allowed(def.allowed, trim(value)))
        return invalid(def, value, one_of_message(def.allowed));
      break;
    case Check::kListOf:
      for (const std::string& e : split_config_list(value)) {
        if (!is_allowed(def.allowed, e)) return invalid(def, e, one_of_message(def.allowed));
      }
      break;
    case Check::kReplicaList:
      if (!valid_replica_list(value)) {
        return invalid(def, value,
                       "must be the literal '*' or a list of replicas in the following format: "
                       "[partitionId]:[brokerId],[partitionId]:[brokerId],...");
      }
      break;
    case Check::kVersion:
      if (!looks_like_version(value)) {
        return invalid(def, value, "Version " + std::string(value) + " is not a valid version");
      }
      break;
    case Check::kNotSupported: {
      std::string lower(trim(value));
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (def.default_value != nullptr && lower != def.default_value) return def.allowed;
      break;
    }
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
  static_[std::string(name)] = std::string(trim(value));
  if (name == "node.id") static_["broker.id"] = std::string(trim(value));
  if (name == "broker.id") static_["node.id"] = std::string(trim(value));
  return "";
}

std::string BrokerConfig::validate_dynamic(const std::map<std::string, std::string>& configs) {
  std::string fixed;
  for (const auto& [name, value] : configs) {
    const ConfigDef* def = find_broker_config(name);
    if (def == nullptr) return "Unknown broker config name: " + name;
    if (!def->dynamic) {
      if (!fixed.empty()) fixed += ", ";
      fixed += name;
      continue;
    }
    if (std::string err = validate_config_value(*def, value); !err.empty()) return err;
  }
  if (!fixed.empty()) return "Cannot update these configs dynamically: Set(" + fixed + ")";
  return "";
}

void BrokerConfig::set_dynamic(DynamicLayer layer, std::map<std::string, std::string> configs) {
  (layer == DynamicLayer::kBroker ? dynamic_broker_ : dynamic_default_) = std::move(configs);
}

std::optional<std::pair<std::string, ConfigSource>> BrokerConfig::broker_value(
    std::string_view name) const {
  const std::string key(name);
  if (auto it = dynamic_broker_.find(key); it != dynamic_broker_.end()) {
    return std::make_pair(it->second, ConfigSource::kDynamicBroker);
  }
  if (auto it = dynamic_default_.find(key); it != dynamic_default_.end()) {
    return std::make_pair(it->second, ConfigSource::kDynamicDefaultBroker);
  }
  if (auto it = static_.find(name); it != static_.end()) {
    return std::make_pair(it->second, ConfigSource::kStaticBroker);
  }
  const ConfigDef* def = find_broker_config(name);
  if (def == nullptr || def->default_value == nullptr) return std::nullopt;
  return std::make_pair(std::string(def->default_value), ConfigSource::kDefault);
}

std::optional<std::string> BrokerConfig::get(std::string_view name) const {
  auto v = broker_value(name);
  if (!v) return std::nullopt;
  return v->first;
}

std::int64_t BrokerConfig::get_long(std::string_view name) const {
  std::int64_t n = 0;
  auto v = get(name);
  if (v) parse_int(*v, n);
  return n;
}

bool BrokerConfig::get_bool(std::string_view name) const {
  auto v = get(name);
  if (!v) return false;
  std::string lower(trim(*v));
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "true";
}

std::vector<ConfigValue> BrokerConfig::describe_broker() const {
  std::vector<ConfigValue> out;
  for (const auto& d : broker_config_defs()) {
    ConfigValue v;
    v.name = d.name;
    v.type = d.type;
    v.doc = d.doc;
    v.read_only = !d.dynamic;
    const std::string key = d.name;
    if (auto it = dynamic_broker_.find(key); it != dynamic_broker_.end()) {
      v.synonyms.push_back({key, it->second, ConfigSource::kDynamicBroker});
    }
    if (auto it = dynamic_default_.find(key); it != dynamic_default_.end()) {
      v.synonyms.push_back({key, it->second, ConfigSource::kDynamicDefaultBroker});
    }
    if (auto it = static_.find(key); it != static_.end()) {
      v.synonyms.push_back({key, it->second, ConfigSource::kStaticBroker});
    }
    if (d.default_value) v.synonyms.push_back({key, d.default_value, ConfigSource::kDefault});
    if (!v.synonyms.empty()) {
      v.value = v.synonyms.front().value;
      v.source = v.synonyms.front().source;
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<ConfigValue> BrokerConfig::describe_topic(
    const std::map<std::string, std::string>& overrides) const {
  std::vector<ConfigValue> out;
  for (const auto& d : topic_config_defs()) {
    ConfigValue v;
    v.name = d.name;
    v.type = d.type;
    v.doc = d.doc;
    if (auto it = overrides.find(d.name); it != overrides.end()) {
      v.value = it->second;
      v.source = ConfigSource::kDynamicTopic;
      v.synonyms.push_back({d.name, it->second, ConfigSource::kDynamicTopic});
    }
    for (const BrokerSynonym& s : d.synonyms) {
      const std::string key = s.name;
      std::vector<ConfigSynonymValue> layers;
      if (auto it = dynamic_broker_.find(key); it != dynamic_broker_.end()) {
        layers.push_back({key, it->second, ConfigSource::kDynamicBroker});
      }
      if (auto it = dynamic_default_.find(key); it != dynamic_default_.end()) {
        layers.push_back({key, it->second, ConfigSource::kDynamicDefaultBroker});
      }
      if (auto it = static_.find(key); it != static_.end()) {
        layers.push_back({key, it->second, ConfigSource::kStaticBroker});
      }
      const ConfigDef* bd = find_broker_config(key);
      if (bd != nullptr && bd->default_value != nullptr) {
        layers.push_back({key, bd->default_value, ConfigSource::kDefault});
      }
      for (auto& l : layers) {
        if (!v.value && l.value) {
          std::int64_t n = 0;
          if (s.unit != 1 && parse_int(*l.value, n)) {
            v.value = std::to_string(n * s.unit);
          } else {
            v.value = std::string(trim(*l.value));
          }
          v.source = l.source;
        }
        v.synonyms.push_back(std::move(l));
      }
    }
    if (!v.value) {
      v.value = d.default_value ? std::optional<std::string>(d.default_value) : std::nullopt;
      v.source = ConfigSource::kDefault;
      if (d.synonyms.empty() && d.default_value) {
        v.synonyms.push_back({d.name, d.default_value, ConfigSource::kDefault});
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<std::string> BrokerConfig::topic_value(
    const std::map<std::string, std::string>& overrides, std::string_view name) const {
  auto it = overrides.find(std::string(name));
  if (it != overrides.end()) return std::string(trim(it->second));
  const ConfigDef* d = find_topic_config(name);
  if (d == nullptr) return std::nullopt;
  for (const BrokerSynonym& s : d->synonyms) {
    auto v = broker_value(s.name);
    if (!v) continue;
    std::int64_t n = 0;
    if (s.unit != 1 && parse_int(v->first, n)) return std::to_string(n * s.unit);
    return std::string(trim(v->first));
  }
  return d->default_value ? std::optional<std::string>(d->default_value) : std::nullopt;
}

std::int64_t BrokerConfig::topic_long(const std::map<std::string, std::string>& overrides,
                                      std::string_view name) const {
  std::int64_t n = 0;
  auto v = topic_value(overrides, name);
  if (v) parse_int(*v, n);
  return n;
}

std::string BrokerConfig::validate_topic_overrides(
    const std::map<std::string, std::string>& overrides) {
  for (const auto& [key, value] : overrides) {
    const ConfigDef* def = find_topic_config(key);
    if (def == nullptr) return "Unknown topic config name: " + key;
    if (std::string err = validate_config_value(*def, value); !err.empty()) return err;
  }
  return "";
}

LogPolicy BrokerConfig::log_policy(const std::map<std::string, std::string>& overrides) const {
  LogPolicy p;
  const auto policy = split_config_list(topic_value(overrides, "cleanup.policy").value_or(""));
  p.delete_enabled = std::find(policy.begin(), policy.end(), "delete") != policy.end();
  p.compact = std::find(policy.begin(), policy.end(), "compact") != policy.end();
  p.retention_ms = topic_long(overrides, "retention.ms");
  p.retention_bytes = topic_long(overrides, "retention.bytes");
  p.segment_bytes = topic_long(overrides, "segment.bytes");
  p.segment_ms = topic_long(overrides, "segment.ms");
  p.delete_retention_ms = topic_long(overrides, "delete.retention.ms");
  p.min_compaction_lag_ms = topic_long(overrides, "min.compaction.lag.ms");
  p.max_compaction_lag_ms = topic_long(overrides, "max.compaction.lag.ms");
  double ratio = 0.5;
  if (auto v = topic_value(overrides, "min.cleanable.dirty.ratio")) parse_double(*v, ratio);
  p.min_cleanable_dirty_ratio = ratio;
  return p;
}

MaintenanceOptions BrokerConfig::maintenance() const {
  MaintenanceOptions m;
  m.retention_check_interval_ms = get_long("log.retention.check.interval.ms");
  m.cleaner_enabled = get_bool("log.cleaner.enable");
  m.cleaner_backoff_ms = get_long("log.cleaner.backoff.ms");
  m.cleaner_dedupe_buffer_bytes = get_long("log.cleaner.dedupe.buffer.size");
  return m;
}

}  // namespace kgw
