// InitProducerId (key 22): a producer id and epoch for an idempotent
// producer (always a new id) or a transactional one (its id, epoch bumped,
// older producers fenced; an open transaction is aborted first and the
// client told to retry with CONCURRENT_TRANSACTIONS). Errors:
// INVALID_TRANSACTION_TIMEOUT (above transaction.max.timeout.ms),
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4), as Kafka.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_init_producer_id(HandlerContext& ctx, RequestPtr req) {
  InitProducerIdRequest body;
  if (!ctx.decode(*req, body)) return;
  if (body.transactional_id && txn_upstream(ctx, *body.transactional_id)) {
    // KIP-360's bump of a known producer (v3+) needs v3 there too.
    const std::int16_t min_version = body.producer_id >= 0 ? 3 : InitProducerIdRequest::min_version;
    forward_to_coordinator<InitProducerIdRequest, InitProducerIdResponse>(
        *ctx.upstream(), KeyType::kTransaction, *body.transactional_id, body, min_version,
        req->version(), [&ctx, req](ErrorCode e, const InitProducerIdResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          InitProducerIdResponse resp;
          resp.error_code = code(e);
          resp.producer_id = -1;
          resp.producer_epoch = -1;
          ctx.respond(*req, resp);
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
