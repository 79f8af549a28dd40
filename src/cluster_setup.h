// The cluster side of kgw's start-up, kept out of main.cc: the cluster
// settings read from the static broker configs, whether this node runs as
// part of a cluster, and its co-located etcd member.
//
// Threads: the loop thread, at start-up.
//
// Happy path: main checks the settings (check_cluster_settings), serve()
// starts the member before it serves (start_colocated_member) and stops it
// after the broker at shutdown. Failure modes: bad settings -> one line
// naming the setting (exit 2); etcd cannot be spawned -> one line (exit 1).
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "src/broker/broker_config.h"
#include "src/broker/handler_context.h"
#include "src/cluster/controller.h"
#include "src/cluster/etcd/cluster_settings.h"
#include "src/cluster/etcd/etcd_client.h"
#include "src/cluster/etcd/etcd_member.h"
#include "src/cluster/etcd_metadata_log.h"

namespace kgw {

etcd::ClusterSettings cluster_settings(const BrokerConfig& config);

// "" or what is wrong with the cluster settings, naming the setting.
std::string check_cluster_settings(const BrokerConfig& config);

// True when the metadata lives in etcd (metadata.etcd.endpoints or a
// co-located member): where the etcd-backed metadata log is chosen instead
// of LocalMetadataLog. False with no cluster settings: one node as before.
bool cluster_mode(const BrokerConfig& config);

// Starts this node's etcd member when metadata.etcd.initial.cluster is set
// (the binary is $KGW_ETCD if set, else /usr/bin/etcd); nullptr with
// `error` empty when there is none to start, nullptr with `error` when it
// cannot start.
std::unique_ptr<etcd::EtcdMember> start_colocated_member(uv_loop_t* loop,
                                                         const BrokerConfig& config,
                                                         const std::string& data_dir,
                                                         std::string& error);

// This broker's part of a cluster: its etcd client and the metadata log
// kept by etcd. Owned by serve(); destroyed after the broker.
struct ClusterNode {
  std::unique_ptr<etcd::Client> kv;
  std::unique_ptr<EtcdMetadataLog> log;
  // Campaigns on every broker; acts on the one elected.
  std::unique_ptr<Controller> controller;

  // SIGTERM: leadership moved away (controlled shutdown), the controller
  // stopped, the lease revoked; then `done`.
  void leave(std::function<void()> done);
};

// Connects to etcd, builds the image and registers this broker with the
// addresses in `identity` (its listeners are bound already) and its log
// dir id (storage/data_dir.h: the store's identity, or a new one after an
// unclean shutdown that may have lost writes), running the
// loop until that is done and saying every 5 s what it waits for; then
// starts this broker's controller campaign. On
// success `identity.cluster_id` is the cluster's. nullptr and `error` when
// etcd refuses (a bad key, another cluster's data).
std::unique_ptr<ClusterNode> join_cluster(uv_loop_t* loop, const BrokerConfig& config, Store& store,
                                          const std::string& log_dir_id, BrokerIdentity& identity,
                                          std::string& error);

}  // namespace kgw
