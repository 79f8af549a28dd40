// TxnOffsetCommit (key 28): a group's offsets written inside a transaction;
// they become the committed offsets when it commits. The transaction
// coordinator checks the producer (PRODUCER_FENCED, INVALID_TXN_STATE when
// AddOffsetsToTxn did not come first), the group coordinator the member
// (v3+: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID).
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/offset_partitions.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_txn_offset_commit(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<TxnOffsetCommitRequest>();
  if (!ctx.decode(*req, *body)) return;
  auto resp = std::make_shared<TxnOffsetCommitResponse>();
  if (group_upstream(ctx, body->group_id)) {
    // The legacy group's coordinator checks the transaction with its own.
    // Below v3 the group's generation and member (KIP-447 fencing) are
    // dropped, as a client does with such a broker.
    const std::int16_t min_version = TxnOffsetCommitRequest::min_version;
    // A move of the group to kgw waits for this answer (group_move.h).
    ctx.upstream()->group_moves().commit_sent(std::string(body->group_id));
    forward_to_group_coordinator<TxnOffsetCommitRequest, TxnOffsetCommitResponse>(
        *ctx.upstream(), body->group_id, *body, min_version, req->version(),
        [&ctx, req, body, resp](ErrorCode e, const TxnOffsetCommitResponse& r) {
          ctx.upstream()->group_moves().commit_answered(std::string(body->group_id));
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          for (const auto& t : body->topics) {
            auto& to = resp->topics.emplace_back();
            to.name = t.name;
            for (const auto& p : t.partitions) {
              auto& po = to.partitions.emplace_back();
              po.partition_index = p.partition_index;
              po.error_code = code(e);
            }
          }
          ctx.respond(*req, *resp);
        });
    return;
  }
  // TxnOffsetCommit goes to the group's coordinator (Kafka's client sends
  // it there): another broker's group is NOT_COORDINATOR on every partition.
  const ErrorCode guard = group_coordinator_error(ctx, body->group_id);
  const ErrorCode txn_error =
      guard != ErrorCode::kNone
          ? guard
          : fenced_for_version(ctx.txns().check_offset_commit(
                                   std::string(body->transactional_id), body->producer_id,
                                   body->producer_epoch, std::string(body->group_id)),
                               req->version(), 2);
  TxnCommitArgs args;
  args.group_id = body->group_id;
  args.producer_id = body->producer_id;
  args.generation_id = body->generation_id;
  args.member_id = body->member_id;
  if (body->group_instance_id) args.group_instance_id = std::string(*body->group_instance_id);
  PartitionSlots slots =
      for_each_existing_partition(ctx.resolver(), body->topics, resp->topics, txn_error,
                                  [&](std::string_view topic, const auto& p) {
                                    args.partitions.push_back(commit_partition(topic, p));
                                  });
  if (args.partitions.empty()) {
    ctx.respond(*req, *resp);
    return;
  }
  ctx.offsets().commit_txn_offsets(std::move(args),
                                   answer_commit(ctx, req, body, resp, std::move(slots)));
}

}  // namespace kgw
