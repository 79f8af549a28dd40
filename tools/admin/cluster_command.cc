// kgw-admin cluster: the cluster id, the controller and every live broker
// (DescribeCluster, with racks), and with --etcd the etcd members holding
// the metadata with each one's health. Read-only, but for
// `cluster unregister --id N` (kafka-cluster.sh's verb): UnregisterBroker,
// which forgets a broker that was removed for good.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "describe_cluster.h"
#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"
#include "tools/admin/etcd_status.h"
#include "tools/admin/kafka_call.h"
#include "unregister_broker.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing cluster command :";

constexpr const char* kUsage =
    "Usage: kgw-admin cluster [describe] --bootstrap-server HOST:PORT [options]\n"
    "Prints the cluster id, the controller and every live broker (id, host:port, rack),\n"
    "then the etcd members with their health when --etcd is given.\n"
    "Options:\n"
    "  --etcd HOST:PORT[,...]   etcd client endpoints (the cluster's metadata.etcd.endpoints,\n"
    "                           or the co-located members' client ports)\n"
    "  --timeout-ms N           per etcd request (default 3000)\n"
    "  --command-config FILE    librdkafka properties, --help\n"
    "\n"
    "Usage: kgw-admin cluster unregister --bootstrap-server HOST:PORT --id N\n"
    "Forgets broker N, removed for good (stopped, its session ended): the cluster no longer\n"
    "knows it, and partitions that still name it stay offline there until reassigned.\n";

struct BrokerRow {
  int id = 0;
  std::string host;
  int port = 0;
  std::string rack;  // "" = none
};

struct KafkaView {
  std::string cluster_id;
  int controller = -1;
  std::vector<BrokerRow> brokers;
  std::string note;  // why racks are missing, when they are
};

// DescribeCluster over kgw's own codec: the one answer with racks.
// `connected` false: no bootstrap server accepted a connection.
bool describe_cluster(const std::string& bootstrap, KafkaView& out, bool& connected,
                      std::string& error) {
  KafkaCall call;
  connected = call.connect(bootstrap, AdminClient::kTimeoutMs, error);
  if (!connected) return false;
  DescribeClusterRequest req;
  DescribeClusterResponse resp;
  if (!call.call(req, 0, resp, error)) return false;
  if (resp.error_code != 0) {
    error = call.address() + ": DescribeCluster error " + std::to_string(resp.error_code) +
            (resp.error_message ? ": " + std::string(*resp.error_message) : "");
    return false;
  }
  out.cluster_id = std::string(resp.cluster_id);
  out.controller = resp.controller_id;
  for (const auto& b : resp.brokers) {
    out.brokers.push_back(
        {b.broker_id, std::string(b.host), b.port, b.rack ? std::string(*b.rack) : std::string()});
  }
  return true;
}

// The same through librdkafka (any listener it can speak to: TLS, SASL),
// without racks: librdkafka 2.0 does not expose them.
bool metadata_view(const std::string& bootstrap, const std::string& command_config, KafkaView& out,
                   std::string& error) {
  auto c = AdminClient::create(bootstrap, command_config, error);
  if (!c) return false;
  Metadata md = c->metadata(error);
  if (!md) return false;
  char* id = rd_kafka_clusterid(c->rk(), AdminClient::kTimeoutMs);
  if (id != nullptr) {
    out.cluster_id = id;
    rd_kafka_mem_free(c->rk(), id);
  }
  out.controller = rd_kafka_controllerid(c->rk(), AdminClient::kTimeoutMs);
  for (int i = 0; i < md->broker_cnt; ++i) {
    out.brokers.push_back({md->brokers[i].id, md->brokers[i].host, md->brokers[i].port, ""});
  }
  return true;
}

void print_kafka(const KafkaView& v) {
  std::printf("Cluster id: %s\n", v.cluster_id.empty() ? "unknown" : v.cluster_id.c_str());
  std::string controller = "none";
  if (v.controller >= 0) {
    controller = std::to_string(v.controller);
    for (const auto& b : v.brokers) {
      if (b.id == v.controller) controller += " (" + b.host + ":" + std::to_string(b.port) + ")";
    }
  }
  std::printf("Controller: %s\n", controller.c_str());
  std::printf("Brokers: %zu\n", v.brokers.size());
  std::size_t w = 9;  // "Host:Port"
  for (const auto& b : v.brokers)
    w = std::max(w, b.host.size() + 1 + std::to_string(b.port).size());
  std::printf("  %-6s %-*s  %s\n", "Id", static_cast<int>(w), "Host:Port", "Rack");
  for (const auto& b : v.brokers) {
    std::string hp = b.host + ":" + std::to_string(b.port);
    std::printf("  %-6d %-*s  %s%s\n", b.id, static_cast<int>(w), hp.c_str(),
                b.rack.empty() ? "-" : b.rack.c_str(),
                b.id == v.controller ? "  (controller)" : "");
  }
  if (!v.note.empty()) std::printf("  (%s)\n", v.note.c_str());
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ',';
    s += x;
  }
  return s.empty() ? "-" : s;
}

void print_etcd(const EtcdClusterStatus& s) {
  std::printf("etcd members: %zu (cluster %s, listed by %s)\n", s.members.size(),
              s.cluster_id.c_str(), s.listed_by.c_str());
  std::size_t wid = 2, wname = 4, wclient = 11, wpeer = 9;
  for (const auto& m : s.members) {
    wid = std::max(wid, m.id.size());
    wname = std::max(wname, m.name.size());
    wclient = std::max(wclient, join(m.client_urls).size());
    wpeer = std::max(wpeer, join(m.peer_urls).size());
  }
  std::printf("  %-*s  %-*s  %-11s  %-6s  %-8s  %-*s  %-*s  %s\n", static_cast<int>(wid), "Id",
              static_cast<int>(wname), "Name", "Health", "Leader", "Version",
              static_cast<int>(wclient), "Client URLs", static_cast<int>(wpeer), "Peer URLs",
              "Detail");
  for (const auto& m : s.members) {
    char line[1024];
    std::snprintf(line, sizeof line, "  %-*s  %-*s  %-11s  %-6s  %-8s  %-*s  %-*s  ",
                  static_cast<int>(wid), m.id.c_str(), static_cast<int>(wname),
                  m.name.empty() ? "-" : m.name.c_str(), m.health.c_str(), m.leader ? "yes" : "no",
                  m.version.empty() ? "-" : m.version.c_str(), static_cast<int>(wclient),
                  join(m.client_urls).c_str(), static_cast<int>(wpeer), join(m.peer_urls).c_str());
    std::string row = std::string(line) + m.detail;
    while (!row.empty() && row.back() == ' ') row.pop_back();
    std::printf("%s\n", row.c_str());
  }
  for (const auto& u : s.unreachable) std::printf("  endpoint unreachable: %s\n", u.c_str());
}

// What an UnregisterBroker error means for the operator.
std::string unregister_error(int id, std::int16_t code, const std::string& message) {
  const std::string broker = "Broker " + std::to_string(id);
  const std::string detail = message.empty() ? "" : ": " + message;
  switch (code) {
    case 102:  // BROKER_ID_NOT_REGISTERED
      return broker +
             " is not registered (the cluster does not know it, or it was unregistered "
             "already)";
    case 42:  // INVALID_REQUEST: a live broker, or the only one of a single node
      return broker + " cannot be unregistered now" +
             (message.empty() ? ": stop it and wait for its session to end" : detail);
    case 7:  // REQUEST_TIMED_OUT
      return "No controller decided in time (etcd unreachable or no controller elected); retry" +
             detail;
    case 35:  // UNSUPPORTED_VERSION
      return "The broker does not support UnregisterBroker" + detail;
    default:
      return "UnregisterBroker failed with error code " + std::to_string(code) + detail;
  }
}

// Parses `args` into `a` and the bootstrap server; a status to return at
// once (bad usage, --help) or nullopt to go on.
std::optional<int> parse_args(const std::vector<std::string>& args,
                              const std::set<std::string>& valued,
                              const std::set<std::string>& flags, Args& a, std::string& bootstrap) {
  std::string error;
  if (!a.parse(args, valued, flags, error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  auto b = a.get("bootstrap-server");
  if (!b) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  bootstrap = *b;
  return std::nullopt;
}

int unregister_command(const std::vector<std::string>& args) {
  Args a;
  std::string bootstrap;
  if (auto status =
          parse_args(args, {"bootstrap-server", "id", "command-config"}, {"help"}, a, bootstrap)) {
    return *status;
  }
  std::string error;
  auto id_text = a.get("id");
  long long id = -1;
  if (!id_text) return fail(kWhat, "--id N (the broker to unregister) is required", 2);
  if (!parse_long(*id_text, id) || id < 0 || id > 0x7fffffff)
    return fail(kWhat, "--id '" + *id_text + "' is not a broker id", 2);
  KafkaCall call;
  if (!call.connect(bootstrap, AdminClient::kTimeoutMs, error)) return fail(kWhat, error);
  UnregisterBrokerRequest req;
  req.broker_id = static_cast<std::int32_t>(id);
  UnregisterBrokerResponse resp;
  if (!call.call(req, 0, resp, error)) return fail(kWhat, error);
  if (resp.error_code != 0) {
    return fail(kWhat, unregister_error(
                           req.broker_id, resp.error_code,
                           resp.error_message ? std::string(*resp.error_message) : std::string()));
  }
  std::printf("Broker %d is no longer registered.\n", req.broker_id);
  return 0;
}

}  // namespace

int cluster_command(const std::vector<std::string>& raw) {
  if (!raw.empty() && raw[0] == "unregister") {
    return unregister_command(std::vector<std::string>(raw.begin() + 1, raw.end()));
  }
  const auto args = with_action_flag(raw, {"describe"});
  Args a;
  std::string bootstrap;
  if (auto status = parse_args(args, {"bootstrap-server", "command-config", "etcd", "timeout-ms"},
                               {"describe", "help"}, a, bootstrap)) {
    return *status;
  }
  std::string error;
  long long timeout_ms = 3000;
  if (auto t = a.get("timeout-ms"); t && (!parse_long(*t, timeout_ms) || timeout_ms <= 0))
    return fail(kWhat, "--timeout-ms '" + *t + "' is not a positive number", 2);
  const std::string command_config = a.get("command-config").value_or("");

  int status = 0;
  KafkaView kafka;
  std::string raw_error;
  bool connected = true;
  // A --command-config may name TLS or SASL, which only librdkafka speaks.
  // Nothing listening: librdkafka would only wait its timeout to say so.
  if (command_config.empty() && !describe_cluster(bootstrap, kafka, connected, raw_error) &&
      !connected) {
    status = fail(kWhat, "brokers: " + raw_error);
  } else if (!command_config.empty() || !raw_error.empty()) {
    kafka = KafkaView{};
    if (metadata_view(bootstrap, command_config, kafka, error)) {
      kafka.note = raw_error.empty() ? "racks not shown: librdkafka's metadata does not carry them"
                                     : "racks not shown: DescribeCluster failed: " + raw_error;
    } else {
      status = fail(kWhat, "brokers: " + error +
                               (raw_error.empty() ? "" : " (DescribeCluster: " + raw_error + ")"));
    }
  }
  if (status == 0) print_kafka(kafka);

  auto etcd = a.get("etcd");
  if (!etcd) {
    std::printf(
        "etcd members: not queried (pass --etcd HOST:PORT[,...]: the cluster's "
        "metadata.etcd.endpoints, or its co-located members' client ports)\n");
    return status;
  }
  EtcdClusterStatus es;
  if (!etcd_cluster_status(etcd_endpoints(*etcd), static_cast<long>(timeout_ms), es, error))
    return fail(kWhat, "etcd: " + error);
  print_etcd(es);
  return status;
}

}  // namespace kgw::admin
