// ListTransactions (key 66): transactional ids known to the coordinator,
// filtered by state, producer id and (v1+) how long they have been open.
// Unknown state names are echoed in unknown_state_filters, as Kafka does.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_list_transactions(HandlerContext& ctx, RequestPtr req) {
  ListTransactionsRequest body;
  if (!ctx.decode(*req, body)) return;
  ListTransactionsResponse resp;
  std::vector<TxnState> states;
  for (std::string_view s : body.state_filters) {
    if (auto st = parse_txn_state(s)) {
      states.push_back(*st);
    } else {
      resp.unknown_state_filters.push_back(s);
    }
  }
  // Only unknown states asked for: nothing can match.
  const bool none = !body.state_filters.empty() && states.empty();
  std::vector<TransactionDescription> listed;
  if (!none) listed = ctx.txns().list(states, body.producer_id_filters, body.duration_filter);
  for (const auto& d : listed) {
    auto& out = resp.transaction_states.emplace_back();
    out.transactional_id = d.transactional_id;
    out.producer_id = d.producer_id;
    out.transaction_state = d.state;
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
