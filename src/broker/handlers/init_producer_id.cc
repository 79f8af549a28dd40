// InitProducerId (key 22): a producer id and epoch for an idempotent
// producer (always a new id) or a transactional one (its id, epoch bumped,
// older producers fenced; an open transaction is aborted first and the
// client told to retry with CONCURRENT_TRANSACTIONS). Errors:
// INVALID_TRANSACTION_TIMEOUT (above transaction.max.timeout.ms),
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4), as Kafka. Proxy
// mode: a transactional id the legacy cluster coordinates gets its id and
// epoch there, and kgw aborts what its previous transaction wrote to
// kgw's own topics.
#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_init_producer_id(HandlerContext& ctx, RequestPtr req) {
  InitProducerIdRequest body;
  if (!ctx.decode(*req, body)) return;
  if (body.transactional_id && txn_upstream(ctx, *body.transactional_id)) {
    // KIP-360's bump of a known producer (v3+) needs v3 there too.
    const std::int16_t min_version = body.producer_id >= 0 ? 3 : InitProducerIdRequest::min_version;
    ctx.upstream()->txns().timeout(*body.transactional_id, body.transaction_timeout_ms);
    forward_to_coordinator<InitProducerIdRequest, InitProducerIdResponse>(
        *ctx.upstream(), KeyType::kTransaction, *body.transactional_id, body, min_version,
        req->version(),
        [&ctx, req, id = std::string(*body.transactional_id)](ErrorCode e,
                                                              const InitProducerIdResponse& r) {
          if (e != ErrorCode::kNone) {
            InitProducerIdResponse resp;
            resp.error_code = code(e);
            resp.producer_id = -1;
            resp.producer_epoch = -1;
            return ctx.respond(*req, resp);
          }
          if (r.error_code != 0) return ctx.respond(*req, r);
          // The legacy coordinator aborted any transaction the id had open
          // and fenced its producer: kgw aborts what that transaction wrote
          // to kgw's own topics (add_partitions_to_txn.cc) before the new
          // producer may write, as Kafka's coordinator does.
          ctx.upstream()->txns().ended(id);
          InitProducerIdResponse resp = r;
          ctx.txns().end_upstream_txn(
              r.producer_id, r.producer_epoch, false, own_topics(ctx),
              [&ctx, req, resp, id](std::size_t, const std::string& error) mutable {
                if (!error.empty()) {
                  LOG_ERROR("txn",
                            "aborting transactional id %s's open transaction here: %s; "
                            "the producer's retry aborts the rest",
                            id.c_str(), error.c_str());
                  resp = InitProducerIdResponse{};
                  resp.error_code = code(ErrorCode::kCoordinatorNotAvailable);
                  resp.producer_id = -1;
                  resp.producer_epoch = -1;
                }
                ctx.respond(*req, resp);
              });
        });
    return;
  }
  if (ctx.upstream() != nullptr && (!body.transactional_id || body.transactional_id->empty())) {
    // Proxy mode: an idempotent producer's id comes from the legacy
    // cluster, so that it never collides there with the id of a producer
    // writing to it directly, and a migrated topic's producer state
    // (mirrored batches, issue 17) continues it here. KIP-360's bump of a
    // known producer (v3+) needs v3 there too.
    const std::int16_t min_version = body.producer_id >= 0 ? 3 : InitProducerIdRequest::min_version;
    send_to_any_broker(
        *ctx.upstream(), InitProducerIdRequest::api_key, min_version, req->version(),
        [body](Writer& w, std::int16_t v) { body.encode(w, v); },
        [&ctx, req](ErrorCode e, std::int16_t version, Bytes answer) {
          InitProducerIdResponse resp;
          if (e == ErrorCode::kNone) {
            Reader r(answer);
            if (resp.decode(r, version)) return ctx.respond(*req, resp);
            e = ErrorCode::kUnknownServerError;
          }
          resp = InitProducerIdResponse{};
          resp.error_code = code(e);
          resp.producer_id = -1;
          resp.producer_epoch = -1;
          ctx.respond(*req, resp);
        });
    return;
  }
  // Only a transactional producer has a coordinator; an idempotent one
  // gets its id from any broker.
  if (body.transactional_id && !body.transactional_id->empty() &&
      not_coordinator(ctx, CoordinatorType::kTransaction, *body.transactional_id)) {
    InitProducerIdResponse resp;
    resp.error_code = code(ErrorCode::kNotCoordinator);
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    ctx.respond(*req, resp);
    return;
  }
  std::optional<std::string> txn_id;
  if (body.transactional_id) txn_id = std::string(*body.transactional_id);
  ctx.txns().init_producer_id(txn_id, body.transaction_timeout_ms, body.producer_id,
                              body.producer_epoch, [&ctx, req](ProducerIdAndEpoch r) {
                                InitProducerIdResponse resp;
                                resp.error_code =
                                    code(fenced_for_version(r.error, req->version(), 4));
                                resp.producer_id = r.producer_id;
                                resp.producer_epoch = r.epoch;
                                ctx.respond(*req, resp);
                              });
}

}  // namespace kgw
