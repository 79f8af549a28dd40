// AddOffsetsToTxn (key 25): a consumer group's offsets join a producer's
// transaction (consume-transform-produce); TxnOffsetCommit follows.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_add_offsets_to_txn(Broker& broker, RequestPtr req) {
  AddOffsetsToTxnRequest body;
  if (!broker.decode(*req, body)) return;
  broker.txns().add_offsets(std::string(body.transactional_id), body.producer_id,
                            body.producer_epoch, std::string(body.group_id),
                            [&broker, req](ErrorCode e) {
                              AddOffsetsToTxnResponse resp;
                              resp.error_code = code(fenced_for_version(e, req->version(), 2));
                              broker.respond(*req, resp);
                            });
}

}  // namespace kgw
