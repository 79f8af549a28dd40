#include "src/cluster_setup.h"

#include <cstdlib>

namespace kgw {

etcd::ClusterSettings cluster_settings(const BrokerConfig& config) {
  etcd::ClusterSettings s;
  s.node_id = static_cast<std::int32_t>(config.get_long("node.id"));
  s.rack = config.get("broker.rack").value_or("");
  s.endpoints = config.get("metadata.etcd.endpoints").value_or("");
  s.prefix = config.get("metadata.etcd.prefix").value_or("/kgw/");
  s.member_host = config.get("metadata.etcd.member.host").value_or("127.0.0.1");
  s.member_client_port = static_cast<int>(config.get_long("metadata.etcd.member.client.port"));
  s.member_peer_port = static_cast<int>(config.get_long("metadata.etcd.member.peer.port"));
  s.initial_cluster = config.get("metadata.etcd.initial.cluster").value_or("");
  s.initial_cluster_token = config.get("metadata.etcd.initial.cluster.token").value_or("kgw");
  s.session_timeout_ms = config.get_long("broker.session.timeout.ms");
  s.heartbeat_interval_ms = config.get_long("broker.heartbeat.interval.ms");
  s.request_timeout_ms = config.get_long("metadata.etcd.request.timeout.ms");
  return s;
}

std::string check_cluster_settings(const BrokerConfig& config) {
  return etcd::check(cluster_settings(config));
}

bool cluster_mode(const BrokerConfig& config) {
  return etcd::cluster_mode(cluster_settings(config));
}

std::unique_ptr<etcd::EtcdMember> start_colocated_member(uv_loop_t* loop,
                                                         const BrokerConfig& config,
                                                         const std::string& data_dir,
                                                         std::string& error) {
  error.clear();
  const char* binary = std::getenv("KGW_ETCD");
  auto options =
      etcd::member_options(cluster_settings(config), data_dir, binary != nullptr ? binary : "");
  if (!options) return nullptr;
  auto member = std::make_unique<etcd::EtcdMember>(loop, std::move(*options));
  if (!member->start(error)) return nullptr;
  return member;
}

}  // namespace kgw
