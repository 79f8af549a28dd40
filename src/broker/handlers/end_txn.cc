// EndTxn (key 26): commit or abort. The answer goes out once every
// partition of the transaction has its marker and the group offsets are
// visible (or dropped), so a read_committed consumer sees the outcome as
// soon as the producer does.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_end_txn(HandlerContext& ctx, RequestPtr req) {
  EndTxnRequest body;
  if (!ctx.decode(*req, body)) return;
  if (txn_upstream(ctx, body.transactional_id)) {
    forward_to_coordinator<EndTxnRequest, EndTxnResponse>(
        *ctx.upstream(), KeyType::kTransaction, body.transactional_id, body,
        EndTxnRequest::min_version, req->version(),
        [&ctx, req](ErrorCode e, const EndTxnResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          EndTxnResponse resp;
          resp.error_code = code(e);
          ctx.respond(*req, resp);
        });
    return;
  }
  if (not_coordinator(ctx, CoordinatorType::kTransaction, body.transactional_id)) {
    EndTxnResponse resp;
    resp.error_code = code(ErrorCode::kNotCoordinator);
    ctx.respond(*req, resp);
    return;
  }
  ctx.txns().end_txn(std::string(body.transactional_id), body.producer_id, body.producer_epoch,
                     body.committed, [&ctx, req](ErrorCode e) {
                       EndTxnResponse resp;
                       resp.error_code = code(fenced_for_version(e, req->version(), 2));
                       ctx.respond(*req, resp);
                     });
}

}  // namespace kgw
