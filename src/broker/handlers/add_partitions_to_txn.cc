// AddPartitionsToTxn (key 24): partitions join a producer's transaction
// before it writes to them. v0-3 (clients): one transaction; partitions of
// unknown topics get UNKNOWN_TOPIC_OR_PARTITION and then every other
// partition OPERATION_NOT_ATTEMPTED, as Kafka answers. v4+ (brokers): a
// batch of transactions, each either added or, with verify_only, checked.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/proxy/group_forward.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

namespace {

using Topics = std::vector<AddPartitionsToTxnRequest::AddPartitionsToTxnTopic>;
using TopicResults = std::vector<AddPartitionsToTxnResponse::AddPartitionsToTxnTopicResult>;

// Fills `results` with `error` for every partition; returns the partitions
// that exist (or, when some do not, marks those UNKNOWN_TOPIC_OR_PARTITION,
// the rest OPERATION_NOT_ATTEMPTED, and returns none).
std::vector<std::pair<std::string, std::int32_t>> check_topics(const PartitionResolver& resolver,
                                                               const Topics& topics,
                                                               TopicResults& results) {
  std::vector<std::pair<std::string, std::int32_t>> wanted;
  bool unknown = false;
  for (const auto& t : topics) {
    auto& tr = results.emplace_back();
    tr.name = t.name;
    const TopicInfo* topic = resolver.topic(TopicKey::by_name(t.name));
    for (std::int32_t p : t.partitions) {
      auto& pr = tr.results_by_partition.emplace_back();
      pr.partition_index = p;
      if (const ErrorCode e = PartitionResolver::exists(topic, p); e != ErrorCode::kNone) {
        pr.partition_error_code = code(e);
        unknown = true;
      } else {
        wanted.emplace_back(std::string(t.name), p);
      }
    }
  }
  if (!unknown) return wanted;
  for (auto& tr : results) {
    for (auto& pr : tr.results_by_partition) {
      if (pr.partition_error_code == 0)
        pr.partition_error_code = code(ErrorCode::kOperationNotAttempted);
    }
  }
  return {};
}

void set_all(TopicResults& results, ErrorCode e) {
  for (auto& tr : results) {
    for (auto& pr : tr.results_by_partition) pr.partition_error_code = code(e);
  }
}

}  // namespace

void handle_add_partitions_to_txn(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<AddPartitionsToTxnRequest>();
  if (!ctx.decode(*req, *body)) return;
  auto resp = std::make_shared<AddPartitionsToTxnResponse>();
  const std::int16_t version = req->version();
  if (version < 4 && txn_upstream(ctx, body->v3_and_below_transactional_id)) {
    forward_to_coordinator<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(
        *ctx.upstream(), KeyType::kTransaction, body->v3_and_below_transactional_id, *body,
        AddPartitionsToTxnRequest::min_version, version,
        [&ctx, req, body, resp](ErrorCode e, const AddPartitionsToTxnResponse& r) {
          if (e == ErrorCode::kNone) return ctx.respond(*req, r);
          for (const auto& t : body->v3_and_below_topics) {
            auto& tr = resp->results_by_topic_v3_and_below.emplace_back();
            tr.name = t.name;
            for (std::int32_t p : t.partitions) {
              auto& pr = tr.results_by_partition.emplace_back();
              pr.partition_index = p;
              pr.partition_error_code = code(e);
            }
          }
          ctx.respond(*req, *resp);
        });
    return;
  }
  if (version < 4) {
    auto wanted = check_topics(ctx.resolver(), body->v3_and_below_topics,
                               resp->results_by_topic_v3_and_below);
    if (!wanted.empty() &&
        not_coordinator(ctx, CoordinatorType::kTransaction, body->v3_and_below_transactional_id)) {
      set_all(resp->results_by_topic_v3_and_below, ErrorCode::kNotCoordinator);
      wanted.clear();
    }
    if (wanted.empty()) {
      ctx.respond(*req, *resp);
      return;
    }
    ctx.txns().add_partitions(std::string(body->v3_and_below_transactional_id),
                              body->v3_and_below_producer_id, body->v3_and_below_producer_epoch,
                              std::move(wanted), [&ctx, req, body, resp, version](ErrorCode e) {
                                set_all(resp->results_by_topic_v3_and_below,
                                        fenced_for_version(e, version, 2));
                                ctx.respond(*req, *resp);
                              });
    return;
  }
  // v4+: each transaction on its own; answer when all are done.
  auto pending = std::make_shared<std::size_t>(1);
  auto finish = [&ctx, req, body, resp, pending] {
    if (--*pending == 0) ctx.respond(*req, *resp);
  };
  resp->results_by_transaction.resize(body->transactions.size());
  for (std::size_t i = 0; i < body->transactions.size(); ++i) {
    const auto& t = body->transactions[i];
    auto& out = resp->results_by_transaction[i];
    out.transactional_id = t.transactional_id;
    auto wanted = check_topics(ctx.resolver(), t.topics, out.topic_results);
    if (wanted.empty()) continue;
    if (not_coordinator(ctx, CoordinatorType::kTransaction, t.transactional_id)) {
      set_all(out.topic_results, ErrorCode::kNotCoordinator);
      continue;
    }
    if (t.verify_only) {
      set_all(out.topic_results,
              ctx.txns().verify_partitions(std::string(t.transactional_id), t.producer_id,
                                           t.producer_epoch, wanted));
      continue;
    }
    ++*pending;
    ctx.txns().add_partitions(std::string(t.transactional_id), t.producer_id, t.producer_epoch,
                              std::move(wanted), [resp, i, finish](ErrorCode e) {
                                set_all(resp->results_by_transaction[i].topic_results, e);
                                finish();
                              });
  }
  finish();
}

}  // namespace kgw
