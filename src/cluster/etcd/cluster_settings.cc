#include "src/cluster/etcd/cluster_settings.h"

#include <algorithm>
#include <cctype>

namespace kgw::etcd {

namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = trim(text.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

// "host:port", "http://host:port" or "http://[v6]:port" -> "http://host:port";
// "" if malformed.
std::string normalize_endpoint(const std::string& text) {
  std::string rest = text;
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    return "";  // https and others: kgw speaks plain HTTP to etcd
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return "";
  const std::string port = rest.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return "";
  }
  return "http://" + rest;
}

std::string url(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

bool cluster_mode(const ClusterSettings& s) {
  return !s.endpoints.empty() || colocated(s);
}

bool colocated(const ClusterSettings& s) {
  return !s.initial_cluster.empty();
}

std::string member_name(std::int32_t node_id) {
  return "kgw-" + std::to_string(node_id);
}

bool parse_initial_cluster(const std::string& text,
                           std::vector<std::pair<std::string, std::string>>& out,
                           std::string& error) {
  out.clear();
  for (const std::string& item : split_list(text)) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || normalize_endpoint(item.substr(eq + 1)).empty() ||
        item.substr(eq + 1).rfind("http://", 0) != 0) {
      error = "metadata.etcd.initial.cluster: '" + item +
              "' is not NAME=http://HOST:PEER_PORT (e.g. kgw-1=http://127.0.0.1:2380)";
      return false;
    }
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  if (out.empty()) {
    error = "metadata.etcd.initial.cluster is empty";
    return false;
  }
  return true;
}

std::string check(const ClusterSettings& s) {
  for (const std::string& e : split_list(s.endpoints)) {
    if (normalize_endpoint(e).empty()) {
      return "metadata.etcd.endpoints: '" + e + "' is not HOST:PORT or http://HOST:PORT";
    }
  }
  if (s.prefix.empty() || s.prefix.front() != '/') {
    return "metadata.etcd.prefix: '" + s.prefix + "' must start with '/' (e.g. /kgw/)";
  }
  if (s.heartbeat_interval_ms >= s.session_timeout_ms) {
    return "broker.heartbeat.interval.ms (" + std::to_string(s.heartbeat_interval_ms) +
           ") must be less than broker.session.timeout.ms (" +
           std::to_string(s.session_timeout_ms) + ")";
  }
  if (!colocated(s)) return "";
  std::vector<std::pair<std::string, std::string>> members;
  std::string error;
  if (!parse_initial_cluster(s.initial_cluster, members, error)) return error;
  if (s.member_client_port == s.member_peer_port) {
    return "metadata.etcd.member.client.port and metadata.etcd.member.peer.port are both " +
           std::to_string(s.member_peer_port) + "; they must differ";
  }
  const std::string name = member_name(s.node_id);
  const std::string peer = url(s.member_host, s.member_peer_port);
  for (const auto& [n, u] : members) {
    if (n != name) continue;
    if (normalize_endpoint(u) != peer) {
      return "metadata.etcd.initial.cluster names " + n + "=" + u +
             " but metadata.etcd.member.host and metadata.etcd.member.peer.port make this "
             "node's peer URL " +
             peer;
    }
    return "";
  }
  return "metadata.etcd.initial.cluster has no member " + name + " (this node is node.id " +
         std::to_string(s.node_id) + "; members are named kgw-<node.id>)";
}

std::optional<EtcdMemberOptions> member_options(const ClusterSettings& s,
                                                const std::string& kgw_data_dir,
                                                const std::string& etcd_binary) {
  if (!colocated(s)) return std::nullopt;
  EtcdMemberOptions o;
  if (!etcd_binary.empty()) o.etcd_binary = etcd_binary;
  o.name = member_name(s.node_id);
  o.data_dir = kgw_data_dir + "/etcd";
  o.log_path = kgw_data_dir + "/etcd.log";
  o.pid_path = kgw_data_dir + "/etcd.pid";
  o.host = s.member_host;
  o.client_port = s.member_client_port;
  o.peer_port = s.member_peer_port;
  o.initial_cluster = s.initial_cluster;
  o.token = s.initial_cluster_token;
  o.cluster_state = s.initial_cluster_state;
  return o;
}

std::vector<std::string> endpoints(const ClusterSettings& s) {
  std::vector<std::string> out;
  if (colocated(s)) out.push_back(url(s.member_host, s.member_client_port));
  for (const std::string& e : split_list(s.endpoints)) {
    std::string n = normalize_endpoint(e);
    if (!n.empty() && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

std::int64_t lease_ttl_seconds(const ClusterSettings& s) {
  return std::max<std::int64_t>(1, (s.session_timeout_ms + 999) / 1000);
}

}  // namespace kgw::etcd
