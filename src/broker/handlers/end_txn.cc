// EndTxn (key 26): commit or abort. The answer goes out once every
// partition of the transaction has its marker and the group offsets are
// visible (or dropped), so a read_committed consumer sees the outcome as
// soon as the producer does. Proxy mode: a transaction the legacy cluster
// coordinates is decided there, and kgw then marks its own partitions.
#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_end_txn(HandlerContext& ctx, RequestPtr req) {
  EndTxnRequest body;
  if (!ctx.decode(*req, body)) return;
  if (txn_upstream(ctx, body.transactional_id)) {
    // The legacy coordinator decides; kgw then marks its own partitions
    // (and groups) the transaction wrote to, which the legacy coordinator
    // never heard of (add_partitions_to_txn.cc). A transaction with only
    // those is no transaction there: the legacy coordinator answers
    // INVALID_TXN_STATE (nothing open) and kgw alone ends it.
    const std::int64_t producer_id = body.producer_id;
    const std::int16_t epoch = body.producer_epoch;
    const bool commit = body.committed;
    forward_to_coordinator<EndTxnRequest, EndTxnResponse>(
        *ctx.upstream(), KeyType::kTransaction, body.transactional_id, body,
        EndTxnRequest::min_version, req->version(),
        [&ctx, req, producer_id, epoch, commit, id = std::string(body.transactional_id)](
            ErrorCode e, const EndTxnResponse& r) {
          EndTxnResponse resp;
          resp.error_code = code(e);
          if (e == ErrorCode::kNone) resp = r;
          // INVALID_TXN_STATE: nothing open there. Decided all the same
          // when the transaction was kgw's alone, or when it is an abort
          // and kgw itself told the producer to wait with its partitions
          // (a cutover held them): the legacy coordinator never heard of
          // it, and aborting nothing is done (librdkafka makes that error
          // fatal otherwise).
          const bool decided =
              e == ErrorCode::kNone &&
              (r.error_code == 0 ||
               (r.error_code == code(ErrorCode::kInvalidTxnState) &&
                (ctx.upstream()->txns().has_here(id, producer_id) ||
                 ctx.txns().has_upstream_txn(producer_id, own_topics(ctx)) ||
                 (!commit && ctx.upstream()->txns().was_held_back(id, producer_id)))));
          // Ended there (or never open, or fenced: the legacy coordinator
          // aborts it); a retriable answer leaves it open.
          if (e == ErrorCode::kNone &&
              (r.error_code == 0 || r.error_code == code(ErrorCode::kInvalidTxnState) ||
               r.error_code == code(ErrorCode::kProducerFenced) ||
               r.error_code == code(ErrorCode::kInvalidProducerEpoch) ||
               r.error_code == code(ErrorCode::kInvalidProducerIdMapping))) {
            ctx.upstream()->txns().ended(id);
          }
          if (!decided) return ctx.respond(*req, resp);
          ctx.txns().end_upstream_txn(
              producer_id, epoch, commit, own_topics(ctx),
              [&ctx, req, resp, id, commit](std::size_t, const std::string& error) mutable {
                if (!error.empty()) {
                  // The legacy side is decided; the client's retry (the
                  // legacy coordinator answers a retry alike) marks the rest.
                  LOG_ERROR("txn",
                            "ending transaction %s here (%s, decided by the legacy coordinator): "
                            "%s; the client's retry writes the rest",
                            id.c_str(), commit ? "commit" : "abort", error.c_str());
                  resp.error_code = code(ErrorCode::kCoordinatorNotAvailable);
                } else {
                  resp.error_code = 0;  // decided: a transaction kgw's alone, too
                }
                ctx.respond(*req, resp);
              });
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
