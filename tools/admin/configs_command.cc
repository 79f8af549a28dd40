// kgw-admin configs (and bin/kafka-configs.sh): describe and alter topic
// configs and dynamic broker configs, with kafka-configs.sh's flags and
// output.
//
// Kafka's tool alters with IncrementalAlterConfigs; librdkafka 2.0.2 (the
// Debian one) has only AlterConfigs, which replaces a resource's whole set.
// So alter reads the resource's current dynamic configs, applies
// --add-config / --delete-config to them and writes the whole set back;
// two tools altering the same resource at the same moment could lose one
// change. Client quota entities (users, clients, ips) need the quota admin
// API, which librdkafka 2.0.2 lacks: refused with a message.
#include <cstdio>
#include <map>

#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing config command:";

constexpr const char* kUsage =
    "Usage: kgw-admin configs ACTION --bootstrap-server HOST:PORT --entity-type TYPE\n"
    "                         (--entity-name NAME | --entity-default) [options]\n"
    "       (bin/kafka-configs.sh takes the same flags, the action as --describe or --alter)\n"
    "Entity types: topics, brokers (also --topic T, --broker N, --broker-defaults)\n"
    "Actions:\n"
    "  describe   [--all]   the dynamic configs (or with --all every config in force)\n"
    "  alter      --add-config 'K1=V1,K2=[A,B]' --delete-config K3,K4\n"
    "Other options: --command-config FILE (librdkafka properties), --help\n";

const char* source_name(rd_kafka_ConfigSource_t s) {
  switch (s) {
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG:
      return "DYNAMIC_TOPIC_CONFIG";
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG:
      return "DYNAMIC_BROKER_CONFIG";
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG:
      return "DYNAMIC_DEFAULT_BROKER_CONFIG";
    case RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG:
      return "STATIC_BROKER_CONFIG";
    case RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG:
      return "DEFAULT_CONFIG";
    default:
      return "UNKNOWN";
  }
}

struct Target {
  rd_kafka_ResourceType_t type = RD_KAFKA_RESOURCE_TOPIC;
  std::string name;  // "" = the cluster default (brokers)
  rd_kafka_ConfigSource_t dynamic_source = RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
  std::string label;  // "topic t", "broker 1", "brokers in the cluster"
};

struct Entry {
  std::string name;
  std::optional<std::string> value;
  rd_kafka_ConfigSource_t source = RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG;
  bool sensitive = false;
  std::vector<std::tuple<std::string, std::optional<std::string>, rd_kafka_ConfigSource_t>>
      synonyms;
};

bool describe_resource(const AdminClient& c, const Target& t, std::vector<Entry>& out,
                       std::string& error) {
  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(t.type, t.name.c_str());
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_DescribeConfigs(c.rk(), &res, 1, o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ConfigResource_destroy(res);
  Event ev = c.wait(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, error);
  if (!ev) return false;
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(rs[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_ConfigResource_error_string(rs[i]);
      error = s != nullptr && *s ? s : rd_kafka_err2str(rd_kafka_ConfigResource_error(rs[i]));
      return false;
    }
    size_t cnt = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &cnt);
    for (size_t j = 0; j < cnt; ++j) {
      Entry e;
      e.name = rd_kafka_ConfigEntry_name(entries[j]);
      if (const char* v = rd_kafka_ConfigEntry_value(entries[j])) e.value = v;
      e.source = rd_kafka_ConfigEntry_source(entries[j]);
      e.sensitive = rd_kafka_ConfigEntry_is_sensitive(entries[j]);
      size_t sc = 0;
      const rd_kafka_ConfigEntry_t** syns = rd_kafka_ConfigEntry_synonyms(entries[j], &sc);
      for (size_t k = 0; k < sc; ++k) {
        const char* v = rd_kafka_ConfigEntry_value(syns[k]);
        e.synonyms.emplace_back(rd_kafka_ConfigEntry_name(syns[k]),
                                v ? std::optional<std::string>(v) : std::nullopt,
                                rd_kafka_ConfigEntry_source(syns[k]));
      }
      out.push_back(std::move(e));
    }
  }
  return true;
}

// The resource's own dynamic configs: those whose value comes from the
// layer `t` names (looking through synonyms, where a higher layer may hide
// it).
std::map<std::string, std::string> dynamic_configs(const Target& t,
                                                   const std::vector<Entry>& entries) {
  std::map<std::string, std::string> out;
  for (const Entry& e : entries) {
    if (e.source == t.dynamic_source && e.value) {
      out[e.name] = *e.value;
      continue;
    }
    for (const auto& [name, value, source] : e.synonyms) {
      if (source == t.dynamic_source && name == e.name && value) out[e.name] = *value;
    }
  }
  return out;
}

// "a=1,b=[x,y],c=2" -> {a:1, b:"x,y", c:2}, as kafka-configs parses it.
bool parse_add_config(const std::string& text, std::map<std::string, std::string>& out,
                      std::string& error) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t eq = text.find('=', i);
    if (eq == std::string::npos) {
      error = "--add-config: '" + text.substr(i) + "' is not NAME=VALUE";
      return false;
    }
    std::string key = text.substr(i, eq - i);
    std::size_t v = eq + 1;
    std::string value;
    if (v < text.size() && text[v] == '[') {
      std::size_t close = text.find(']', v);
      if (close == std::string::npos) {
        error = "--add-config: unclosed '[' in the value of " + key;
        return false;
      }
      value = text.substr(v + 1, close - v - 1);
      i = close + 1;
      if (i < text.size() && text[i] == ',') ++i;
    } else {
      std::size_t comma = text.find(',', v);
      value = text.substr(v, comma == std::string::npos ? std::string::npos : comma - v);
      i = comma == std::string::npos ? text.size() : comma + 1;
    }
    if (key.empty()) {
      error = "--add-config: empty config name";
      return false;
    }
    out[key] = value;
  }
  return true;
}

int describe(const AdminClient& c, const Target& t, bool all) {
  std::vector<Entry> entries;
  std::string error;
  if (!describe_resource(c, t, entries, error)) return fail(kWhat, error);
  if (t.type == RD_KAFKA_RESOURCE_BROKER && t.name.empty()) {
    std::printf("Default configs for brokers in the cluster are:\n");
  } else {
    std::printf("%s configs for %s are:\n", all ? "All" : "Dynamic", t.label.c_str());
  }
  const auto dynamic = dynamic_configs(t, entries);
  for (const Entry& e : entries) {
    std::optional<std::string> value = e.value;
    if (!all) {
      auto it = dynamic.find(e.name);
      if (it == dynamic.end()) continue;
      value = it->second;
    }
    std::string syns;
    for (const auto& [name, v, source] : e.synonyms) {
      if (!syns.empty()) syns += ", ";
      syns += std::string(source_name(source)) + ":" + name + "=" + v.value_or("null");
    }
    std::printf("  %s=%s sensitive=%s synonyms={%s}\n", e.name.c_str(),
                e.sensitive ? "null" : value.value_or("null").c_str(),
                e.sensitive ? "true" : "false", syns.c_str());
  }
  return 0;
}

int alter(const AdminClient& c, const Target& t, const Args& a) {
  std::map<std::string, std::string> add;
  std::string error;
  for (const std::string& text : a.all("add-config")) {
    if (!parse_add_config(text, add, error)) return fail(kWhat, error, 2);
  }
  std::vector<std::string> remove;
  for (const std::string& text : a.all("delete-config")) {
    std::size_t i = 0;
    while (i <= text.size()) {
      std::size_t comma = text.find(',', i);
      std::string key = text.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      if (!key.empty()) remove.push_back(key);
      if (comma == std::string::npos) break;
      i = comma + 1;
    }
  }
  if (add.empty() && remove.empty()) {
    return fail(kWhat, "--add-config or --delete-config is needed to alter", 2);
  }
  std::vector<Entry> entries;
  if (!describe_resource(c, t, entries, error)) return fail(kWhat, error);
  std::map<std::string, std::string> configs = dynamic_configs(t, entries);
  std::string invalid;
  for (const std::string& k : remove) {
    if (configs.erase(k) == 0) invalid += (invalid.empty() ? "" : ",") + k;
  }
  if (!invalid.empty()) return fail(kWhat, "Invalid config(s): " + invalid);
  for (const auto& [k, v] : add) configs[k] = v;

  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(t.type, t.name.c_str());
  for (const auto& [k, v] : configs) rd_kafka_ConfigResource_set_config(res, k.c_str(), v.c_str());
  rd_kafka_AdminOptions_t* o = c.options(RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
  rd_kafka_AlterConfigs(c.rk(), &res, 1, o, c.queue());
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_ConfigResource_destroy(res);
  Event ev = c.wait(RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, error);
  if (!ev) return fail(kWhat, error);
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(rs[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_ConfigResource_error_string(rs[i]);
      return fail(kWhat,
                  s != nullptr && *s ? s : rd_kafka_err2str(rd_kafka_ConfigResource_error(rs[i])));
    }
  }
  if (t.type == RD_KAFKA_RESOURCE_BROKER && t.name.empty()) {
    std::printf("Completed updating default config for brokers in the cluster.\n");
  } else {
    std::printf("Completed updating config for %s.\n", t.label.c_str());
  }
  return 0;
}

}  // namespace

int configs_command(const std::vector<std::string>& raw) {
  const auto args = with_action_flag(raw, {"describe", "alter"});
  Args a;
  std::string error;
  if (!a.parse(args,
               {"bootstrap-server", "command-config", "entity-type", "entity-name", "add-config",
                "delete-config", "topic", "broker", "user", "client", "ip", "add-config-file"},
               {"describe", "alter", "all", "entity-default", "broker-defaults", "help"}, error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string action = a.one_of({"describe", "alter"});
  if (action.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, "exactly one of describe or alter is needed", 2);
  }
  std::string type = a.get("entity-type").value_or("");
  std::optional<std::string> name = a.get("entity-name");
  bool is_default = a.has("entity-default");
  if (auto t = a.get("topic")) type = "topics", name = *t;
  if (auto b = a.get("broker")) type = "brokers", name = *b;
  if (a.has("broker-defaults")) type = "brokers", is_default = true;
  if (a.has("user") || a.has("client") || a.has("ip") || type == "users" || type == "clients" ||
      type == "ips") {
    return fail(kWhat,
                "client quota entities (users, clients, ips) need the quota admin API, which "
                "librdkafka 2.0.2 lacks; use a Kafka admin client (DescribeClientQuotas / "
                "AlterClientQuotas) for them",
                2);
  }
  if (type == "broker-loggers") {
    return fail(kWhat, "kgw has no broker loggers to configure; set its log level with --log-level",
                2);
  }
  Target t;
  if (type == "topics") {
    if (!name || name->empty())
      return fail(kWhat, "--entity-name (the topic) is required for topics", 2);
    t.type = RD_KAFKA_RESOURCE_TOPIC;
    t.name = *name;
    t.dynamic_source = RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    t.label = "topic " + *name;
  } else if (type == "brokers") {
    if (is_default) {
      // librdkafka 2.0.2 routes a BROKER resource to the broker its name
      // parses as, and crashes on the empty name of the cluster default.
      return fail(kWhat,
                  "--entity-default for brokers (the cluster-wide dynamic configs, resource \"\") "
                  "cannot be addressed through librdkafka 2.0.2; use --entity-name with the broker "
                  "id (kgw-admin topics describe shows it as Leader)",
                  2);
    }
    if (!name) return fail(kWhat, "--entity-name (the broker id) is required for brokers", 2);
    t.type = RD_KAFKA_RESOURCE_BROKER;
    t.name = is_default ? "" : *name;
    t.dynamic_source = is_default ? RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG
                                  : RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG;
    t.label = "broker " + t.name;
  } else {
    return fail(kWhat, "--entity-type must be topics or brokers (got '" + type + "')", 2);
  }
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  auto client = AdminClient::create(*bootstrap, a.get("command-config").value_or(""), error);
  if (!client) return fail(kWhat, error);
  if (action == "describe") return describe(*client, t, a.has("all"));
  return alter(*client, t, a);
}

}  // namespace kgw::admin
