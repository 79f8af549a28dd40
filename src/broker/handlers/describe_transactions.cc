// DescribeTransactions (key 65): the coordinator's state of transactional
// ids (kafka-transactions.sh describe); TRANSACTIONAL_ID_NOT_FOUND for
// unknown ones.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

void handle_describe_transactions(HandlerContext& ctx, RequestPtr req) {
  DescribeTransactionsRequest body;
  if (!ctx.decode(*req, body)) return;
  std::vector<std::string> ids(body.transactional_ids.begin(), body.transactional_ids.end());
  std::vector<TransactionDescription> described = ctx.txns().describe(ids);
  // Another broker's transactional ids: NOT_COORDINATOR, as Kafka.
  for (std::size_t i = 0; i < described.size() && i < ids.size(); ++i) {
    if (not_coordinator(ctx, CoordinatorType::kTransaction, ids[i])) {
      TransactionDescription d;
      d.error = ErrorCode::kNotCoordinator;
      d.transactional_id = ids[i];
      described[i] = std::move(d);
    }
  }
  DescribeTransactionsResponse resp;
  for (const auto& d : described) {
    auto& out = resp.transaction_states.emplace_back();
    out.error_code = code(d.error);
    out.transactional_id = d.transactional_id;
    out.transaction_state = d.state;
    out.transaction_timeout_ms = d.timeout_ms;
    out.transaction_start_time_ms = d.start_ms;
    out.producer_id = d.producer_id;
    out.producer_epoch = d.epoch;
    for (const auto& [topic, partition] : d.partitions) {
      if (out.topics.empty() || out.topics.back().topic != topic) {
        out.topics.emplace_back().topic = topic;
      }
      out.topics.back().partitions.push_back(partition);
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
