// AddPartitionsToTxn (key 24): partitions join a producer's transaction
// before it writes to them. v0-3 (clients): one transaction; partitions of
// unknown topics get UNKNOWN_TOPIC_OR_PARTITION and then every other
// partition OPERATION_NOT_ATTEMPTED, as Kafka answers. v4+ (brokers): a
// batch of transactions, each either added or, with verify_only, checked.
// Proxy mode: for a transactional id the legacy cluster coordinates, kgw's
// own topics' partitions stay kgw's (src/proxy/upstream_txns.h) and only
// the legacy topics' are forwarded.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
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

// Appends `topics`' partitions to `results`, each with `e`.
void add_results(TopicResults& results, const Topics& topics, ErrorCode e) {
  for (const auto& t : topics) {
    auto& tr = results.emplace_back();
    tr.name = t.name;
    for (std::int32_t p : t.partitions) {
      auto& pr = tr.results_by_partition.emplace_back();
      pr.partition_index = p;
      pr.partition_error_code = code(e);
    }
  }
}

// Proxy mode, where a topic's partitions join a transaction the legacy
// cluster coordinates (src/proxy/upstream_txns.h).
enum class Place : std::uint8_t {
  kUpstream,  // the legacy cluster's topic: its coordinator adds them
  kLocal,     // kgw's own (a migrated topic after its cutover too)
  kFenced,    // in a cutover, or a rollback: no transaction may add it now
};

Place place_of(HandlerContext& ctx, std::string_view name) {
  const TopicPtr t = ctx.metadata().image()->topic(name);
  if (t == nullptr) return Place::kUpstream;
  const std::string_view state = PartitionResolver::migration_state(t->configs);
  if (state == PartitionResolver::kCutover || state == PartitionResolver::kRollback) {
    return Place::kFenced;
  }
  return PartitionResolver::served_here(state) ? Place::kLocal : Place::kUpstream;
}

// AddPartitionsToTxn v0-3 for a transactional id that lives upstream.
// Partitions of kgw's topics are kgw's to mark when the transaction ends
// (end_txn.cc): checked here and answered, never sent to the legacy
// coordinator, whose markers would land in the legacy copy. The others
// are forwarded; the answers are merged. A topic in a cutover makes the
// whole request CONCURRENT_TRANSACTIONS (the client retries it; the
// cutover waits for open transactions to end, not for new ones), unless
// the transaction is one of those open on it.
void add_upstream_txn_partitions(HandlerContext& ctx, const RequestPtr& req,
                                 const std::shared_ptr<AddPartitionsToTxnRequest>& body) {
  auto resp = std::make_shared<AddPartitionsToTxnResponse>();
  auto forwarded = std::make_shared<AddPartitionsToTxnRequest>(*body);
  forwarded->v3_and_below_topics.clear();
  Topics local;
  bool fenced = false;
  for (const auto& t : body->v3_and_below_topics) {
    switch (place_of(ctx, t.name)) {
      case Place::kUpstream:
        forwarded->v3_and_below_topics.push_back(t);
        break;
      case Place::kLocal:
        local.push_back(t);
        break;
      case Place::kFenced:
        // The transaction already open on the topic may add more of its
        // partitions (librdkafka adds them as it produces to them), so
        // that it can end; a new one waits.
        if (ctx.upstream()->txns().producer_open_on(body->v3_and_below_producer_id, t.name)) {
          forwarded->v3_and_below_topics.push_back(t);
        } else {
          fenced = true;
        }
        break;
    }
  }
  if (fenced) {
    check_topics(ctx.resolver(), body->v3_and_below_topics, resp->results_by_topic_v3_and_below);
    set_all(resp->results_by_topic_v3_and_below, ErrorCode::kConcurrentTransactions);
    ctx.upstream()->txns().held_back(body->v3_and_below_transactional_id,
                                     body->v3_and_below_producer_id);
    ctx.respond(*req, *resp);
    return;
  }
  // kgw's topics: existence only (Kafka's partition check); an unknown
  // one fails the request as Kafka does, before anything is forwarded.
  if (!local.empty() &&
      check_topics(ctx.resolver(), local, resp->results_by_topic_v3_and_below).empty()) {
    add_results(resp->results_by_topic_v3_and_below, forwarded->v3_and_below_topics,
                ErrorCode::kOperationNotAttempted);
    ctx.respond(*req, *resp);
    return;
  }
  if (!local.empty()) {
    ctx.upstream()->txns().added_here(body->v3_and_below_transactional_id,
                                      body->v3_and_below_producer_id,
                                      body->v3_and_below_producer_epoch);
  }
  if (forwarded->v3_and_below_topics.empty()) {
    ctx.respond(*req, *resp);
    return;
  }
  std::vector<std::string> names;
  for (const auto& t : forwarded->v3_and_below_topics) names.emplace_back(t.name);
  ctx.upstream()->txns().added(body->v3_and_below_transactional_id, body->v3_and_below_producer_id,
                               names);
  forward_to_coordinator<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(
      *ctx.upstream(), KeyType::kTransaction, body->v3_and_below_transactional_id, *forwarded,
      AddPartitionsToTxnRequest::min_version, req->version(),
      [&ctx, req, forwarded, resp](ErrorCode e, const AddPartitionsToTxnResponse& r) {
        auto& results = resp->results_by_topic_v3_and_below;
        const std::size_t first = results.size();
        // Each forwarded partition gets the legacy answer's error, matched
        // by name (the answer's views live during this callback only; the
        // names are the request's, kept by `forwarded`).
        add_results(results, forwarded->v3_and_below_topics,
                    e == ErrorCode::kNone ? ErrorCode::kUnknownServerError : e);
        if (e == ErrorCode::kNone) {
          resp->throttle_time_ms = r.throttle_time_ms;
          for (std::size_t i = first; i < results.size(); ++i) {
            for (const auto& rt : r.results_by_topic_v3_and_below) {
              if (rt.name != results[i].name) continue;
              for (auto& pr : results[i].results_by_partition) {
                for (const auto& rp : rt.results_by_partition) {
                  if (rp.partition_index == pr.partition_index)
                    pr.partition_error_code = rp.partition_error_code;
                }
              }
            }
          }
        }
        ctx.respond(*req, *resp);
      });
}

}  // namespace

void handle_add_partitions_to_txn(HandlerContext& ctx, RequestPtr req) {
  auto body = std::make_shared<AddPartitionsToTxnRequest>();
  if (!ctx.decode(*req, *body)) return;
  auto resp = std::make_shared<AddPartitionsToTxnResponse>();
  const std::int16_t version = req->version();
  if (version < 4 && txn_upstream(ctx, body->v3_and_below_transactional_id)) {
    add_upstream_txn_partitions(ctx, req, body);
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
