#include "src/broker/handlers/cluster_hints.h"

#include "src/cluster/metadata_log.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

LeaderHint current_leader(const MetadataImage& image, const TopicImage* topic,
                          std::int32_t partition) {
  LeaderHint hint;
  const PartitionImage* p = topic != nullptr ? topic->partition(partition) : nullptr;
  if (p == nullptr) return hint;
  hint.leader_id = p->leader;
  hint.leader_epoch = p->leader_epoch;
  const BrokerImage* b = image.broker(p->leader);
  if (b != nullptr && !b->fenced) hint.node = b;
  return hint;
}

ErrorCode group_coordinator_error(HandlerContext& ctx, std::string_view group_id) {
  if (not_coordinator(ctx, CoordinatorType::kGroup, group_id)) return ErrorCode::kNotCoordinator;
  if (ctx.upstream() != nullptr && ctx.upstream()->group_moves().moving(group_id)) {
    return ErrorCode::kCoordinatorLoadInProgress;  // moving here from the legacy cluster
  }
  if (ctx.groups().loading(group_id)) return ErrorCode::kCoordinatorLoadInProgress;
  return ErrorCode::kNone;
}

bool group_upstream(HandlerContext& ctx, std::string_view group_id) {
  if (ctx.upstream() == nullptr) return false;
  const GroupMoves& moves = ctx.upstream()->group_moves();
  if (moves.moving(group_id) || moves.moved(group_id)) return false;
  const std::string id(group_id);
  if (ctx.groups().describe(id).state != "Dead") return false;
  return ctx.offsets().fetch_offsets(id, std::nullopt, false).partitions.empty();
}

bool txn_upstream(HandlerContext& ctx, std::string_view transactional_id) {
  if (ctx.upstream() == nullptr || transactional_id.empty()) return false;
  const auto d = ctx.txns().describe({std::string(transactional_id)});
  return d.empty() || d.front().error == ErrorCode::kTransactionalIdNotFound;
}

std::function<bool(const Uuid& topic)> own_topics(HandlerContext& ctx) {
  return [image = ctx.metadata().image()](const Uuid& id) {
    const TopicPtr t = image->topic(id);
    return t != nullptr &&
           PartitionResolver::served_here(PartitionResolver::migration_state(t->configs));
  };
}

bool not_coordinator(HandlerContext& ctx, CoordinatorType type, std::string_view key) {
  const ImagePtr image = ctx.metadata().image();
  return !coordinates_here(*image, type, key, ctx.identity().node_id);
}

}  // namespace kgw
