// Moving a consumer group's coordination from the legacy cluster to kgw
// (issue 17; the shared state: src/proxy/group_move.h).
//
// When: a JoinGroup of a group that lives upstream (group_upstream()),
// of protocol type "consumer", whose every protocol's subscription names
// only topics kgw owns (in its image with kgw.migration.state local): the
// group's next rebalance once its last topic was cut over.
//
// How: the group is marked moving (its requests are answered
// COORDINATOR_LOAD_IN_PROGRESS) -> the legacy group's members are asked
// for (DescribeGroups): one that subscribes to a topic kgw does not own
// keeps the group there (the JoinGroup is forwarded as before) -> the
// OffsetCommit / TxnOffsetCommit requests the group forwarded to the
// legacy coordinator are awaited -> its committed offsets of the
// subscribed topics are read there (OffsetFetch) -> written here as a
// simple commit (generation -1; durable, and replicated in a cluster) ->
// moved: the JoinGroup runs here and the group lives here. Offsets the
// legacy group holds for topics no member subscribes to stay there.
// The legacy group is left as it is: its members time out there and its
// offsets stay, the same numbers, as a fallback.
//
// The group's other members, still in the legacy generation, hear
// UNKNOWN_MEMBER_ID from kgw's coordinator on their next Heartbeat,
// SyncGroup or OffsetCommit and join here: one rebalance, as a
// coordinator move in Kafka causes. A commit of the old generation sent
// after the copy is refused (UNKNOWN_MEMBER_ID), as any commit across a
// rebalance: the new owner resumes at the copied offset, nothing skipped.
//
// Failure modes: the legacy coordinator unreachable or answering the
// OffsetFetch with an error, or the local write failing: the move ends,
// the group stays upstream, and the JoinGroup answers the error
// (COORDINATOR_NOT_AVAILABLE, retriable); the next JoinGroup tries again.
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/cluster/metadata_log.h"
#include "src/group/consumer_protocol.h"
#include "src/group/offset_manager.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

namespace {

// The topics `metadata` (a "consumer" subscription) names, if kgw owns
// them all; nullopt otherwise (or if it is not a subscription).
std::optional<std::set<std::string>> owned_topics(const MetadataImage& image, Bytes metadata) {
  auto topics = parse_subscription_topics(
      std::string_view(reinterpret_cast<const char*>(metadata.data()), metadata.size()));
  if (!topics || topics->empty()) return std::nullopt;
  for (const std::string& t : *topics) {
    const TopicPtr topic = image.topic(t);
    if (topic == nullptr ||
        PartitionResolver::migration_state(topic->configs) != PartitionResolver::kLocal) {
      return std::nullopt;
    }
  }
  return topics;
}

struct Move {
  HandlerContext* ctx = nullptr;
  std::string group;
  std::set<std::string> topics;  // every member's subscription
  std::function<void(ErrorCode, bool moved)> done;

  void finish(ErrorCode e, bool moved, const std::string& why) {
    if (moved) {
      LOG_INFO("proxy", "group %s moved to kgw: %s", group.c_str(), why.c_str());
    } else if (e == ErrorCode::kNone) {
      LOG_INFO("proxy", "group %s stays on the legacy cluster: %s", group.c_str(), why.c_str());
    } else {
      LOG_WARN("proxy",
               "group %s stays on the legacy cluster for now: %s (its next JoinGroup tries "
               "again)",
               group.c_str(), why.c_str());
    }
    ctx->upstream()->group_moves().end(group, moved);
    done(e, moved);
  }
};

// Step 3: the offsets of the subscribed topics, read at the legacy
// coordinator once no forwarded commit is unanswered, stored here.
void copy_offsets(std::shared_ptr<Move> m) {
  HandlerContext& ctx = *m->ctx;
  const ImagePtr image = ctx.metadata().image();
  // The request's views point into `m`, which the callback keeps.
  OffsetFetchRequest fetch;
  fetch.group_id = m->group;
  fetch.topics.emplace();
  for (const std::string& name : m->topics) {
    const TopicPtr topic = image->topic(name);
    auto& t = fetch.topics->emplace_back();
    t.name = name;
    for (std::int32_t i = 0; topic != nullptr && i < topic->partition_count(); ++i) {
      t.partition_indexes.push_back(i);
    }
  }
  // v1 at least: v0 reads the offsets a legacy broker keeps in ZooKeeper.
  forward_to_group_coordinator<OffsetFetchRequest, OffsetFetchResponse>(
      *ctx.upstream(), m->group, std::move(fetch), 1, 7,
      [m](ErrorCode e, const OffsetFetchResponse& r) {
        if (e == ErrorCode::kNone && r.error_code != 0) e = static_cast<ErrorCode>(r.error_code);
        if (e != ErrorCode::kNone) {
          return m->finish(
              ErrorCode::kCoordinatorNotAvailable, false,
              std::string("the legacy coordinator's OffsetFetch failed: ") + error_name(e));
        }
        CommitArgs args;
        args.group_id = m->group;
        for (const auto& t : r.topics) {
          for (const auto& p : t.partitions) {
            if (p.error_code != 0 || p.committed_offset < 0) continue;
            CommitPartition cp;
            cp.topic = std::string(t.name);
            cp.partition = p.partition_index;
            cp.offset = p.committed_offset;
            cp.leader_epoch = p.committed_leader_epoch;
            if (p.metadata) cp.metadata = std::string(*p.metadata);
            args.partitions.push_back(std::move(cp));
          }
        }
        const std::size_t n = args.partitions.size();
        if (n == 0) return m->finish(ErrorCode::kNone, true, "no committed offsets to copy");
        m->ctx->offsets().commit_offsets(
            std::move(args), [m, n](const std::vector<ErrorCode>& errors) {
              for (ErrorCode pe : errors) {
                if (pe != ErrorCode::kNone) {
                  return m->finish(
                      ErrorCode::kCoordinatorNotAvailable, false,
                      std::string("storing its offsets here failed: ") + error_name(pe));
                }
              }
              m->finish(ErrorCode::kNone, true,
                        std::to_string(n) + " committed offset(s) copied, the same numbers");
            });
      });
}

}  // namespace

std::optional<std::set<std::string>> joins_to_kgw(HandlerContext& ctx,
                                                  const JoinGroupRequest& body) {
  if (ctx.upstream() == nullptr || body.protocol_type != kConsumerProtocolType ||
      body.protocols.empty()) {
    return std::nullopt;
  }
  const ImagePtr image = ctx.metadata().image();
  std::set<std::string> all;
  for (const auto& p : body.protocols) {
    auto topics = owned_topics(*image, p.metadata);
    if (!topics) return std::nullopt;
    all.merge(*topics);
  }
  return all;
}

void move_group(HandlerContext& ctx, const std::string& group, std::set<std::string> topics,
                std::function<void(ErrorCode, bool moved)> done) {
  GroupMoves& moves = ctx.upstream()->group_moves();
  if (!moves.begin(group)) return done(ErrorCode::kCoordinatorLoadInProgress, false);
  auto m = std::make_shared<Move>();
  m->ctx = &ctx;
  m->group = group;
  m->topics = std::move(topics);
  m->done = std::move(done);
  // Step 2: the legacy group's other members must consume only kgw's
  // topics too (a legacy broker without DescribeGroups: the joining
  // member's subscription decides).
  DescribeGroupsRequest describe;
  describe.groups.push_back(m->group);
  forward_to_group_coordinator<DescribeGroupsRequest, DescribeGroupsResponse>(
      *ctx.upstream(), m->group, std::move(describe), DescribeGroupsRequest::min_version, 4,
      [m](ErrorCode e, const DescribeGroupsResponse& r) {
        if (e == ErrorCode::kNone && !r.groups.empty() && r.groups.front().error_code != 0) {
          e = static_cast<ErrorCode>(r.groups.front().error_code);
        }
        if (e != ErrorCode::kNone && e != ErrorCode::kUnsupportedVersion) {
          return m->finish(
              ErrorCode::kCoordinatorNotAvailable, false,
              std::string("the legacy coordinator's DescribeGroups failed: ") + error_name(e));
        }
        if (e == ErrorCode::kNone && !r.groups.empty()) {
          const auto& g = r.groups.front();
          const ImagePtr image = m->ctx->metadata().image();
          for (const auto& member : g.members) {
            auto topics = g.protocol_type == kConsumerProtocolType
                              ? owned_topics(*image, member.member_metadata)
                              : std::nullopt;
            if (!topics) {
              return m->finish(ErrorCode::kNone, false,
                               "member " + std::string(member.member_id) +
                                   " consumes topics the legacy cluster still serves");
            }
            m->topics.merge(*topics);
          }
        }
        LOG_INFO("proxy",
                 "group %s consumes only topics kgw owns: moving it from the legacy cluster to "
                 "kgw",
                 m->group.c_str());
        m->ctx->upstream()->group_moves().when_commits_answered(m->group, [m] { copy_offsets(m); });
      });
}

}  // namespace kgw
