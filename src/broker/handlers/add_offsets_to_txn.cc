// AddOffsetsToTxn (key 25): a consumer group's offsets join a producer's
// transaction (consume-transform-produce); TxnOffsetCommit follows.
// Proxy mode: a transactional id that lives upstream is forwarded to its
// legacy coordinator, unless the group is kgw's (then kgw ends the
// group's part itself, end_txn.cc).
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_add_offsets_to_txn(HandlerContext& ctx, RequestPtr req) {
  AddOffsetsToTxnRequest body;
  if (!ctx.decode(*req, body)) return;
  if (txn_upstream(ctx, body.transactional_id) && !group_upstream(ctx, body.group_id)) {
    // A group kgw coordinates, in a transaction the legacy cluster
    // coordinates: the group's TxnOffsetCommit is held here, and kgw
    // completes it when the legacy EndTxn answers (end_txn.cc), as it
    // marks its own partitions. The legacy coordinator never hears of it.
    ctx.upstream()->txns().added_here(body.transactional_id, body.producer_id, body.producer_epoch);
    AddOffsetsToTxnResponse resp;
    ctx.respond(*req, resp);
    return;
  }
  if (txn_upstream(ctx, body.transactional_id)) {
    forward_to_coordinator<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>(
        *ctx.upstream(), KeyType::kTransaction, body.transactional_id, body,
        AddOffsetsToTxnRequest::min_version, req->version(),
        [&ctx, req](ErrorCode e, const AddOffsetsToTxnResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          AddOffsetsToTxnResponse resp;
          resp.error_code = code(e);
          ctx.respond(*req, resp);
        });
    return;
  }
  if (not_coordinator(ctx, CoordinatorType::kTransaction, body.transactional_id)) {
    AddOffsetsToTxnResponse resp;
    resp.error_code = code(ErrorCode::kNotCoordinator);
    ctx.respond(*req, resp);
    return;
  }
  ctx.txns().add_offsets(std::string(body.transactional_id), body.producer_id, body.producer_epoch,
                         std::string(body.group_id), [&ctx, req](ErrorCode e) {
                           AddOffsetsToTxnResponse resp;
                           resp.error_code = code(fenced_for_version(e, req->version(), 2));
                           ctx.respond(*req, resp);
                         });
}

}  // namespace kgw
