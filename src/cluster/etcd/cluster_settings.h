// The cluster settings of one kgw node (metadata.etcd.*, broker.session.*,
// broker.heartbeat.*, broker.rack) as plain data, checked together, and what
// follows from them: whether this node is in a cluster at all, the options
// of its co-located etcd member, and the etcd endpoints to talk to.
//
// Threads: pure functions, any thread.
//
// Happy path: main reads the static broker configs into ClusterSettings,
// check() finds nothing wrong, member_options() gives the EtcdMember to
// start (co-located mode) and endpoints() the etcd client's list.
// Failure modes: check() returns one line naming the setting that is wrong
// (kgw prints it and exits 2 before opening anything).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/cluster/etcd/etcd_member.h"

namespace kgw::etcd {

struct ClusterSettings {
  std::int32_t node_id = 1;                   // node.id
  std::string rack;                           // broker.rack; "" = none
  std::string endpoints;                      // metadata.etcd.endpoints; "" = none
  std::string prefix = "/kgw/";               // metadata.etcd.prefix
  std::string member_host = "127.0.0.1";      // metadata.etcd.member.host
  int member_client_port = 2379;              // metadata.etcd.member.client.port
  int member_peer_port = 2380;                // metadata.etcd.member.peer.port
  std::string initial_cluster;                // metadata.etcd.initial.cluster; "" = no member
  std::string initial_cluster_token = "kgw";  // metadata.etcd.initial.cluster.token
  std::string initial_cluster_state = "new";  // metadata.etcd.initial.cluster.state
  std::int64_t session_timeout_ms = 9000;     // broker.session.timeout.ms
  std::int64_t heartbeat_interval_ms = 2000;  // broker.heartbeat.interval.ms
  std::int64_t request_timeout_ms = 5000;     // metadata.etcd.request.timeout.ms
};

// True when the metadata lives in etcd (endpoints given or a co-located
// member); false: one node, LocalMetadataLog, exactly as without settings.
bool cluster_mode(const ClusterSettings& s);
// True when this node starts and supervises its own etcd member.
bool colocated(const ClusterSettings& s);

// "" or what is wrong, naming the setting.
std::string check(const ClusterSettings& s);

// The member's etcd name: kgw-<node.id>.
std::string member_name(std::int32_t node_id);

// metadata.etcd.initial.cluster split into (name, peer URL); false with
// `error` on a malformed list.
bool parse_initial_cluster(const std::string& text,
                           std::vector<std::pair<std::string, std::string>>& out,
                           std::string& error);

// The co-located member's options (data dir, log and pid file under the kgw
// data dir); nullopt when not colocated(). `etcd_binary` "" = the default.
std::optional<EtcdMemberOptions> member_options(const ClusterSettings& s,
                                                const std::string& kgw_data_dir,
                                                const std::string& etcd_binary);

// The etcd client's endpoints as "http://host:port": metadata.etcd.endpoints
// when given (a co-located member's own client URL first if it is not
// listed), else the co-located member's client URL alone.
std::vector<std::string> endpoints(const ClusterSettings& s);

// The broker lease TTL in whole seconds (etcd leases count seconds):
// broker.session.timeout.ms rounded up.
std::int64_t lease_ttl_seconds(const ClusterSettings& s);

}  // namespace kgw::etcd
