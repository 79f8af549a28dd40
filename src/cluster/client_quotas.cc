#include "src/cluster/client_quotas.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

namespace kgw {

namespace {

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// Quota keys by the entities they apply to; the integer ones are Kafka's
// LONG / INT configs.
struct QuotaKey {
  const char* name;
  bool for_ip;
  bool integer;
};
constexpr QuotaKey kKeys[] = {
    {"producer_byte_rate", false, true},      {"consumer_byte_rate", false, true},
    {"request_percentage", false, false},     {"controller_mutation_rate", false, false},
    {"connection_creation_rate", true, true},
};

}  // namespace

std::string ClientQuotas::validate(const Entity& entity, const std::vector<Op>& ops) {
  if (entity.empty()) return "Invalid empty client quota entity";
  std::set<std::string> types;
  bool ip = false;
  for (const auto& [type, name] : entity) {
    if (type != "user" && type != "client-id" && type != "ip") {
      return "Unhandled client quota entity type: " + type;
    }
    if (!types.insert(type).second) return "Duplicate entity type: " + type;
    if (name && name->empty() && type != "client-id") return "Empty " + type + " not supported";
    if (type == "ip") {
      ip = true;
      if (name && !is_ip(*name)) return *name + " is not a valid IP or resolvable host.";
    }
  }
  if (ip && types.size() > 1) {
    return "Invalid quota entity combination, IP entity should not be combined with User or "
           "ClientId";
  }
  std::set<std::string> keys;
  for (const Op& op : ops) {
    const QuotaKey* k = nullptr;
    for (const auto& q : kKeys) {
      if (op.key == q.name && q.for_ip == ip) k = &q;
    }
    if (k == nullptr) return "Invalid configuration key " + op.key;
    if (!keys.insert(op.key).second) return "Duplicate quota key " + op.key;
    if (op.remove) continue;
    if (!std::isfinite(op.value) || op.value < 0) {
      return "Invalid value " + std::to_string(op.value) + " for configuration " + op.key;
    }
    if (k->integer && op.value != std::floor(op.value)) {
      return "Invalid value " + std::to_string(op.value) + " for configuration " + op.key +
             ": Not a number of type " + (op.key == "connection_creation_rate" ? "INT" : "LONG");
    }
  }
  return "";
}

void ClientQuotas::apply(const Entity& entity, const std::vector<Op>& ops) {
  Values& v = entries_[entity];
  for (const Op& op : ops) {
    if (op.remove) {
      v.erase(op.key);
    } else {
      v[op.key] = op.value;
    }
  }
  if (v.empty()) entries_.erase(entity);
}

std::vector<std::pair<ClientQuotas::Entity, ClientQuotas::Values>> ClientQuotas::describe(
    const std::vector<Filter>& filters, bool strict, std::string& error) const {
  std::vector<std::pair<Entity, Values>> out;
  std::set<std::string> types;
  for (const Filter& f : filters) {
    if (f.entity_type.empty()) {
      error = "Invalid empty entity type";
      return out;
    }
    if (!types.insert(f.entity_type).second) {
      error = "Duplicate entity type in filter: " + f.entity_type;
      return out;
    }
    if (f.match_type < 0 || f.match_type > 2) {
      error = "Unexpected match type " + std::to_string(f.match_type);
      return out;
    }
    if (f.match_type == 0 && !f.match) {
      error = "Exact match of " + f.entity_type + " needs a name";
      return out;
    }
  }
  for (const auto& [entity, values] : entries_) {
    bool ok = !strict || entity.size() == filters.size();
    for (const Filter& f : filters) {
      if (!ok) break;
      auto part = std::find_if(entity.begin(), entity.end(),
                               [&](const auto& p) { return p.first == f.entity_type; });
      if (part == entity.end()) {
        ok = false;
      } else if (f.match_type == 0) {
        ok = part->second == f.match;
      } else if (f.match_type == 1) {
        ok = !part->second;
      } else {
        ok = part->second.has_value();
      }
    }
    if (ok) out.emplace_back(entity, values);
  }
  return out;
}

std::string ClientQuotas::encode() const {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& [entity, values] : entries_) {
    nlohmann::json e = nlohmann::json::array();
    for (const auto& [type, name] : entity) {
      e.push_back({{"type", type}, {"name", name ? nlohmann::json(*name) : nlohmann::json()}});
    }
    nlohmann::json v = nlohmann::json::object();
    for (const auto& [k, x] : values) v[k] = x;
    all.push_back({{"entity", e}, {"values", v}});
  }
  return all.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ClientQuotas::decode(const std::string& text) {
  nlohmann::json all = nlohmann::json::parse(text, nullptr, false);
  if (!all.is_array()) return "the stored client quotas are not a JSON array";
  std::map<Entity, Values> entries;
  for (const auto& item : all) {
    if (!item.is_object() || !item.contains("entity") || !item.contains("values") ||
        !item["entity"].is_array() || !item["values"].is_object()) {
      return "a stored client quota entry is not {\"entity\": [...], \"values\": {...}}";
    }
    Entity entity;
    for (const auto& part : item["entity"]) {
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
        return "a stored client quota entity lacks a type";
      }
      std::optional<std::string> name;
      if (part.contains("name") && part["name"].is_string()) name = part["name"].get<std::string>();
      entity.emplace_back(part["type"].get<std::string>(), name);
    }
    std::sort(entity.begin(), entity.end());
    Values values;
    for (const auto& [k, v] : item["values"].items()) {
      if (!v.is_number()) return "a stored client quota value is not a number";
      values[k] = v.get<double>();
    }
    entries[entity] = values;
  }
  entries_ = std::move(entries);
  return "";
}

}  // namespace kgw
