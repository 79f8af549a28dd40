// JSON helpers shared by the etcd layout's encoders and decoders
// (etcd_layout.cc, etcd_change_codec.cc); not for other units. Readers are
// checked: false (or an error string) instead of nlohmann's exceptions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/cluster/etcd_layout.h"

namespace kgw::layout {

using nlohmann::json;

inline constexpr int kVersion = 1;

inline std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Parses `text` as a "v":1 object; "" or what is wrong.
inline std::string open(std::string_view text, const char* what, json& j) {
  j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::string(what) + " is not a JSON object";
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) return std::string(what) + " has no version";
  if (v->get<std::int64_t>() != kVersion) {
    return std::string(what) + " has version " + std::to_string(v->get<std::int64_t>()) +
           ", this kgw reads version " + std::to_string(kVersion);
  }
  return "";
}

// Checked field readers: false if absent or of another type.
template <typename Int>
bool get_int(const json& j, const char* name, Int& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = static_cast<Int>(it->get<std::int64_t>());
  return true;
}
inline bool get_string(const json& j, const char* name, std::string& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}
inline bool get_uuid(const json& j, const char* name, Uuid& out) {
  std::string s;
  return get_string(j, name, s) && parse_uuid_base64(s, out);
}
inline bool get_ints(const json& j, const char* name, std::vector<std::int32_t>& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return false;
  out.clear();
  for (const json& x : *it) {
    if (!x.is_number_integer()) return false;
    out.push_back(static_cast<std::int32_t>(x.get<std::int64_t>()));
  }
  return true;
}
inline bool get_configs(const json& j, const char* name, ConfigMap& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_object()) return false;
  out.clear();
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return false;
    out[k] = v.get<std::string>();
  }
  return true;
}
inline bool get_assignment(const json& j, const char* name, ReplicaAssignment& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return false;
  out.clear();
  for (const json& r : *it) {
    if (!r.is_array()) return false;
    auto& replicas = out.emplace_back();
    for (const json& x : r) {
      if (!x.is_number_integer()) return false;
      replicas.push_back(static_cast<std::int32_t>(x.get<std::int64_t>()));
    }
  }
  return true;
}

inline json configs_json(const ConfigMap& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

inline json entity_json(const ClientQuotas::Entity& entity) {
  json e = json::array();
  for (const auto& [type, name] : entity) {
    e.push_back({{"type", type}, {"name", name ? json(*name) : json()}});
  }
  return e;
}
inline bool get_entity(const json& j, const char* name, ClientQuotas::Entity& out) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return false;
  out.clear();
  for (const json& part : *it) {
    if (!part.is_object()) return false;
    std::string type;
    if (!get_string(part, "type", type)) return false;
    std::optional<std::string> n;
    auto nit = part.find("name");
    if (nit != part.end() && nit->is_string()) n = nit->get<std::string>();
    out.emplace_back(std::move(type), std::move(n));
  }
  std::sort(out.begin(), out.end());
  return true;
}

// "adding" and "removing" only while a reassignment is in progress, "elr"
// and "last_known_elr" only when not empty: a record without them (what an
// older kgw wrote) reads as none.
inline json partition_json(const PartitionImage& p) {
  json j = {{"leader", p.leader},
            {"leader_epoch", p.leader_epoch},
            {"partition_epoch", p.partition_epoch},
            {"replicas", p.replicas},
            {"isr", p.isr}};
  if (!p.elr.empty()) j["elr"] = p.elr;
  if (!p.last_known_elr.empty()) j["last_known_elr"] = p.last_known_elr;
  if (!p.adding.empty()) j["adding"] = p.adding;
  if (!p.removing.empty()) j["removing"] = p.removing;
  return j;
}
inline bool get_partition(const json& j, PartitionImage& out) {
  out.elr.clear();
  out.last_known_elr.clear();
  out.adding.clear();
  out.removing.clear();
  if (j.contains("adding") && !get_ints(j, "adding", out.adding)) return false;
  if (j.contains("removing") && !get_ints(j, "removing", out.removing)) return false;
  if (j.contains("last_known_elr") && !get_ints(j, "last_known_elr", out.last_known_elr)) {
    return false;
  }
  return get_int(j, "leader", out.leader) && get_int(j, "leader_epoch", out.leader_epoch) &&
         get_int(j, "partition_epoch", out.partition_epoch) &&
         get_ints(j, "replicas", out.replicas) && get_ints(j, "isr", out.isr) &&
         (!j.contains("elr") || get_ints(j, "elr", out.elr));
}

}  // namespace kgw::layout
