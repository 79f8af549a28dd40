#include "src/cluster_setup.h"

#include <cstdlib>

#include "common/log.h"
#include "storage/store.h"

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
  s.initial_cluster_state = config.get("metadata.etcd.initial.cluster.state").value_or("new");
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

void ClusterNode::leave(std::function<void()> done) {
  controller->controlled_shutdown([this, done = std::move(done)]() mutable {
    controller->stop();
    log->stop(std::move(done));
  });
}

std::unique_ptr<ClusterNode> join_cluster(uv_loop_t* loop, const BrokerConfig& config, Store& store,
                                          const std::string& log_dir_id, BrokerIdentity& identity,
                                          std::string& error) {
  const etcd::ClusterSettings settings = cluster_settings(config);
  auto node = std::make_unique<ClusterNode>();
  etcd::ClientOptions client_opts;
  client_opts.endpoints = etcd::endpoints(settings);
  client_opts.request_timeout_ms = settings.request_timeout_ms;
  node->kv = std::make_unique<etcd::Client>(loop, client_opts);

  EtcdMetadataLogOptions opts;
  opts.node_id = settings.node_id;
  opts.prefix = settings.prefix;
  opts.registration.id = settings.node_id;
  opts.registration.host = identity.advertised_host;
  opts.registration.port = identity.advertised_port;
  if (!settings.rack.empty()) opts.registration.rack = settings.rack;
  opts.registration.log_dir_id = log_dir_id;
  for (const auto& [name, e] : identity.listener_endpoints) {
    opts.registration.listeners[name] = e.host + ":" + std::to_string(e.port);
  }
  opts.cluster_id = identity.cluster_id;
  opts.session_timeout_ms = settings.session_timeout_ms;
  opts.heartbeat_interval_ms = settings.heartbeat_interval_ms;
  opts.request_timeout_ms = settings.request_timeout_ms;
  opts.check_broker_config = [](const std::string& name, const std::string& value) {
    return BrokerConfig::validate_dynamic({{name, value}});
  };
  node->log = std::make_unique<EtcdMetadataLog>(loop, *node->kv, store, std::move(opts));

  std::string endpoints;
  for (const std::string& e : client_opts.endpoints) {
    endpoints += (endpoints.empty() ? "" : ",") + e;
  }
  LOG_INFO("kgw", "joining the cluster: metadata in etcd at %s under %s", endpoints.c_str(),
           settings.prefix.c_str());
  bool done = false;
  node->log->start([&](std::string e) {
    done = true;
    error = std::move(e);
  });
  // Start-up waits for the quorum (the other members may still be
  // starting); the wait is shown, never silent.
  const std::uint64_t started = uv_now(loop);
  std::uint64_t next_note = started + 5000;
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 1000, 1000);
  while (!done) {
    uv_run(loop, UV_RUN_ONCE);
    if (!done && uv_now(loop) >= next_note) {
      LOG_INFO("kgw",
               "still waiting for etcd at %s (%llu s): is a quorum of its members up? "
               "(co-located members start with their kgw nodes)",
               endpoints.c_str(), static_cast<unsigned long long>((uv_now(loop) - started) / 1000));
      next_note += 5000;
    }
  }
  uv_timer_stop(&tick);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  if (!error.empty()) return nullptr;
  identity.cluster_id = node->log->cluster_id();
  ControllerOptions controller_opts;
  controller_opts.node_id = settings.node_id;
  controller_opts.prefix = settings.prefix;
  // No campaign on a lease etcd has not confirmed within its TTL.
  controller_opts.lease = [log = node->log.get()] {
    return log->lease_confirmed() ? log->lease() : 0;
  };
  controller_opts.image_revision = [log = node->log.get()] { return log->revision(); };
  // The static value: the controller reads the dynamic layers from the
  // image, where they change at run time.
  BrokerConfig static_only = config;
  static_only.set_dynamic(DynamicLayer::kBroker, {});
  static_only.set_dynamic(DynamicLayer::kDefault, {});
  controller_opts.unclean_leader_election_enable =
      static_only.get_bool("unclean.leader.election.enable");
  controller_opts.min_insync_replicas = static_only.get_long("min.insync.replicas");
  controller_opts.auto_leader_rebalance = config.get_bool("auto.leader.rebalance.enable");
  controller_opts.leader_imbalance_check_interval_ms =
      static_cast<std::uint64_t>(config.get_long("leader.imbalance.check.interval.seconds")) * 1000;
  controller_opts.leader_imbalance_per_broker_percentage =
      static_cast<double>(config.get_long("leader.imbalance.per.broker.percentage"));
  node->controller =
      std::make_unique<Controller>(loop, *node->kv, *node->log, std::move(controller_opts));
  node->log->on_revision(
      [controller = node->controller.get()](std::int64_t) { controller->image_advanced(); });
  node->log->on_lease_unconfirmed(
      [controller = node->controller.get()] { controller->lease_unconfirmed(); });
  node->controller->start();
  LOG_INFO("kgw", "joined cluster %s as broker %d (epoch %lld), %zu broker(s) known",
           identity.cluster_id.c_str(), settings.node_id,
           static_cast<long long>(node->log->broker_epoch()), node->log->image()->brokers().size());
  return node;
}

}  // namespace kgw
