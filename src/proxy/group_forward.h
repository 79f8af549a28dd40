// Forwarding of the classic group APIs in proxy mode (issue 17): a group
// that lives on the legacy cluster (see the rule in
// src/broker/handlers/cluster_hints.h, group_upstream()) is coordinated
// there. FindCoordinator keeps naming this node (clients never see a legacy
// address), and each of the group's requests (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups,
// DeleteGroups, OffsetDelete, TxnOffsetCommit) is re-sent to the legacy
// coordinator; ListGroups asks every legacy broker and merges with this
// node's own groups. A transactional id that lives upstream (txn_upstream())
// has its InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn
// sent to its legacy transaction coordinator the same way.
//
// The happy path is: the legacy coordinator of the group (cached per
// group; asked with the legacy cluster's FindCoordinator on first use) ->
// the client's request re-encoded at the highest version both the legacy
// broker and the client's request allow (never higher than the client's,
// so the answer fits the client's version) -> the answer decoded and handed
// back; the handler answers the client with it (correlation id, throttle
// time and errors pass through).
//
// Each call goes on a connection of its own among the coordinator's
// (channels kCoordinatorChannel and up, the first with nothing pending): a
// Kafka broker answers one connection's requests in order, so a JoinGroup
// parked until the rebalance completes must not hold the other members'
// JoinGroups or Heartbeats behind it.
//
// Possible failure modes, all answered as Kafka errors, never thrown:
//  - no legacy broker known yet, FindCoordinator fails there, the
//    coordinator's connection fails or drops, or the call times out
//    (request.timeout.ms of the upstream connections, 30 s: a JoinGroup
//    parked longer than that is failed too): COORDINATOR_NOT_AVAILABLE, the
//    cached coordinator forgotten; clients find the coordinator again (this
//    node) and retry, and the next call asks the legacy cluster again;
//  - the legacy coordinator answers NOT_COORDINATOR or
//    COORDINATOR_NOT_AVAILABLE: passed through, the cache entry forgotten;
//  - no version both sides speak can carry the request:
//    UNSUPPORTED_VERSION for that request only;
//  - an answer that does not decode: UNKNOWN_SERVER_ERROR.
//
// Threads: the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/wire/error_code.h"
#include "protocol/wire/reader.h"
#include "src/interbroker/broker_connection.h"
#include "src/proxy/forward.h"

namespace kgw {

class Upstream;
struct ListGroupsRequest;
struct ListGroupsResponse;

// The first channel of the coordinator connections (below it: the
// partitioned requests' channels, forward.h).
inline constexpr std::int32_t kCoordinatorChannel = 1000;

// `error` kNone: `body` is the legacy answer at `version`, valid during
// the callback only.
using CoordinatorDone = std::function<void(ErrorCode error, std::int16_t version, Bytes body)>;

// Which coordinator: FindCoordinator's key types.
enum class KeyType : std::int8_t { kGroup = 0, kTransaction = 1 };

// Sends a request about `key` (a group id or a transactional id) to its
// legacy coordinator at a version in [min_version, max_version] (see above).
void send_to_coordinator(Upstream& upstream, KeyType type, std::string key, std::int16_t api_key,
                         std::int16_t min_version, std::int16_t max_version,
                         BrokerConnection::Encode encode, CoordinatorDone done);

// Sends a request any legacy broker answers (an idempotent producer's
// InitProducerId) to one of them, in turn. A broker down or unknown is
// COORDINATOR_NOT_AVAILABLE (retriable), as for the coordinator calls.
void send_to_any_broker(Upstream& upstream, std::int16_t api_key, std::int16_t min_version,
                        std::int16_t max_version, BrokerConnection::Encode encode,
                        CoordinatorDone done);

// Sends a request the legacy controller answers (CreateTopics,
// DeleteTopics, CreatePartitions) there, or to any broker while the
// metadata names none (a broker that is not the controller answers
// NOT_CONTROLLER, which clients retry). Errors as send_to_any_broker's.
void send_to_controller(Upstream& upstream, std::int16_t api_key, std::int16_t min_version,
                        std::int16_t max_version, BrokerConnection::Encode encode,
                        CoordinatorDone done);

// A fresh producer id from the legacy cluster (an idempotent producer's
// InitProducerId there): how a proxy's own transaction coordinator gets
// ids that never collide with the legacy cluster's.
void legacy_producer_id(Upstream& upstream, std::function<void(ErrorCode, std::int64_t id)> done);

// The legacy coordinator answered "not me" / "not now": ask again next time.
void forget_coordinator(Upstream& upstream, KeyType type, std::string_view key);

// The group-level error of a one-group answer (the first group's for the
// batched APIs), 0 if none.
template <typename Resp>
std::int16_t group_answer_error(const Resp& resp) {
  if constexpr (requires { resp.groups.front().error_code; }) {
    if (!resp.groups.empty()) return resp.groups.front().error_code;
  }
  if constexpr (requires { resp.results.front().error_code; }) {
    if (!resp.results.empty()) return resp.results.front().error_code;
  }
  if constexpr (requires { resp.error_code; }) return resp.error_code;
  return 0;
}

// The typed call: `req` (its views kept alive by the caller's `done`
// capture) sent to the coordinator of `key`; `done` gets the decoded
// answer (views valid during the callback only) or the error (and a
// default answer).
template <typename Req, typename Resp>
void forward_to_coordinator(Upstream& upstream, KeyType type, std::string_view key, Req req,
                            std::int16_t min_version, std::int16_t client_version,
                            std::function<void(ErrorCode, const Resp&)> done) {
  send_to_coordinator(
      upstream, type, std::string(key), Req::api_key, min_version, client_version,
      [req = std::move(req)](Writer& w, std::int16_t v) { req.encode(w, v); },
      [&upstream, type, key = std::string(key), done = std::move(done)](
          ErrorCode e, std::int16_t version, Bytes body) {
        Resp resp;
        if (e == ErrorCode::kNone) {
          Reader r(body);
          if (!resp.decode(r, version)) e = ErrorCode::kUnknownServerError;
        }
        if (e == ErrorCode::kNone) {
          const std::int16_t g = group_answer_error(resp);
          if (g == code(ErrorCode::kNotCoordinator) ||
              g == code(ErrorCode::kCoordinatorNotAvailable)) {
            forget_coordinator(upstream, type, key);
          }
        }
        done(e, resp);
      });
}

template <typename Req, typename Resp>
void forward_to_group_coordinator(Upstream& upstream, std::string_view group, Req req,
                                  std::int16_t min_version, std::int16_t client_version,
                                  std::function<void(ErrorCode, const Resp&)> done) {
  forward_to_coordinator<Req, Resp>(upstream, KeyType::kGroup, group, std::move(req), min_version,
                                    client_version, std::move(done));
}

// ListGroups on every legacy broker. `done` gets each broker's groups
// (owned by `storage`, which the caller keeps until it answers) and the
// first error a broker gave (0: none). A broker that speaks no ListGroups
// version adds nothing and no error (it coordinates no group we could list).
void list_upstream_groups(Upstream& upstream, const ListGroupsRequest& req,
                          std::int16_t client_version, ForwardStorage& storage,
                          std::function<void(std::int16_t error, ListGroupsResponse groups)> done);

// Appends to `into` the groups of `from` it does not have yet (by group
// id), in `from`'s order. Pure.
template <typename Listed>
void merge_listed_groups(std::vector<Listed>& into, const std::vector<Listed>& from) {
  for (const Listed& g : from) {
    bool seen = false;
    for (const Listed& h : into) seen = seen || h.group_id == g.group_id;
    if (!seen) into.push_back(g);
  }
}

// Indexes of `names` for which `upstream(name)` holds, and the others, each
// in order. Pure.
struct GroupSplit {
  std::vector<std::size_t> local;
  std::vector<std::size_t> upstream;
};
template <typename Names, typename IsUpstream>
GroupSplit split_groups(const Names& names, IsUpstream&& upstream) {
  GroupSplit s;
  for (std::size_t i = 0; i < names.size(); ++i) {
    (upstream(names[i]) ? s.upstream : s.local).push_back(i);
  }
  return s;
}

// Counts the calls still out; the last one runs `done`.
struct GroupJoin {
  int pending = 1;
  std::function<void()> done;
  void one() {
    if (--pending != 0) return;
    auto d = std::move(done);
    d();
  }
};

}  // namespace kgw
