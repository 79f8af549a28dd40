// kgw: the Kafka gateway executable. Wires the layers together on one libuv
// loop: net (Server) -> broker (Broker, handlers) -> storage (Store).
//
// Start-up: options -> store (recovery) -> cluster id -> listener. Any error
// a user can cause (bad flag, bad config, port in use, unreadable data dir)
// is one line on stderr and a non-zero exit.
// Shutdown on SIGINT/SIGTERM: stop accepting and close connections, answer
// waiting fetches, let the store finish queued writes and close RocksDB,
// stop the co-located etcd member if there is one, then exit 0.
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>

#include "common/log.h"
#include "kgw_version.h"
#include "src/broker/broker.h"
#include "src/broker/broker_config.h"
#include "src/broker/coordinator_topics.h"
#include "src/broker/upstream_txn_sweep.h"
#include "src/cluster/coordinator_placement.h"
#include "src/cluster/local_metadata_log.h"
#include "src/cluster_setup.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/interbroker/inter_broker_client.h"
#include "src/interbroker/replica_fetcher.h"
#include "src/interbroker/txn_marker_sender.h"
#include "src/net/server.h"
#include "src/options.h"
#include "src/proxy/copy_back.h"
#include "src/proxy/cutover.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/mirror.h"
#include "src/proxy/upstream.h"
#include "src/replica/coordinator_log.h"
#include "src/replica/coordinator_states.h"
#include "src/replica/leadership.h"
#include "src/replica/replica_manager.h"
#include "src/replica/replication_quota.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/data_dir.h"
#include "storage/offsets_store.h"
#include "storage/producer_store.h"
#include "storage/store.h"

namespace {

using namespace kgw;

// The cluster id is made once per data dir and kept in it, like Kafka's
// meta.properties: clients use it to notice a different cluster. It is
// written durably (a torn or lost id after a power loss would make a new
// cluster id over the old data).
// A cluster node (`create` false) makes none: it takes the cluster's from
// etcd and keeps that (keep_cluster_id).
bool load_cluster_id(const std::string& data_dir, std::string& id, std::string& error,
                     bool create = true) {
  const std::string path = data_dir + "/cluster.id";
  {
    std::ifstream in(path);
    if (in && std::getline(in, id) && !id.empty()) return true;
  }
  id.clear();
  if (!create) return true;
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device rd;
  id.clear();
  for (int i = 0; i < 22; ++i) id.push_back(kAlphabet[rd() % 64]);
  return write_file_durably(data_dir, "cluster.id", id + "\n", error);
}

struct App {
  uv_loop_t* loop = nullptr;
  Store* store = nullptr;
  std::string data_dir;
  Server* server = nullptr;
  Broker* broker = nullptr;
  etcd::EtcdMember* member = nullptr;        // the co-located etcd member, if any
  ClusterNode* cluster = nullptr;            // this node's part of a cluster, if any
  InterBrokerClient* interbroker = nullptr;  // calls to the other brokers, if any
  ReplicaFetchers* fetchers = nullptr;       // the follower side of replication, if any
  Upstream* upstream = nullptr;              // proxy mode: the legacy cluster, if any
  Mirror* mirror = nullptr;                  // proxy mode: topics being migrated, if any
  Cutover* cutover = nullptr;                // proxy mode: the migration steps kgw takes
  CopyBack* copy_back = nullptr;             // proxy mode: rollbacks after a cutover
  UpstreamTxnSweep* txn_sweep = nullptr;     // proxy mode: legacy transactions ended unseen
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  bool stopping = false;
  int exit_code = 0;
};

void stop_serving(App& app);

void shutdown(App& app) {
  if (app.stopping) return;
  app.stopping = true;
  LOG_INFO("kgw", "shutting down");
  if (app.cluster != nullptr) {
    // Leave the cluster first (the lease is revoked, so the controller
    // moves this broker's leadership at once instead of after the session
    // timeout), then stop serving.
    app.cluster->leave([&app] { stop_serving(app); });
    return;
  }
  stop_serving(app);
}

void stop_serving(App& app) {
  if (app.fetchers != nullptr) app.fetchers->stop();
  app.broker->stop();
  if (app.interbroker != nullptr) app.interbroker->stop();
  if (app.cutover != nullptr) app.cutover->stop();
  if (app.copy_back != nullptr) app.copy_back->stop();
  if (app.mirror != nullptr) app.mirror->stop();
  if (app.txn_sweep != nullptr) app.txn_sweep->stop();
  if (app.upstream != nullptr) app.upstream->stop();
  app.server->stop([&app] {
    // A clean shutdown once the store closed cleanly: the next start
    // finds no kgw.running (storage/data_dir.h).
    std::string error = app.store->stop();
    if (error.empty() && !mark_stopped(app.data_dir, error)) {
      LOG_WARN("kgw", "%s: the next start will take this for an unclean shutdown", error.c_str());
    } else if (!error.empty()) {
      LOG_ERROR("kgw", "closing the store: %s", error.c_str());
    }
    // After the broker: its last metadata writes may need the member.
    if (app.member != nullptr) app.member->stop([] { LOG_INFO("kgw", "etcd member stopped"); });
    uv_close(reinterpret_cast<uv_handle_t*>(&app.sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&app.sigterm), nullptr);
  });
}

void on_signal(uv_signal_t* handle, int) {
  shutdown(*static_cast<App*>(handle->data));
}

// Where a transaction's markers go in a cluster: each partition's leader,
// and each group's coordinator, in the image this broker has applied.
MarkerCluster marker_cluster(MetadataLog& metadata, std::int32_t self, MarkerTransport& transport) {
  MarkerCluster c;
  c.route = [&metadata, self](const std::string& topic, std::int32_t partition) {
    const ImagePtr image = metadata.image();
    const TopicPtr t = image->topic(topic);
    const PartitionImage* p = t ? t->partition(partition) : nullptr;
    if (p == nullptr) return MarkerRoute{MarkerRoute::Kind::kGone};
    if (p->leader == self) return MarkerRoute{MarkerRoute::Kind::kLocal, self};
    if (p->leader < 0) return MarkerRoute{MarkerRoute::Kind::kOffline};
    return MarkerRoute{MarkerRoute::Kind::kRemote, p->leader};
  };
  c.group_route = [&metadata, self](const std::string& group) {
    const CoordinatorPlacement where =
        place_coordinator(*metadata.image(), CoordinatorType::kGroup, group, self);
    MarkerRoute r{MarkerRoute::Kind::kLocal, self};
    if (where.by_topic && where.node != self) {
      r = where.node < 0 ? MarkerRoute{MarkerRoute::Kind::kOffline}
                         : MarkerRoute{MarkerRoute::Kind::kRemote, where.node};
    }
    return std::make_pair(r, where.partition);
  };
  c.transport = &transport;
  return c;
}

GroupCoordinatorConfig group_config(const BrokerConfig& config) {
  GroupCoordinatorConfig c;
  c.min_session_timeout_ms =
      static_cast<std::int32_t>(config.get_long("group.min.session.timeout.ms"));
  c.max_session_timeout_ms =
      static_cast<std::int32_t>(config.get_long("group.max.session.timeout.ms"));
  c.initial_rebalance_delay_ms =
      static_cast<std::int32_t>(config.get_long("group.initial.rebalance.delay.ms"));
  c.max_size = static_cast<std::int32_t>(config.get_long("group.max.size"));
  return c;
}

OffsetManagerConfig offset_config(const BrokerConfig& config) {
  OffsetManagerConfig c;
  c.offsets_retention_ms = config.get_long("offsets.retention.minutes") * 60 * 1000;
  c.offsets_retention_check_interval_ms = config.get_long("offsets.retention.check.interval.ms");
  c.max_metadata_bytes = static_cast<std::int32_t>(config.get_long("offset.metadata.max.bytes"));
  return c;
}

// The replication throttles' windows, both sides' (replication_quota.h):
// replication.quota.window.num of replication.quota.window.size.seconds.
std::pair<std::uint32_t, std::uint64_t> replication_quota_windows(const BrokerConfig& config) {
  return {
      static_cast<std::uint32_t>(config.get_long("replication.quota.window.num")),
      1000 * static_cast<std::uint64_t>(config.get_long("replication.quota.window.size.seconds"))};
}

// The follower side of replication, with Kafka's replica.fetch.* configs;
// what it learns of high watermarks goes to the replica manager.
std::unique_ptr<ReplicaFetchers> make_replica_fetchers(
    uv_loop_t* loop, Store& store, ProducerStateManager& producers, InterBrokerClient& interbroker,
    MetadataLog& metadata, ReplicaManager& replicas, const BrokerConfig& config,
    std::int32_t node_id) {
  ReplicaFetcherOptions o;
  auto int_config = [&](const char* name) {
    return static_cast<std::int32_t>(config.get_long(name));
  };
  o.num_replica_fetchers = int_config("num.replica.fetchers");
  o.fetch_max_bytes = int_config("replica.fetch.max.bytes");
  o.fetch_response_max_bytes = int_config("replica.fetch.response.max.bytes");
  o.fetch_wait_max_ms = int_config("replica.fetch.wait.max.ms");
  o.fetch_min_bytes = int_config("replica.fetch.min.bytes");
  o.fetch_backoff_ms = static_cast<std::uint64_t>(config.get_long("replica.fetch.backoff.ms"));
  std::tie(o.quota_windows, o.quota_window_ms) = replication_quota_windows(config);
  ReplicaFetcherHooks hooks;
  hooks.broker_epoch = [&metadata, node_id]() -> std::int64_t {
    const BrokerImage* self = metadata.image()->broker(node_id);
    return self != nullptr ? self->epoch : -1;
  };
  hooks.on_high_watermark = [&replicas](const Uuid& topic, std::int32_t partition,
                                        std::int64_t hw) {
    replicas.on_leader_high_watermark(topic, partition, hw);
  };
  hooks.high_watermark = [&replicas](const Uuid& topic, std::int32_t partition) {
    return replicas.high_watermark(topic, partition);
  };
  // Replication throttles (src/replica/replication_quota.h).
  hooks.throttled = [&store, node_id](const Uuid& topic, std::int32_t partition) {
    const TopicInfo* t = store.find_topic(topic);
    return t != nullptr && throttled_replica(t->configs, "follower.replication.throttled.replicas",
                                             partition, node_id);
  };
  hooks.in_isr = [&replicas, node_id](const Uuid& topic, std::int32_t partition) {
    return replicas.in_isr(topic, partition, node_id);
  };
  hooks.throttle_rate = [&config] {
    return config.get_long("follower.replication.throttled.rate");
  };
  return std::make_unique<ReplicaFetchers>(loop, store, producers, interbroker, node_id, o,
                                           std::move(hooks));
}

// Runs the gateway until it is stopped; every object it creates is gone
// when it returns, in the reverse order of creation (broker, server, group
// coordinator, store).
int serve(uv_loop_t* loop, const Options& opts, BrokerConfig& config) {
  std::string error;
  StoreOptions store_opts;
  store_opts.data_dir = opts.data_dir;
  store_opts.fsync = opts.fsync;
  auto store = Store::open(loop, store_opts, error);
  if (!store) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }
  // Did the previous process stop cleanly, and if not, can its log have
  // lost writes (storage/data_dir.h)? Then this log is a new one to the
  // cluster (a new log dir id): it rejoins ISRs and ELRs only after
  // catching up, as a wiped disk does (KIP-966's unclean shutdown).
  const std::string boot_id = current_boot_id();
  const PreviousRun previous = read_previous_run(opts.data_dir, boot_id);
  if (previous.writes_may_be_lost) {
    LOG_WARN("kgw",
             "%s; in a cluster this broker rejoins every ISR and ELR only after catching up "
             "(--fsync batch avoids this)",
             previous.describe(boot_id).c_str());
  } else if (previous.unclean) {
    LOG_INFO("kgw", "%s", previous.describe(boot_id).c_str());
  }
  const std::string log_dir =
      log_dir_id(opts.data_dir, store->identity(), previous.writes_may_be_lost, error);
  if (!error.empty()) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }
  // In the co-located mode this node's etcd member runs before anything
  // serves (the metadata log of a cluster needs the quorum).
  std::unique_ptr<etcd::EtcdMember> member =
      start_colocated_member(loop, config, opts.data_dir, error);
  if (!error.empty()) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }
  // The cluster metadata (topics, dynamic broker configs, client quotas)
  // as the store kept it, changed only through this log from now on. In a
  // cluster the etcd-backed log takes its place once the listeners are
  // bound (join_cluster below).
  const bool clustered = cluster_mode(config);
  // Proxy mode (issue 17): a legacy Kafka cluster behind this node.
  std::unique_ptr<Upstream> upstream;
  if (const std::string servers = config.get("upstream.bootstrap.servers").value_or("");
      !servers.empty()) {
    UpstreamOptions upstream_options;
    if (clustered) {
      error =
          "upstream.bootstrap.servers (proxy mode) with a cluster is not supported yet: "
          "proxy mode is one node only for now";
    } else {
      parse_upstream_servers(servers, upstream_options.bootstrap, error);
    }
    if (!error.empty()) {
      std::fprintf(stderr, "kgw: %s\n", error.c_str());
      return 1;
    }
    upstream = std::make_unique<Upstream>(loop, std::move(upstream_options));
  }
  std::unique_ptr<LocalMetadataLog> local_metadata;
  if (!clustered) {
    LocalMetadataLogOptions metadata_opts;
    metadata_opts.node_id = static_cast<std::int32_t>(config.get_long("node.id"));
    metadata_opts.check_broker_config = [](const std::string& name, const std::string& value) {
      return BrokerConfig::validate_dynamic({{name, value}});
    };
    local_metadata = std::make_unique<LocalMetadataLog>(*store, std::move(metadata_opts));
  }
  OffsetsStore offsets(*store);
  GroupCoordinator groups(loop, offsets, group_config(config));
  OffsetManager offset_manager(loop, offsets, groups, offset_config(config));
  if (error = groups.load(); error.empty()) error = offset_manager.load();
  if (!error.empty()) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }
  ProducerStore producer_records(*store);
  ProducerStateManager producers(producer_records);
  TransactionCoordinatorConfig txn_config;
  txn_config.max_timeout_ms =
      static_cast<std::int32_t>(config.get_long("transaction.max.timeout.ms"));
  txn_config.transactional_id_expiration_ms = config.get_long("transactional.id.expiration.ms");
  txn_config.transactional_id_cleanup_interval_ms =
      config.get_long("transaction.remove.expired.transaction.cleanup.interval.ms");
  txn_config.producer_id_expiration_ms = config.get_long("producer.id.expiration.ms");
  txn_config.producer_id_check_interval_ms =
      config.get_long("producer.id.expiration.check.interval.ms");
  TransactionCoordinator txns(loop, producer_records, *store, producers, offset_manager,
                              txn_config);
  {
    ProducerStore::Loaders loaders;
    loaders.state = [&producers](const Uuid& t, std::int32_t p, std::int64_t pid,
                                 ProducerStateRecord r) {
      producers.load_state(t, p, pid, std::move(r));
    };
    loaders.aborted = [&producers](const Uuid& t, std::int32_t p, std::int64_t pid,
                                   std::int64_t first, std::int64_t last) {
      producers.load_aborted(t, p, pid, first, last);
    };
    loaders.transaction = [&txns](TransactionRecord r) { txns.load_transaction(std::move(r)); };
    loaders.next_producer_id = [&txns](std::int64_t next) { txns.load_next_producer_id(next); };
    if (error = producer_records.load(loaders); !error.empty()) {
      std::fprintf(stderr, "kgw: %s\n", error.c_str());
      return 1;
    }
  }

  BrokerIdentity identity;
  identity.node_id = static_cast<std::int32_t>(config.get_long("node.id"));
  identity.clustered = clustered;
  if (!load_cluster_id(opts.data_dir, identity.cluster_id, error, !clustered)) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }

  ServerOptions server_opts;
  server_opts.listeners = opts.listeners;
  server_opts.max_frame_bytes =
      static_cast<std::size_t>(config.get_long("socket.request.max.bytes"));
  server_opts.connections_max_idle_ms = config.get_long("connections.max.idle.ms");
  server_opts.max_connections = static_cast<std::size_t>(config.get_long("max.connections"));
  server_opts.max_connections_per_ip =
      static_cast<std::size_t>(config.get_long("max.connections.per.ip"));
  if (!parse_connection_overrides(config.get("max.connections.per.ip.overrides").value_or(""),
                                  server_opts.max_connections_per_ip_overrides, error)) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 2;
  }
  if (server_opts.max_connections_per_ip == 0 &&
      server_opts.max_connections_per_ip_overrides.empty()) {
    // As Kafka: 0 would refuse every client.
    std::fprintf(stderr,
                 "kgw: max.connections.per.ip can be 0 only if max.connections.per.ip.overrides "
                 "names the addresses allowed\n");
    return 2;
  }
  Broker* broker_ptr = nullptr;
  Server* server_ptr = nullptr;
  Server server(loop, server_opts, [&broker_ptr, &server_ptr](InboundFrame&& f) {
    if (broker_ptr != nullptr) {
      broker_ptr->on_frame(std::move(f));
    } else {
      // Only while a cluster node joins: clients retry elsewhere.
      server_ptr->close_connection(f.connection, "kgw is still joining the cluster");
    }
  });
  server_ptr = &server;
  if (!server.start(error)) {
    std::fprintf(stderr, "kgw: cannot listen on %s\n", error.c_str());
    return 1;
  }
  for (std::size_t i = 0; i < server.listeners().size(); ++i) {
    const ListenerConfig& l = server.listeners()[i];
    BrokerIdentity::Endpoint e{l.advertised_host.empty() ? l.host : l.advertised_host,
                               l.advertised_port >= 0 ? l.advertised_port : server.port(i)};
    if (i == 0) {
      identity.advertised_host = e.host;
      identity.advertised_port = e.port;
    }
    identity.listener_endpoints[l.name] = std::move(e);
  }
  std::unique_ptr<ClusterNode> cluster;
  if (clustered) {
    cluster = join_cluster(loop, config, *store, log_dir, identity, error);
    if (!cluster) {
      std::fprintf(stderr, "kgw: joining the cluster: %s\n", error.c_str());
      return 1;
    }
  }
  if (clustered &&
      !write_file_durably(opts.data_dir, "cluster.id", identity.cluster_id + "\n", error)) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }
  MetadataLog& metadata = clustered ? static_cast<MetadataLog&>(*cluster->log) : *local_metadata;
  if (!clustered) {
    RegisterBroker self;
    self.broker.id = identity.node_id;
    self.broker.host = identity.advertised_host;
    self.broker.port = identity.advertised_port;
    metadata.submit(std::move(self), [](ErrorCode e, std::string message) {
      if (e != ErrorCode::kNone) LOG_ERROR("kgw", "registering this node: %s", message.c_str());
    });
  }
  ServerResponder responder(server);
  Broker broker(loop, responder, *store,
                BrokerServices{groups, offset_manager, txns, producers, metadata, upstream.get()},
                config, identity);
  if (cluster) {
    // Producer ids unique in the cluster: blocks from etcd, above any id
    // this data dir gave out as a single node.
    txns.set_id_block_source(
        [c = cluster.get(), &txns](std::int32_t count, TransactionCoordinator::IdBlockDone done) {
          c->controller->allocate_producer_ids(count, std::move(done), txns.next_producer_id());
        });
  } else if (upstream) {
    // Proxy mode: producer ids from the legacy cluster, one per
    // InitProducerId there, so that an id this node hands out (for a
    // transactional id it coordinates) is never one the legacy cluster
    // gives, and the legacy cluster's ids count as issued here (a migrated
    // topic's producers write here after the cutover, issue 17).
    txns.set_id_block_source(
        [u = upstream.get()](std::int32_t, TransactionCoordinator::IdBlockDone done) {
          legacy_producer_id(
              *u, [done = std::move(done)](ErrorCode e, std::int64_t id) { done(e, id, 1); });
        });
  }
  // Transaction markers for partitions led by other brokers leave as
  // WriteTxnMarkers requests to their leaders.
  std::unique_ptr<InterBrokerClient> interbroker;
  std::unique_ptr<TxnMarkerSender> marker_sender;
  std::unique_ptr<ReplicaFetchers> fetchers;
  if (cluster) {
    interbroker = std::make_unique<InterBrokerClient>(loop, identity.node_id,
                                                      [&metadata] { return metadata.image(); });
    marker_sender = std::make_unique<TxnMarkerSender>(*interbroker);
    txns.markers().set_cluster(marker_cluster(metadata, identity.node_id, *marker_sender));
    fetchers = make_replica_fetchers(loop, *store, producers, *interbroker, metadata,
                                     broker.replicas(), config, identity.node_id);
    // Partition replication: followers fetch (the fetchers above), leaders
    // ask the controller for ISR changes (AlterPartition).
    ReplicationOptions replication;
    replication.lag_time_max_ms = config.get_long("replica.lag.time.max.ms");
    replication.following = fetchers.get();
    std::tie(replication.quota_windows, replication.quota_window_ms) =
        replication_quota_windows(config);
    replication.isr_channel = [&metadata, node = identity.node_id](
                                  IsrChangeRequest req,
                                  std::function<void(ErrorCode, std::string)> done) {
      AlterPartition change;
      change.leader = node;
      const BrokerImage* self = metadata.image()->broker(node);
      change.broker_epoch = self != nullptr ? self->epoch : -1;
      change.topic = req.topic;
      change.partition = req.partition;
      change.leader_epoch = req.leader_epoch;
      change.partition_epoch = req.partition_epoch;
      for (const auto& [id, epoch] : req.isr) change.isr.push_back(IsrMember{id, epoch});
      metadata.submit(std::move(change), std::move(done));
    };
    broker.replicas().configure_replication(std::move(replication));
  }
  // The replica manager leads (and follows) what the metadata image says.
  follow_leadership(metadata, broker.replicas(), identity.node_id, cluster != nullptr,
                    2 * static_cast<std::uint64_t>(config.get_long("broker.session.timeout.ms")),
                    cluster != nullptr && cluster->log->log_dir_replaced());
  // A cluster's group coordinators keep their state in the replicated
  // __consumer_offsets partitions and load it when they become leaders.
  // The same for the transaction coordinator and __transaction_state.
  std::unique_ptr<GroupCoordinatorState> group_state;
  std::unique_ptr<CoordinatorLog> coordinator_log;
  std::unique_ptr<TxnCoordinatorState> txn_state;
  std::unique_ptr<CoordinatorLog> txn_log;
  if (cluster) {
    CoordinatorLogOptions coordinator_options;
    coordinator_options.node_id = identity.node_id;
    coordinator_options.topic = std::string(kGroupStateTopic);
    coordinator_options.peer = "group coordinator";
    // A single node's groups and transactional ids, kept in its column
    // families before it joined a cluster, are imported once its topics
    // exist, led here (coordinator_log.h).
    coordinator_options.create_topic = [&metadata, &config, node = identity.node_id] {
      request_coordinator_topic(metadata, config, CoordinatorType::kGroup, node);
    };
    group_state = std::make_unique<GroupCoordinatorState>(*store, groups, offset_manager);
    coordinator_log = std::make_unique<CoordinatorLog>(
        metadata, broker.resolver(), broker.replicas(), *store, *group_state, coordinator_options);
    group_state->attach(*coordinator_log, offsets);
    coordinator_log->start();
    CoordinatorLogOptions txn_options = coordinator_options;
    txn_options.topic = std::string(kTransactionStateTopic);
    txn_options.peer = "transaction coordinator";
    txn_options.create_topic = [&metadata, &config, node = identity.node_id] {
      request_coordinator_topic(metadata, config, CoordinatorType::kTransaction, node);
    };
    txn_state = std::make_unique<TxnCoordinatorState>(producer_records, txns);
    txn_log = std::make_unique<CoordinatorLog>(metadata, broker.resolver(), broker.replicas(),
                                               *store, *txn_state, txn_options);
    txn_state->attach(*txn_log);
    txn_log->start();
    // Both topics grow to their configured replication factor as brokers
    // join (coordinator_topics.h): checked after each metadata change, on
    // a later turn of the loop.
    metadata.add_listener([&replicas = broker.replicas(), &metadata, &config,
                           node = identity.node_id, pending = std::make_shared<bool>(false)](
                              const MetadataImage&, const MetadataImage&, const MetadataChange&) {
      if (*pending) return;
      *pending = true;
      replicas.after(0, [&metadata, &config, node, pending] {
        *pending = false;
        grow_coordinator_topic(metadata, config, CoordinatorType::kGroup, node);
        grow_coordinator_topic(metadata, config, CoordinatorType::kTransaction, node);
      });
    });
  }
  txns.start();
  broker_ptr = &broker;
  // Proxy mode: topics whose migration is `mirroring` are copied from the
  // legacy cluster (issue 17).
  std::unique_ptr<Mirror> mirror;
  if (upstream) mirror = std::make_unique<Mirror>(loop, *store, producers, metadata, *upstream);
  // ... and switched to kgw (or dropped) when a user asks for it.
  std::unique_ptr<Cutover> cutover;
  if (upstream) {
    CutoverOptions cutover_options;
    cutover_options.max_pause_ms =
        static_cast<std::uint64_t>(config.get_long("migration.cutover.max.pause.ms"));
    // The legacy topic's configs a cutover copies: topic configs kgw
    // knows, with values it takes; never kgw's own (kgw.*).
    cutover_options.check_topic_config = [](const std::string& name,
                                            const std::string& value) -> std::string {
      if (name.rfind("kgw.", 0) == 0) return "kgw's own";
      const ConfigDef* def = find_topic_config(name);
      if (def == nullptr) return "not a topic config kgw knows";
      return validate_config_value(*def, value);
    };
    cutover =
        std::make_unique<Cutover>(loop, *store, producers, metadata, *upstream, cutover_options);
  }
  // ... or handed back after the switch, once kgw's records are copied back.
  std::unique_ptr<CopyBack> copy_back;
  if (upstream) {
    CopyBackOptions copy_back_options;
    copy_back_options.max_pause_ms =
        static_cast<std::uint64_t>(config.get_long("migration.cutover.max.pause.ms"));
    copy_back = std::make_unique<CopyBack>(loop, *store, metadata, *upstream, copy_back_options);
  }

  // ... and kgw's part of a legacy transaction its producer abandoned is
  // ended as the legacy coordinator ended it.
  std::unique_ptr<UpstreamTxnSweep> txn_sweep;
  if (upstream) txn_sweep = std::make_unique<UpstreamTxnSweep>(loop, broker.context());

  App app;
  app.loop = loop;
  app.store = store.get();
  app.data_dir = opts.data_dir;
  app.server = &server;
  app.broker = &broker;
  app.member = member.get();
  app.cluster = cluster.get();
  app.interbroker = interbroker.get();
  app.fetchers = fetchers.get();
  app.upstream = upstream.get();
  app.mirror = mirror.get();
  app.cutover = cutover.get();
  app.copy_back = copy_back.get();
  app.txn_sweep = txn_sweep.get();
  if (upstream) upstream->start();
  if (mirror) mirror->start();
  if (cutover) cutover->start();
  if (copy_back) copy_back->start();
  if (txn_sweep) txn_sweep->start();
  uv_signal_init(loop, &app.sigint);
  uv_signal_init(loop, &app.sigterm);
  app.sigint.data = &app;
  app.sigterm.data = &app;
  uv_signal_start(&app.sigint, on_signal, SIGINT);
  uv_signal_start(&app.sigterm, on_signal, SIGTERM);
  // A write that fails (disk full, I/O error) fails every later one too
  // (group_writer.h): the log dir is offline. Kafka stops a broker whose
  // only log dir failed; so does kgw, rather than answer every produce with
  // KAFKA_STORAGE_ERROR while Metadata shows a healthy broker. What was
  // acknowledged is on disk; what was not is forgotten (producer state
  // included, so no retry is answered as a duplicate of a lost batch).
  store->set_failure_listener([&app, &producers, s = store.get(),
                               dir = opts.data_dir](const std::string& error) {
    producers.on_write_failed([s](const Uuid& topic, std::int32_t partition) {
      const PartitionState* ps = s->partition(topic, partition);
      return ps != nullptr ? std::optional<std::int64_t>(ps->high_watermark) : std::nullopt;
    });
    LOG_ERROR("kgw",
              "the log dir %s failed (%s): stopping, as Kafka stops a broker whose only log dir "
              "failed. Every acknowledged write is in it; fix the cause (disk full? failing disk? "
              "permissions?) and start kgw again",
              dir.c_str(), error.c_str());
    app.exit_code = 1;
    shutdown(app);
  });

  // From here on this process serves: until it stops cleanly, its
  // kgw.running says so (a start that failed above leaves none).
  if (!mark_running(opts.data_dir, opts.fsync, boot_id, error)) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 1;
  }
  const std::string& host = server.listeners().front().host;
  LOG_INFO("kgw", "kgw %s listening on %s:%d (advertised %s:%d), data in %s, fsync %s", KGW_VERSION,
           host.c_str(), server.port(), identity.advertised_host.c_str(), identity.advertised_port,
           opts.data_dir.c_str(), opts.fsync ? "batch" : "never");
  // Tests and scripts read the bound port from this line (the first
  // listener's); further listeners follow, one line each, with their name.
  std::printf("kgw: listening on %s:%d\n", host.c_str(), server.port());
  for (std::size_t i = 1; i < server.listeners().size(); ++i) {
    std::printf("kgw: listening on %s:%d (%s)\n", server.listeners()[i].host.c_str(),
                server.port(i), server.listeners()[i].name.c_str());
  }
  std::fflush(stdout);

  // Returns once shutdown() has closed every handle.
  uv_run(loop, UV_RUN_DEFAULT);
  return app.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  std::string error;
  if (!parse_options(argc, argv, opts, error)) {
    std::fprintf(stderr, "kgw: %s\n", error.c_str());
    return 2;
  }
  if (opts.exit_now) return 0;
  set_log_level(opts.log_level);
  std::signal(SIGPIPE, SIG_IGN);

  BrokerConfig config;
  for (const auto& [name, value] : opts.broker_configs) {
    if (std::string e = config.set(name, value); !e.empty()) {
      std::fprintf(stderr, "kgw: %s\n", e.c_str());
      return 2;
    }
  }
  if (std::string e = check_cluster_settings(config); !e.empty()) {
    std::fprintf(stderr, "kgw: %s\n", e.c_str());
    return 2;
  }

  uv_loop_t* loop = uv_default_loop();
  const int code = serve(loop, opts, config);
  uv_run(loop, UV_RUN_DEFAULT);  // close callbacks of handles released on the way out
  if (uv_loop_close(loop) != 0) LOG_WARN("kgw", "some handles were still open at exit");
  if (code == 0) LOG_INFO("kgw", "stopped");
  return code;
}
