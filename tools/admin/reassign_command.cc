// kgw-admin reassign (kafka-reassign-partitions.sh): moves partitions to
// other brokers with AlterPartitionReassignments and follows them with
// ListPartitionReassignments, as Kafka's script does, over kgw's own codec
// (KafkaCall: librdkafka 2.0 has no reassignment API; plaintext listeners
// only). --execute starts the reassignments of a JSON file (Kafka's format)
// and prints the current assignment to roll back to; --verify says for
// each partition of the file whether it is done; --cancel cancels them;
// --list shows every reassignment in progress; --generate proposes a plan
// that spreads the partitions of the topics in a JSON file over a broker
// list (Kafka's placement, src/cluster/placement.h: random start, rack
// aware unless --disable-rack-aware) and prints it with the current
// assignment, changing nothing. --list and --verify show
// progress: for each adding replica whether it is in the ISR (caught up),
// else how many bytes its log is behind the leader's (DescribeLogDirs of
// both brokers; "lag unknown" when either cannot be asked).
// --execute --throttle B sets Kafka's replication throttles for the move
// (KIP-73): the moving partitions' current replicas in the topic's
// leader.replication.throttled.replicas, their adding replicas in
// follower.replication.throttled.replicas, and B bytes/s as both
// *.replication.throttled.rate of every broker involved; --verify clears
// them all once every partition of the file is done (unless
// --preserve-throttles), as Kafka's script does.
//
// Exit status: 0 done (--verify: every partition done), 1 failed or (with
// --verify) some still in progress, 2 bad usage.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "alter_partition_reassignments.h"
#include "describe_log_dirs.h"
#include "incremental_alter_configs.h"
#include "list_partition_reassignments.h"
#include "metadata.h"
#include "src/cluster/placement.h"
#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"
#include "tools/admin/kafka_call.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing reassign command :";

constexpr const char* kUsage =
    "Usage: kgw-admin reassign ACTION --bootstrap-server HOST:PORT [options]\n"
    "Actions (kafka-reassign-partitions.sh's):\n"
    "  --execute --reassignment-json-file F   start moving the partitions of F to their\n"
    "                                         replicas; prints the current assignment (save\n"
    "                                         it to roll back)\n"
    "  --verify --reassignment-json-file F    whether each partition of F is done (exit 1\n"
    "                                         while any is in progress), with progress\n"
    "  --cancel --reassignment-json-file F    cancel the reassignments of F's partitions\n"
    "                                         (back to the replicas before them)\n"
    "  --list                                 every reassignment in progress, with progress:\n"
    "                                         each adding replica in sync, or its lag in bytes\n"
    "  --generate --topics-to-move-json-file T --broker-list 1,2,3\n"
    "                                         propose a plan moving T's topics onto the\n"
    "                                         brokers (changes nothing; --disable-rack-aware\n"
    "                                         ignores racks); T is {\"version\":1,\"topics\":\n"
    "                                         [{\"topic\":\"t\"}]}\n"
    "F is Kafka's format: {\"version\":1,\"partitions\":[{\"topic\":\"t\",\"partition\":0,\n"
    "\"replicas\":[2,3]}]} (log_dirs, if given, must be \"any\").\n"
    "Options:\n"
    "  --throttle B           with --execute: limit the moving replicas' replication to B\n"
    "                         bytes/s (Kafka's throttle configs; --verify removes them once\n"
    "                         the reassignment is done: run it until it says so)\n"
    "  --preserve-throttles   with --verify: keep them\n"
    "  --timeout-ms N         per request (default 30000)\n";

struct Target {
  std::string topic;
  std::int32_t partition = 0;
  std::vector<std::int32_t> replicas;
};

std::string ids(const std::vector<std::int32_t>& v) {
  std::string out;
  for (std::int32_t id : v) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

std::string error_text(std::int16_t code, const std::optional<std::string_view>& message) {
  return "error " + std::to_string(code) + (message ? ": " + std::string(*message) : "");
}

// The JSON object in file `path`; "" or what is wrong.
std::string read_json_object(const std::string& path, nlohmann::json& out) {
  std::ifstream in(path);
  if (!in) return "cannot read " + path;
  std::stringstream text;
  text << in.rdbuf();
  out = nlohmann::json::parse(text.str(), nullptr, false);
  if (out.is_discarded() || !out.is_object()) return path + " is not a JSON object";
  return "";
}

// Kafka's reassignment JSON; "" or what is wrong.
std::string read_plan(const std::string& path, std::vector<Target>& out) {
  nlohmann::json j;
  if (std::string e = read_json_object(path, j); !e.empty()) return e;
  auto parts = j.find("partitions");
  if (parts == j.end() || !parts->is_array()) return path + " has no \"partitions\" array";
  std::set<std::pair<std::string, std::int32_t>> seen;
  for (const auto& p : *parts) {
    Target t;
    if (!p.is_object() || !p.contains("topic") || !p["topic"].is_string() ||
        !p.contains("partition") || !p["partition"].is_number_integer() ||
        !p.contains("replicas") || !p["replicas"].is_array()) {
      return path + ": each partition needs \"topic\", \"partition\" and \"replicas\"";
    }
    t.topic = p["topic"].get<std::string>();
    t.partition = p["partition"].get<std::int32_t>();
    for (const auto& r : p["replicas"]) {
      if (!r.is_number_integer()) return path + ": replicas are broker ids";
      t.replicas.push_back(r.get<std::int32_t>());
    }
    if (p.contains("log_dirs")) {
      for (const auto& d : p["log_dirs"]) {
        if (!d.is_string() || d.get<std::string>() != "any") {
          return path + ": log_dirs other than \"any\" are not supported (kgw has one log dir)";
        }
      }
    }
    if (!seen.insert({t.topic, t.partition}).second) {
      return path + " names " + t.topic + "-" + std::to_string(t.partition) + " twice";
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) return path + " names no partition";
  return "";
}

struct PartitionView {
  std::int32_t leader = -1;
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isr;
};

struct ClusterView {
  std::map<std::int32_t, std::string> brokers;  // id -> host:port
  std::map<std::int32_t, std::string> racks;    // id -> broker.rack, when set
  std::map<std::pair<std::string, std::int32_t>, PartitionView> partitions;
};

bool read_metadata(KafkaCall& call, ClusterView& out, std::string& error) {
  MetadataRequest req;
  req.topics = std::nullopt;
  req.allow_auto_topic_creation = false;
  MetadataResponse resp;
  if (!call.call(req, 1, resp, error)) return false;
  for (const auto& b : resp.brokers) {
    out.brokers[b.node_id] = std::string(b.host) + ":" + std::to_string(b.port);
    if (b.rack) out.racks[b.node_id] = std::string(*b.rack);
  }
  for (const auto& t : resp.topics) {
    if (!t.name) continue;
    for (const auto& p : t.partitions) {
      out.partitions[{std::string(*t.name), p.partition_index}] =
          PartitionView{p.leader_id, p.replica_nodes, p.isr_nodes};
    }
  }
  return true;
}

struct Ongoing {
  std::string topic;
  std::int32_t partition = 0;
  std::vector<std::int32_t> replicas, adding, removing;
};

// The reassignments in progress (all, or those of `only`).
bool list_ongoing(KafkaCall& call, const std::vector<Target>* only, std::int32_t timeout_ms,
                  std::vector<Ongoing>& out, std::string& error) {
  ListPartitionReassignmentsRequest req;
  req.timeout_ms = timeout_ms;
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::int32_t>> by_topic;
  if (only != nullptr) {
    for (const Target& t : *only) by_topic[t.topic].push_back(t.partition);
    req.topics.emplace();
    for (const auto& [name, parts] : by_topic) {
      auto& rt = req.topics->emplace_back();
      rt.name = name;
      rt.partition_indexes = parts;
    }
  }
  ListPartitionReassignmentsResponse resp;
  if (!call.call(req, 0, resp, error)) return false;
  if (resp.error_code != 0) {
    error = "ListPartitionReassignments: " + error_text(resp.error_code, resp.error_message);
    return false;
  }
  for (const auto& t : resp.topics) {
    for (const auto& p : t.partitions) {
      out.push_back(Ongoing{std::string(t.name), p.partition_index, p.replicas, p.adding_replicas,
                            p.removing_replicas});
    }
  }
  return true;
}

// The size of `topic`-`partition` on broker `address` (DescribeLogDirs);
// nullopt if it cannot be asked.
std::optional<std::int64_t> size_on(const std::string& address, const std::string& topic,
                                    std::int32_t partition, int timeout_ms) {
  KafkaCall call;
  std::string error;
  if (!call.connect(address, timeout_ms, error)) return std::nullopt;
  DescribeLogDirsRequest req;
  req.topics.emplace();
  auto& t = req.topics->emplace_back();
  t.topic = topic;
  t.partitions = {partition};
  DescribeLogDirsResponse resp;
  if (!call.call(req, 1, resp, error)) return std::nullopt;
  for (const auto& r : resp.results) {
    for (const auto& rt : r.topics) {
      for (const auto& p : rt.partitions) {
        if (rt.name == topic && p.partition_index == partition) return p.partition_size;
      }
    }
  }
  return std::nullopt;
}

// "  adding replica 3: in sync (in the ISR)" / "  adding replica 3: catching up, 1234
// bytes behind the leader (broker 1)".
void print_progress(const Ongoing& o, const ClusterView& view, int timeout_ms) {
  auto it = view.partitions.find({o.topic, o.partition});
  const PartitionView* p = it == view.partitions.end() ? nullptr : &it->second;
  std::optional<std::int64_t> leader_size;
  bool asked_leader = false;
  for (std::int32_t a : o.adding) {
    if (p != nullptr && std::find(p->isr.begin(), p->isr.end(), a) != p->isr.end()) {
      std::printf("  adding replica %d: in sync (in the ISR)\n", a);
      continue;
    }
    std::string lag = "lag unknown (no leader)";
    if (p != nullptr && p->leader >= 0) {
      auto lb = view.brokers.find(p->leader);
      auto ab = view.brokers.find(a);
      if (!asked_leader && lb != view.brokers.end()) {
        leader_size = size_on(lb->second, o.topic, o.partition, timeout_ms);
        asked_leader = true;
      }
      std::optional<std::int64_t> own;
      if (ab != view.brokers.end()) own = size_on(ab->second, o.topic, o.partition, timeout_ms);
      if (leader_size && own) {
        lag = std::to_string(*leader_size > *own ? *leader_size - *own : 0) +
              " bytes behind the leader (broker " + std::to_string(p->leader) + ")";
      } else {
        lag = "lag unknown (broker " + std::to_string(leader_size ? a : p->leader) +
              " did not answer DescribeLogDirs)";
      }
    }
    std::printf("  adding replica %d: catching up, %s\n", a, lag.c_str());
  }
}

// --- Replication throttles (KIP-73).

constexpr std::int8_t kTopicResource = 2;
constexpr std::int8_t kBrokerResource = 4;
constexpr std::int8_t kSet = 0;
constexpr std::int8_t kDelete = 1;

// One IncrementalAlterConfigs of one resource over `call`: each config set
// to its value, or deleted (nullopt); "" or what failed.
std::string alter_configs(
    KafkaCall& call, std::int8_t type, const std::string& name,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& c) {
  IncrementalAlterConfigsRequest req;
  auto& r = req.resources.emplace_back();
  r.resource_type = type;
  r.resource_name = name;
  for (const auto& [config, value] : c) {
    auto& a = r.configs.emplace_back();
    a.name = config;
    a.config_operation = value ? kSet : kDelete;
    a.value = value ? std::optional<std::string_view>(*value) : std::nullopt;
  }
  IncrementalAlterConfigsResponse resp;
  std::string error;
  if (!call.call(req, 0, resp, error)) return error;
  for (const auto& x : resp.responses) {
    if (x.error_code != 0) {
      return std::string(type == kTopicResource ? "topic " : "broker ") + name + ": " +
             error_text(x.error_code, x.error_message);
    }
  }
  return "";
}

// A broker's own dynamic configs go to that broker (Kafka refuses them
// elsewhere).
std::string alter_broker_configs(
    const ClusterView& view, std::int32_t broker,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& configs,
    int timeout_ms) {
  auto b = view.brokers.find(broker);
  if (b == view.brokers.end()) return "broker " + std::to_string(broker) + " is not in the cluster";
  KafkaCall call;
  std::string error;
  if (!call.connect(b->second, timeout_ms, error)) return error;
  return alter_configs(call, kBrokerResource, std::to_string(broker), configs);
}

// --execute --throttle: Kafka's throttle configs for the partitions of
// `plan` whose replicas change; "" or what failed.
std::string set_throttles(KafkaCall& call, const ClusterView& view, const std::vector<Target>& plan,
                          long long rate, int timeout_ms) {
  std::map<std::string, std::pair<std::string, std::string>> lists;  // topic -> leader, follower
  std::set<std::int32_t> brokers;
  auto add = [](std::string& list, std::int32_t partition, std::int32_t broker) {
    if (!list.empty()) list += ',';
    list += std::to_string(partition) + ":" + std::to_string(broker);
  };
  for (const Target& t : plan) {
    auto it = view.partitions.find({t.topic, t.partition});
    if (it == view.partitions.end() || it->second.replicas == t.replicas) continue;
    auto& [leader, follower] = lists[t.topic];
    for (std::int32_t r : it->second.replicas) {
      add(leader, t.partition, r);
      brokers.insert(r);
    }
    for (std::int32_t r : t.replicas) {
      brokers.insert(r);
      if (std::find(it->second.replicas.begin(), it->second.replicas.end(), r) ==
          it->second.replicas.end()) {
        add(follower, t.partition, r);
      }
    }
  }
  for (const auto& [topic, l] : lists) {
    if (std::string e = alter_configs(call, kTopicResource, topic,
                                      {{"leader.replication.throttled.replicas", l.first},
                                       {"follower.replication.throttled.replicas", l.second}});
        !e.empty()) {
      return e;
    }
  }
  const std::string value = std::to_string(rate);
  for (std::int32_t b : brokers) {
    if (std::string e = alter_broker_configs(view, b,
                                             {{"leader.replication.throttled.rate", value},
                                              {"follower.replication.throttled.rate", value}},
                                             timeout_ms);
        !e.empty()) {
      return e;
    }
  }
  return "";
}

// --verify, everything done: the throttle configs go from every broker and
// from the plan's topics, as Kafka's script clears them; "" or what failed.
std::string clear_throttles(KafkaCall& call, const ClusterView& view,
                            const std::vector<Target>& plan, int timeout_ms) {
  std::set<std::int32_t> brokers;
  for (const auto& [id, address] : view.brokers) brokers.insert(id);
  std::set<std::string> topics;
  for (const Target& t : plan) {
    topics.insert(t.topic);
    for (std::int32_t r : t.replicas) {
      if (view.brokers.count(r) != 0) brokers.insert(r);
    }
  }
  std::vector<std::int32_t> broker_list(brokers.begin(), brokers.end());
  std::printf("\nClearing broker-level throttles on broker%s %s\n", brokers.size() == 1 ? "" : "s",
              ids(broker_list).c_str());
  for (std::int32_t b : brokers) {
    if (std::string e =
            alter_broker_configs(view, b,
                                 {{"leader.replication.throttled.rate", std::nullopt},
                                  {"follower.replication.throttled.rate", std::nullopt}},
                                 timeout_ms);
        !e.empty()) {
      return e;
    }
  }
  std::string names;
  for (const std::string& t : topics) names += (names.empty() ? "" : ",") + t;
  std::printf("Clearing topic-level throttles on topic%s %s\n", topics.size() == 1 ? "" : "s",
              names.c_str());
  for (const std::string& t : topics) {
    if (std::string e = alter_configs(call, kTopicResource, t,
                                      {{"leader.replication.throttled.replicas", std::nullopt},
                                       {"follower.replication.throttled.replicas", std::nullopt}});
        !e.empty()) {
      return e;
    }
  }
  return "";
}

void print_ongoing(const Ongoing& o) {
  std::printf("%s-%d: replicas: %s. adding: %s. removing: %s.\n", o.topic.c_str(), o.partition,
              ids(o.replicas).c_str(), ids(o.adding).c_str(), ids(o.removing).c_str());
}

// Sends one AlterPartitionReassignments for `targets` (nullopt replicas:
// cancel); prints each failure; true if all succeeded.
bool alter(KafkaCall& call, const std::vector<Target>& targets, bool cancel,
           std::int32_t timeout_ms, std::vector<std::string>& done, std::string& error) {
  AlterPartitionReassignmentsRequest req;
  req.timeout_ms = timeout_ms;
  std::map<std::string, std::vector<const Target*>> by_topic;
  for (const Target& t : targets) by_topic[t.topic].push_back(&t);
  for (const auto& [name, parts] : by_topic) {
    auto& rt = req.topics.emplace_back();
    rt.name = name;
    for (const Target* t : parts) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = t->partition;
      if (!cancel) rp.replicas = t->replicas;
    }
  }
  AlterPartitionReassignmentsResponse resp;
  if (!call.call(req, 0, resp, error)) return false;
  if (resp.error_code != 0) {
    error = "AlterPartitionReassignments: " + error_text(resp.error_code, resp.error_message);
    return false;
  }
  bool ok = true;
  for (const auto& t : resp.responses) {
    for (const auto& p : t.partitions) {
      const std::string name = std::string(t.name) + "-" + std::to_string(p.partition_index);
      if (p.error_code == 0) {
        done.push_back(name);
        continue;
      }
      ok = false;
      std::fprintf(stderr, "%s %s: %s\n", kWhat, name.c_str(),
                   error_text(p.error_code, p.error_message).c_str());
    }
  }
  return ok;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

// The topics of a --topics-to-move-json-file ({"version":1,"topics":
// [{"topic":"t"},...]}); "" or what is wrong.
std::string read_topics(const std::string& path, std::vector<std::string>& out) {
  nlohmann::json j;
  if (std::string e = read_json_object(path, j); !e.empty()) return e;
  if (auto v = j.find("version"); v != j.end() && (!v->is_number_integer() || *v != 1))
    return path + ": version " + v->dump() + " is not supported (1 is)";
  auto topics = j.find("topics");
  if (topics == j.end() || !topics->is_array()) return path + " has no \"topics\" array";
  std::set<std::string> seen, twice;
  for (const auto& t : *topics) {
    if (!t.is_object() || !t.contains("topic") || !t["topic"].is_string())
      return path + ": each entry of \"topics\" needs a \"topic\" name";
    std::string name = t["topic"].get<std::string>();
    if (!seen.insert(name).second) twice.insert(name);
    out.push_back(std::move(name));
  }
  if (!twice.empty()) {
    return "List of topics to reassign contains duplicate entries: " +
           joined(std::vector<std::string>(twice.begin(), twice.end()));
  }
  if (out.empty()) return path + " names no topic";
  return "";
}

// --broker-list "1,2,3"; "" or what is wrong.
std::string read_broker_list(const std::string& text, std::vector<std::int32_t>& out) {
  std::set<std::int32_t> seen, twice;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    long long id = 0;
    if (!parse_long(item, id) || id < 0 || id > INT32_MAX)
      return "--broker-list '" + text + "': '" + item + "' is not a broker id";
    const auto b = static_cast<std::int32_t>(id);
    if (!seen.insert(b).second) twice.insert(b);
    out.push_back(b);
  }
  if (!twice.empty()) {
    return "Broker list contains duplicate entries: " +
           ids(std::vector<std::int32_t>(twice.begin(), twice.end()));
  }
  if (out.empty()) return "--broker-list names no broker";
  return "";
}

nlohmann::json plan_json(
    const std::map<std::pair<std::string, std::int32_t>, std::vector<std::int32_t>>& assignment) {
  nlohmann::json out = {{"version", 1}, {"partitions", nlohmann::json::array()}};
  for (const auto& [tp, replicas] : assignment) {
    out["partitions"].push_back({{"topic", tp.first},
                                 {"partition", tp.second},
                                 {"replicas", replicas},
                                 {"log_dirs", std::vector<std::string>(replicas.size(), "any")}});
  }
  return out;
}

// --generate: Kafka's placement of each topic's partitions (its current
// replication factor) over the listed brokers the cluster knows; prints
// the current and the proposed assignment. Exit status as the command's.
int generate(KafkaCall& call, const std::vector<std::string>& topics,
             const std::vector<std::int32_t>& broker_list, bool rack_aware) {
  ClusterView view;
  std::string error;
  if (!read_metadata(call, view, error)) return fail(kWhat, error);
  std::map<std::pair<std::string, std::int32_t>, std::vector<std::int32_t>> current, proposed;
  for (const std::string& topic : topics) {
    auto it = view.partitions.lower_bound({topic, 0});
    if (it == view.partitions.end() || it->first.first != topic)
      return fail(kWhat, "Topic " + topic + " not found.");
    for (; it != view.partitions.end() && it->first.first == topic; ++it)
      current[it->first] = it->second.replicas;
  }
  std::vector<PlacementBroker> brokers;
  std::size_t with_rack = 0;
  for (std::int32_t id : broker_list) {
    if (view.brokers.count(id) == 0) continue;  // as Kafka: unknown ids are left out
    PlacementBroker b{id, std::nullopt};
    if (auto r = view.racks.find(id); rack_aware && r != view.racks.end()) {
      b.rack = r->second;
      ++with_rack;
    }
    brokers.push_back(std::move(b));
  }
  if (brokers.empty()) {
    std::vector<std::int32_t> known;
    for (const auto& [id, _] : view.brokers) known.push_back(id);
    return fail(kWhat, "no broker of --broker-list " + ids(broker_list) +
                           " is in the cluster (its brokers: " + ids(known) + ")");
  }
  if (with_rack != 0 && with_rack != brokers.size()) {
    return fail(kWhat,
                "Not all brokers have rack information. Add --disable-rack-aware in command "
                "line to make replica assignment without rack information.");
  }
  for (const std::string& topic : topics) {
    auto first = current.lower_bound({topic, 0});
    std::int64_t count = 0;
    for (auto it = first; it != current.end() && it->first.first == topic; ++it) ++count;
    const auto factor = static_cast<std::int32_t>(first->second.size());
    ReplicaAssignment placed;
    std::string message;
    if (place_replicas(brokers, count, factor, PlacementOptions{}, placed, message) !=
        ErrorCode::kNone) {
      return fail(kWhat, topic + ": " + message + " (--broker-list " + ids(broker_list) +
                             "; brokers the cluster knows: " + std::to_string(brokers.size()) +
                             ")");
    }
    for (std::int32_t p = 0; p < static_cast<std::int32_t>(placed.size()); ++p)
      proposed[{topic, p}] = placed[static_cast<std::size_t>(p)];
  }
  std::printf("Current partition replica assignment\n%s\n\n", plan_json(current).dump().c_str());
  std::printf("Proposed partition reassignment configuration\n%s\n",
              plan_json(proposed).dump().c_str());
  return 0;
}

}  // namespace

int reassign_command(const std::vector<std::string>& raw) {
  const auto args = with_action_flag(raw, {"execute", "verify", "cancel", "list", "generate"});
  Args a;
  std::string error;
  if (!a.parse(args,
               {"bootstrap-server", "reassignment-json-file", "timeout-ms", "command-config",
                "topics-to-move-json-file", "broker-list", "throttle"},
               {"execute", "verify", "cancel", "list", "generate", "help", "preserve-throttles",
                "disable-rack-aware"},
               error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string action = a.one_of({"execute", "verify", "cancel", "list", "generate"});
  if (action.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(
        kWhat, "exactly one of --execute, --verify, --cancel, --list or --generate is required", 2);
  }
  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  long long timeout = AdminClient::kTimeoutMs;
  if (auto t = a.get("timeout-ms"); t && (!parse_long(*t, timeout) || timeout <= 0))
    return fail(kWhat, "--timeout-ms '" + *t + "' is not a positive number", 2);
  const auto timeout_ms = static_cast<std::int32_t>(timeout);
  long long throttle = -1;
  if (auto t = a.get("throttle")) {
    if (action != "execute") return fail(kWhat, "--throttle goes with --execute", 2);
    if (!parse_long(*t, throttle) || throttle < 0)
      return fail(kWhat, "--throttle '" + *t + "' is not a rate in bytes/s (0 or more)", 2);
  }
  std::vector<Target> plan;
  std::vector<std::string> topics;
  std::vector<std::int32_t> broker_list;
  if (action == "generate") {
    auto file = a.get("topics-to-move-json-file");
    if (!file) return fail(kWhat, "--generate needs --topics-to-move-json-file FILE", 2);
    if (std::string e = read_topics(*file, topics); !e.empty()) return fail(kWhat, e, 2);
    auto list = a.get("broker-list");
    if (!list) return fail(kWhat, "--generate needs --broker-list ID,ID,...", 2);
    if (std::string e = read_broker_list(*list, broker_list); !e.empty()) return fail(kWhat, e, 2);
  } else if (action != "list") {
    auto file = a.get("reassignment-json-file");
    if (!file) return fail(kWhat, "--" + action + " needs --reassignment-json-file FILE", 2);
    if (std::string e = read_plan(*file, plan); !e.empty()) return fail(kWhat, e, 2);
  }
  KafkaCall call;
  if (!call.connect(*bootstrap, timeout_ms, error)) return fail(kWhat, error);

  if (action == "generate")
    return generate(call, topics, broker_list, !a.has("disable-rack-aware"));
  if (action == "execute") {
    ClusterView view;
    if (!read_metadata(call, view, error)) return fail(kWhat, error);
    nlohmann::json current = {{"version", 1}, {"partitions", nlohmann::json::array()}};
    for (const Target& t : plan) {
      auto it = view.partitions.find({t.topic, t.partition});
      if (it == view.partitions.end()) continue;  // the alter answers it
      current["partitions"].push_back(
          {{"topic", t.topic},
           {"partition", t.partition},
           {"replicas", it->second.replicas},
           {"log_dirs", std::vector<std::string>(it->second.replicas.size(), "any")}});
    }
    std::printf("Current partition replica assignment\n\n%s\n\n", current.dump().c_str());
    std::printf("Save this to use as the --reassignment-json-file option during rollback\n");
    if (throttle >= 0) {
      std::printf(
          "Warning: You must run --verify periodically, until the reassignment completes, to "
          "ensure the throttle is removed.\n");
      if (std::string e = set_throttles(call, view, plan, throttle, timeout_ms); !e.empty())
        return fail(kWhat, "setting the throttle: " + e);
      std::printf("The inter-broker throttle limit was set to %lld B/s\n", throttle);
    }
    std::vector<std::string> started;
    const bool ok = alter(call, plan, false, timeout_ms, started, error);
    if (!error.empty()) return fail(kWhat, error);
    if (!started.empty()) {
      std::printf("Successfully started partition reassignment%s for %s\n",
                  started.size() == 1 ? "" : "s", joined(started).c_str());
    }
    return ok ? 0 : 1;
  }
  if (action == "cancel") {
    std::vector<std::string> cancelled;
    const bool ok = alter(call, plan, true, timeout_ms, cancelled, error);
    if (!error.empty()) return fail(kWhat, error);
    if (!cancelled.empty()) {
      std::printf("Successfully cancelled partition reassignment%s for: %s\n",
                  cancelled.size() == 1 ? "" : "s", joined(cancelled).c_str());
    }
    return ok ? 0 : 1;
  }
  std::vector<Ongoing> ongoing;
  if (!list_ongoing(call, action == "verify" ? &plan : nullptr, timeout_ms, ongoing, error))
    return fail(kWhat, error);
  ClusterView view;
  if (!read_metadata(call, view, error)) return fail(kWhat, error);
  if (action == "list") {
    if (ongoing.empty()) {
      std::printf("No partition reassignments found.\n");
      return 0;
    }
    std::printf("Current partition reassignments:\n");
    for (const Ongoing& o : ongoing) {
      print_ongoing(o);
      print_progress(o, view, timeout_ms);
    }
    return 0;
  }
  // --verify: done when not in progress and the replicas are the target.
  std::printf("Status of partition reassignment:\n");
  int status = 0;
  for (const Target& t : plan) {
    const std::string name = t.topic + "-" + std::to_string(t.partition);
    const Ongoing* o = nullptr;
    for (const Ongoing& x : ongoing) {
      if (x.topic == t.topic && x.partition == t.partition) o = &x;
    }
    if (o != nullptr) {
      std::printf("Reassignment of partition %s is still in progress.\n", name.c_str());
      print_progress(*o, view, timeout_ms);
      status = 1;
      continue;
    }
    auto it = view.partitions.find({t.topic, t.partition});
    if (it == view.partitions.end()) {
      std::printf("There is no partition %s.\n", name.c_str());
      status = 1;
    } else if (it->second.replicas != t.replicas) {
      std::printf(
          "There is no active reassignment of partition %s, but replica set is %s rather than "
          "%s.\n",
          name.c_str(), ids(it->second.replicas).c_str(), ids(t.replicas).c_str());
      status = 1;
    } else {
      std::printf("Reassignment of partition %s is completed.\n", name.c_str());
    }
  }
  if (status == 0 && !a.has("preserve-throttles")) {
    if (std::string e = clear_throttles(call, view, plan, timeout_ms); !e.empty())
      return fail(kWhat, "clearing the throttles: " + e);
  }
  return status;
}

}  // namespace kgw::admin
