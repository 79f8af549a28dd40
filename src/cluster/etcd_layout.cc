#include "src/cluster/etcd_layout.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <variant>

#include "src/cluster/etcd_json.h"

namespace kgw::layout {

namespace {

constexpr const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string pad(std::int64_t n, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(n));
  return buf;
}
std::string pad_u(std::uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(n));
  return buf;
}

bool parse_number(std::string_view s, std::int64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool parse_seq(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '_' || c == '-') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

// --- Uuids

std::string uuid_base64(const Uuid& id) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : id.bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kB64[(acc << (6 - bits)) & 63];
  return out;
}

bool parse_uuid_base64(std::string_view text, Uuid& out) {
  if (text.size() != 22) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : text) {
    const char* at = std::char_traits<char>::find(kB64, 64, c);
    if (at == nullptr) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(at - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < out.bytes.size()) out.bytes[n++] = static_cast<std::uint8_t>(acc >> bits);
    }
  }
  // 22 chars carry 132 bits: the last 4 must be zero, as Kafka writes them.
  return n == 16 && (acc & ((1u << bits) - 1)) == 0;
}

// --- Keys

std::string cluster_key(std::string_view p) {
  return std::string(p) + "cluster";
}
std::string controller_key(std::string_view p) {
  return std::string(p) + "controller";
}
std::string producer_ids_key(std::string_view p) {
  return std::string(p) + "producer-ids";
}
std::string brokers_prefix(std::string_view p) {
  return std::string(p) + "brokers/";
}
std::string broker_key(std::string_view p, std::int32_t id) {
  return brokers_prefix(p) + pad(id, 10);
}
std::string registered_prefix(std::string_view p) {
  return std::string(p) + "registered/";
}
std::string registered_key(std::string_view p, std::int32_t id) {
  return registered_prefix(p) + pad(id, 10);
}
std::string topics_prefix(std::string_view p) {
  return std::string(p) + "topics/";
}
std::string topic_key(std::string_view p, std::string_view name) {
  return topics_prefix(p) + std::string(name);
}
std::string partitions_prefix(std::string_view p) {
  return std::string(p) + "partitions/";
}
std::string topic_partitions_prefix(std::string_view p, const Uuid& topic) {
  return partitions_prefix(p) + uuid_base64(topic) + "/";
}
std::string partition_key(std::string_view p, const Uuid& topic, std::int32_t index) {
  return topic_partitions_prefix(p, topic) + pad(index, 10);
}
std::string configs_prefix(std::string_view p) {
  return std::string(p) + "configs/";
}
std::string default_configs_key(std::string_view p) {
  return configs_prefix(p) + "default";
}
std::string broker_configs_key(std::string_view p, std::int32_t id) {
  return configs_prefix(p) + "broker/" + pad(id, 10);
}
std::string quotas_prefix(std::string_view p) {
  return std::string(p) + "quotas/";
}
std::string quota_key(std::string_view p, const ClientQuotas::Entity& entity) {
  ClientQuotas::Entity sorted = entity;
  std::sort(sorted.begin(), sorted.end());
  std::string out = quotas_prefix(p);
  bool first = true;
  for (const auto& [type, name] : sorted) {
    if (!first) out += ',';
    first = false;
    out += percent_encode(type);
    if (name) out += '=' + percent_encode(*name);
  }
  return out;
}
std::string requests_prefix(std::string_view p) {
  return std::string(p) + "requests/";
}
std::string request_key(std::string_view p, std::int32_t node, std::uint64_t seq) {
  return requests_prefix(p) + pad(node, 10) + "-" + pad_u(seq);
}
std::string results_prefix(std::string_view p) {
  return std::string(p) + "results/";
}
std::string result_key(std::string_view p, std::int32_t node, std::uint64_t seq) {
  return results_prefix(p) + pad(node, 10) + "-" + pad_u(seq);
}

ParsedKey parse_key(std::string_view p, std::string_view key) {
  ParsedKey out;
  if (key.substr(0, p.size()) != p) return out;
  std::string_view rest = key.substr(p.size());
  auto after = [&](std::string_view head, std::string_view& tail) {
    if (rest.substr(0, head.size()) != head) return false;
    tail = rest.substr(head.size());
    return true;
  };
  auto id32 = [](std::string_view s, std::int32_t& id) {
    std::int64_t v = 0;
    if (!parse_number(s, v) || v > INT32_MAX) return false;
    id = static_cast<std::int32_t>(v);
    return true;
  };
  std::string_view tail;
  if (rest == "cluster") {
    out.kind = ParsedKey::kCluster;
  } else if (rest == "controller") {
    out.kind = ParsedKey::kController;
  } else if (rest == "producer-ids") {
    out.kind = ParsedKey::kProducerIds;
  } else if (after("brokers/", tail)) {
    if (id32(tail, out.id)) out.kind = ParsedKey::kBroker;
  } else if (after("registered/", tail)) {
    if (id32(tail, out.id)) out.kind = ParsedKey::kRegistered;
  } else if (after("topics/", tail)) {
    if (!tail.empty()) {
      out.kind = ParsedKey::kTopic;
      out.name = std::string(tail);
    }
  } else if (after("partitions/", tail)) {
    auto slash = tail.find('/');
    if (slash != std::string_view::npos && parse_uuid_base64(tail.substr(0, slash), out.topic) &&
        id32(tail.substr(slash + 1), out.index)) {
      out.kind = ParsedKey::kPartition;
    }
  } else if (rest == "configs/default") {
    out.kind = ParsedKey::kDefaultConfigs;
  } else if (after("configs/broker/", tail)) {
    if (id32(tail, out.id)) out.kind = ParsedKey::kBrokerConfigs;
  } else if (after("quotas/", tail)) {
    if (!tail.empty()) out.kind = ParsedKey::kQuota;
  } else if (after("requests/", tail) || after("results/", tail)) {
    const bool request = rest.substr(0, 9) == "requests/";
    auto dash = tail.find('-');
    if (dash != std::string_view::npos && id32(tail.substr(0, dash), out.id) &&
        parse_seq(tail.substr(dash + 1), out.seq)) {
      out.kind = request ? ParsedKey::kRequest : ParsedKey::kResult;
    }
  }
  return out;
}

// --- Values

std::string encode_cluster(const ClusterRecord& r) {
  return dump({{"v", kVersion}, {"cluster_id", r.cluster_id}});
}
std::string decode_cluster(std::string_view text, ClusterRecord& out) {
  json j;
  if (std::string e = open(text, "the cluster record", j); !e.empty()) return e;
  if (!get_string(j, "cluster_id", out.cluster_id) || out.cluster_id.empty()) {
    return "the cluster record has no cluster_id";
  }
  return "";
}

std::string encode_broker(const BrokerRegistration& r, bool with_listeners) {
  json j = {{"v", kVersion}, {"id", r.id}, {"host", r.host}, {"port", r.port}};
  if (r.rack) j["rack"] = *r.rack;
  if (!r.log_dir_id.empty()) j["log_dir_id"] = r.log_dir_id;
  if (with_listeners && !r.previous_log_dir_id.empty()) {
    j["previous_log_dir_id"] = r.previous_log_dir_id;
  }
  if (with_listeners) j["listeners"] = configs_json(r.listeners);
  return dump(j);
}
std::string decode_broker(std::string_view text, BrokerRegistration& out) {
  json j;
  if (std::string e = open(text, "a broker registration", j); !e.empty()) return e;
  if (!get_int(j, "id", out.id) || !get_string(j, "host", out.host) ||
      !get_int(j, "port", out.port)) {
    return "a broker registration lacks id, host or port";
  }
  out.rack.reset();
  if (auto it = j.find("rack"); it != j.end() && it->is_string()) out.rack = it->get<std::string>();
  // Absent (an older kgw's registration): unknown.
  out.log_dir_id.clear();
  out.previous_log_dir_id.clear();
  if (j.contains("log_dir_id") && !get_string(j, "log_dir_id", out.log_dir_id)) {
    return "a broker registration's log_dir_id is not a string";
  }
  if (j.contains("previous_log_dir_id") &&
      !get_string(j, "previous_log_dir_id", out.previous_log_dir_id)) {
    return "a broker registration's previous_log_dir_id is not a string";
  }
  out.listeners.clear();
  if (j.contains("listeners") && !get_configs(j, "listeners", out.listeners)) {
    return "a broker registration's listeners are not {name: \"host:port\"}";
  }
  return "";
}

std::string encode_controller(const ControllerRecord& r) {
  return dump({{"v", kVersion}, {"id", r.id}});
}
std::string decode_controller(std::string_view text, ControllerRecord& out) {
  json j;
  if (std::string e = open(text, "the controller record", j); !e.empty()) return e;
  if (!get_int(j, "id", out.id)) return "the controller record has no id";
  return "";
}

std::string encode_topic(const TopicRecord& r) {
  return dump({{"v", kVersion},
               {"id", uuid_base64(r.id)},
               {"configs", configs_json(r.configs)},
               {"partitions", r.partitions}});
}
std::string decode_topic(std::string_view text, TopicRecord& out) {
  json j;
  if (std::string e = open(text, "a topic record", j); !e.empty()) return e;
  if (!get_uuid(j, "id", out.id)) return "a topic record has no valid id";
  if (!get_configs(j, "configs", out.configs)) return "a topic record's configs are not strings";
  if (!get_int(j, "partitions", out.partitions) || out.partitions < 0) {
    return "a topic record has no partition count";
  }
  return "";
}

std::string encode_partition(const PartitionImage& p) {
  json j = partition_json(p);
  j["v"] = kVersion;
  return dump(j);
}
std::string decode_partition(std::string_view text, PartitionImage& out) {
  json j;
  if (std::string e = open(text, "a partition record", j); !e.empty()) return e;
  if (!get_partition(j, out)) {
    return "a partition record lacks leader, leader_epoch, partition_epoch, replicas or isr";
  }
  return "";
}

std::string encode_configs(const ConfigMap& configs) {
  return dump({{"v", kVersion}, {"configs", configs_json(configs)}});
}
std::string decode_configs(std::string_view text, ConfigMap& out) {
  json j;
  if (std::string e = open(text, "a configs record", j); !e.empty()) return e;
  if (!get_configs(j, "configs", out)) return "a configs record's configs are not strings";
  return "";
}

std::string encode_quota(const QuotaRecord& r) {
  json values = json::object();
  for (const auto& [k, v] : r.values) values[k] = v;
  return dump({{"v", kVersion}, {"entity", entity_json(r.entity)}, {"values", values}});
}
std::string decode_quota(std::string_view text, QuotaRecord& out) {
  json j;
  if (std::string e = open(text, "a quota record", j); !e.empty()) return e;
  if (!get_entity(j, "entity", out.entity)) return "a quota record has no entity";
  auto it = j.find("values");
  if (it == j.end() || !it->is_object()) return "a quota record has no values";
  out.values.clear();
  for (const auto& [k, v] : it->items()) {
    if (!v.is_number()) return "a quota record's value is not a number";
    out.values[k] = v.get<double>();
  }
  return "";
}

std::string encode_producer_ids(const ProducerIdBlock& r) {
  return dump({{"v", kVersion}, {"next", r.next}});
}
std::string decode_producer_ids(std::string_view text, ProducerIdBlock& out) {
  json j;
  if (std::string e = open(text, "the producer-id record", j); !e.empty()) return e;
  if (!get_int(j, "next", out.next) || out.next < 0) return "the producer-id record has no next";
  return "";
}

std::string encode_result(const ChangeResult& r) {
  json j = {{"v", kVersion}, {"error", static_cast<int>(r.error)}, {"message", r.message}};
  if (!r.partitions.empty()) {
    json parts = json::array();
    for (const ElectionOutcome& o : r.partitions) {
      parts.push_back({{"id", uuid_base64(o.topic)},
                       {"index", o.partition},
                       {"error", static_cast<int>(o.error)},
                       {"message", o.message}});
    }
    j["partitions"] = std::move(parts);
  }
  return dump(j);
}
std::string decode_result(std::string_view text, ChangeResult& out) {
  json j;
  if (std::string e = open(text, "a change result", j); !e.empty()) return e;
  std::int16_t code = 0;
  if (!get_int(j, "error", code)) return "a change result has no error code";
  out.error = static_cast<ErrorCode>(code);
  out.message.clear();
  get_string(j, "message", out.message);
  out.partitions.clear();
  auto parts = j.find("partitions");
  if (parts == j.end()) return "";
  if (!parts->is_array()) return "a change result's partitions are not a list";
  for (const json& pj : *parts) {
    ElectionOutcome& o = out.partitions.emplace_back();
    std::int16_t e = 0;
    if (!pj.is_object() || !get_uuid(pj, "id", o.topic) || !get_int(pj, "index", o.partition) ||
        !get_int(pj, "error", e)) {
      return "a change result's partition lacks a field";
    }
    o.error = static_cast<ErrorCode>(e);
    get_string(pj, "message", o.message);
  }
  return "";
}

}  // namespace kgw::layout
