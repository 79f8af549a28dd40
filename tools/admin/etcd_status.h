// EtcdStatus: the members of an etcd cluster and each one's health, asked
// over etcd's v3 HTTP JSON gateway with libcurl (blocking, one request at a
// time: kgw-admin is a one-shot tool, so kgw's libuv etcd client would add
// a loop for nothing). kgw does not expose etcd over Kafka, so `kgw-admin
// cluster --etcd` asks etcd itself.
//
// Thread: the caller's. Happy path: the member list from the first
// endpoint that answers (POST /v3/cluster/member/list), then per member
// GET /health and POST /v3/maintenance/status on its first client URL.
// Failure modes: an endpoint that does not answer is named in
// `unreachable` and the next is tried; none answering fails the whole call
// (`error` names every endpoint and why); a member that does not answer is
// listed with health "unreachable" and the reason.
#pragma once

#include <string>
#include <vector>

namespace kgw::admin {

struct EtcdMemberStatus {
  std::string id;  // hex, as etcdctl prints it
  std::string name;
  std::vector<std::string> client_urls, peer_urls;
  std::string health = "unknown";  // healthy | unhealthy | unreachable | unknown (no client URL)
  std::string detail;              // why not healthy; "" when healthy
  bool leader = false;
  std::string version;  // etcd's, from its status; "" when unknown
};

struct EtcdClusterStatus {
  std::string listed_by;  // the endpoint whose member list this is
  std::string cluster_id;
  std::vector<EtcdMemberStatus> members;
  std::vector<std::string> unreachable;  // "endpoint: why", endpoints tried before listed_by
};

// endpoints: "host:port" or "http://host:port", comma separated.
std::vector<std::string> etcd_endpoints(const std::string& list);

bool etcd_cluster_status(const std::vector<std::string>& endpoints, long timeout_ms,
                         EtcdClusterStatus& out, std::string& error);

// Parsing of the gateway's answers (64-bit ids arrive as decimal strings).
// false and `error` if the text is not the expected JSON.
bool parse_member_list(const std::string& body, EtcdClusterStatus& out, std::string& error);
// /health's answer: healthy, or false with the reason in `detail`.
bool parse_health(const std::string& body, std::string& detail);
// The member id of the leader as hex, and the member's version, from
// /v3/maintenance/status. false if the text is not its JSON.
bool parse_status(const std::string& body, std::string& member_id, std::string& leader_id,
                  std::string& version);

}  // namespace kgw::admin
