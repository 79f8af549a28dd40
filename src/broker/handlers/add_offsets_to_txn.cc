// AddOffsetsToTxn (key 25): a consumer group's offsets join a producer's
// transaction (consume-transform-produce); TxnOffsetCommit follows.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_add_offsets_to_txn(HandlerContext& ctx, RequestPtr req) {
  AddOffsetsToTxnRequest body;
  if (!ctx.decode(*req, body)) return;
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
