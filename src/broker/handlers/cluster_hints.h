// What the handlers tell a client that asked the wrong broker: KIP-951's
// current leader and node endpoints on Produce and Fetch answers that say
// NOT_LEADER_OR_FOLLOWER, and the NOT_COORDINATOR guard of the group and
// transaction requests (placement in src/cluster/coordinator_placement.h,
// shared with FindCoordinator).
//
// Threads: the loop thread, as every handler. On one node nothing here
// changes an answer: this node leads every partition and coordinates every
// key. Failure modes: none of its own; a partition unknown to the image
// has no current leader (-1, -1), a fenced or unknown leader no endpoint.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "protocol/wire/error_code.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/coordinator_placement.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

struct JoinGroupRequest;

// The leader the image names for a partition and its epoch (as Kafka's
// getCurrentLeader: -1 and -1 when the partition is unknown), and the
// leader's registration when it is alive (nullptr: fenced or unknown, and
// then no endpoint goes with the answer).
struct LeaderHint {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = -1;
  const BrokerImage* node = nullptr;
};
LeaderHint current_leader(const MetadataImage& image, const TopicImage* topic,
                          std::int32_t partition);

// Fills the KIP-951 fields of every partition answered
// NOT_LEADER_OR_FOLLOWER: `leader_of(topic_out)` gives the topic's image
// (nullptr: unknown), `partitions_of(topic_out)` its partition answers,
// `index_of(partition_out)` their index; each such partition's
// current_leader gets the leader and epoch and the leader's address joins
// `endpoints` once (in node id order). The views point into `image` and
// the broker's identity: keep the image until the answer is encoded.
template <typename Topics, typename Endpoints, typename TopicOf, typename PartitionsOf,
          typename IndexOf>
void fill_current_leaders(const HandlerContext& ctx, const RequestContext& req,
                          const MetadataImage& image, Topics& topics, Endpoints& endpoints,
                          TopicOf&& topic_of, PartitionsOf&& partitions_of, IndexOf&& index_of) {
  for (auto& t : topics) {
    const TopicImage* topic = nullptr;
    bool looked_up = false;
    for (auto& p : partitions_of(t)) {
      if (p.error_code != code(ErrorCode::kNotLeaderOrFollower)) continue;
      if (!looked_up) {
        topic = topic_of(t);
        looked_up = true;
      }
      const LeaderHint hint = current_leader(image, topic, index_of(p));
      p.current_leader.leader_id = hint.leader_id;
      p.current_leader.leader_epoch = hint.leader_epoch;
      if (hint.node == nullptr) continue;
      auto at = std::find_if(endpoints.begin(), endpoints.end(),
                             [&](const auto& e) { return e.node_id >= hint.leader_id; });
      if (at != endpoints.end() && at->node_id == hint.leader_id) continue;
      const AdvertisedAddress address = advertised_endpoint(ctx, req, *hint.node);
      auto e = endpoints.emplace(at);
      e->node_id = hint.node->id;
      e->host = address.host;
      e->port = address.port;
      if (hint.node->rack) e->rack = *hint.node->rack;
    }
  }
}

// True (and the caller answers NOT_COORDINATOR) when the image names
// another broker, or none, as the coordinator of `key`.
bool not_coordinator(HandlerContext& ctx, CoordinatorType type, std::string_view key);
// The group requests' guard: NOT_COORDINATOR as above, or
// COORDINATOR_LOAD_IN_PROGRESS while this broker, the group's new
// coordinator, still loads the group's partition (coordinator_log.h);
// kNone: go ahead.
ErrorCode group_coordinator_error(HandlerContext& ctx, std::string_view group_id);
// Proxy mode (issue 17): the group lives on the legacy cluster, and its
// requests go to the legacy coordinator (src/proxy/group_forward.h). The
// rule: in proxy mode every group lives upstream unless this node already
// has it (a group its coordinator knows, committed offsets here, or a
// group moved here, src/proxy/group_move.h): groups stay on the legacy
// cluster until their next rebalance after all their topics moved to kgw
// (joins_to_kgw()). A group being moved is not upstream:
// group_coordinator_error() answers it COORDINATOR_LOAD_IN_PROGRESS.
// False outside proxy mode.
bool group_upstream(HandlerContext& ctx, std::string_view group_id);
// Proxy mode: a JoinGroup that may move its group to kgw (the topics it
// subscribes to, all kgw's; nullopt: it stays), and the move
// (src/broker/handlers/group_move.cc): `done` hears (kNone, true) once the
// group lives here, (kNone, false) if it stays on the legacy cluster, or
// the error the JoinGroup answers.
std::optional<std::set<std::string>> joins_to_kgw(HandlerContext& ctx,
                                                  const JoinGroupRequest& body);
void move_group(HandlerContext& ctx, const std::string& group, std::set<std::string> topics,
                std::function<void(ErrorCode, bool moved)> done);
// The same for a transactional id: in proxy mode it lives upstream unless
// this node's transaction coordinator knows it. Its transactions may
// write to kgw's own topics too: those partitions (and kgw's groups) are
// kgw's to end when the legacy coordinator has decided
// (src/proxy/upstream_txns.h). False outside proxy mode.
bool txn_upstream(HandlerContext& ctx, std::string_view transactional_id);
// Whether a topic's log is kgw's own (no migration, or one past its
// cutover), as opposed to a copy the mirror writes: what
// TransactionCoordinator::end_upstream_txn() may mark. Uses the image as
// it is now.
std::function<bool(const Uuid& topic)> own_topics(HandlerContext& ctx);

}  // namespace kgw
