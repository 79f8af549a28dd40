#include "src/broker/upstream_txn_sweep.h"

#include <memory>
#include <string>

#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handler_context.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"
#include "src/txn/transaction_coordinator.h"

namespace kgw {

namespace {

// What the legacy coordinator's answer means for kgw's part.
enum class Verdict { kOpen, kCommit, kAbort, kAskAgain };

Verdict judge(ErrorCode e, const DescribeTransactionsResponse& r, const std::string& id,
              std::int64_t producer_id, std::int16_t epoch, std::int16_t& marker_epoch) {
  marker_epoch = epoch;
  if (e == ErrorCode::kUnsupportedVersion) return Verdict::kAbort;
  if (e != ErrorCode::kNone) return Verdict::kAskAgain;
  for (const auto& s : r.transaction_states) {
    if (s.transactional_id != id) continue;
    if (s.error_code == code(ErrorCode::kTransactionalIdNotFound)) return Verdict::kAbort;
    if (s.error_code != 0) return Verdict::kAskAgain;
    const bool same = s.producer_id == producer_id && s.producer_epoch == epoch;
    if (s.producer_id == producer_id && s.producer_epoch > epoch) {
      marker_epoch = s.producer_epoch;  // fenced by the legacy timeout's bump
    }
    if (same && s.transaction_state == "Ongoing") return Verdict::kOpen;
    if (same && (s.transaction_state == "PrepareCommit" || s.transaction_state == "CompleteCommit"))
      return Verdict::kCommit;
    if (same && s.transaction_state == "PrepareAbort") return Verdict::kAskAgain;
    return Verdict::kAbort;
  }
  return Verdict::kAskAgain;
}

}  // namespace

UpstreamTxnSweep::UpstreamTxnSweep(uv_loop_t* loop, HandlerContext& ctx,
                                   std::uint64_t sweep_interval_ms)
    : ctx_(ctx), interval_ms_(sweep_interval_ms), timers_(loop) {}

void UpstreamTxnSweep::start() {
  timers_.schedule(interval_ms_, [this] { sweep(); });
}

void UpstreamTxnSweep::stop() {
  stopped_ = true;
  timers_.stop();
}

void UpstreamTxnSweep::sweep() {
  if (stopped_) return;
  Upstream* upstream = ctx_.upstream();
  if (upstream != nullptr) {
    for (const UpstreamTxns::Overdue& o : upstream->txns().overdue_here()) {
      upstream->txns().checking(o.txn_id, true);
      DescribeTransactionsRequest req;
      auto id = std::make_shared<std::string>(o.txn_id);
      req.transactional_ids.push_back(*id);
      forward_to_coordinator<DescribeTransactionsRequest, DescribeTransactionsResponse>(
          *upstream, KeyType::kTransaction, *id, req, DescribeTransactionsRequest::min_version,
          DescribeTransactionsRequest::max_version,
          [this, upstream, id, o](ErrorCode e, const DescribeTransactionsResponse& r) {
            if (stopped_) return;
            upstream->txns().checking(*id, false);
            std::int16_t marker_epoch = o.epoch;
            const Verdict v = judge(e, r, *id, o.producer_id, o.epoch, marker_epoch);
            if (v == Verdict::kAskAgain) {
              forget_coordinator(*upstream, KeyType::kTransaction, *id);
              return;
            }
            if (v == Verdict::kOpen) return;
            // Ended meanwhile through kgw (EndTxn, InitProducerId): done.
            if (!upstream->txns().has_here(*id, o.producer_id)) return;
            const bool commit = v == Verdict::kCommit;
            LOG_WARN("proxy",
                     "transactional id %s (producer %lld, epoch %d) ended on the legacy cluster "
                     "without its producer's EndTxn through kgw (%s): %s its part here",
                     id->c_str(), static_cast<long long>(o.producer_id), o.epoch,
                     e == ErrorCode::kUnsupportedVersion
                         ? "the legacy cluster speaks no DescribeTransactions; past its timeout "
                           "it has aborted it"
                         : "DescribeTransactions says so",
                     commit ? "committing" : "aborting");
            upstream->txns().checking(*id, true);  // until its markers are written
            ctx_.txns().end_upstream_txn(
                o.producer_id, marker_epoch, commit, own_topics(ctx_),
                [this, upstream, id, commit](std::size_t marked, const std::string& error) {
                  if (stopped_) return;
                  upstream->txns().checking(*id, false);
                  if (!error.empty()) {
                    LOG_ERROR("proxy", "ending transactional id %s here (%s): %s; trying again",
                              id->c_str(), commit ? "commit" : "abort", error.c_str());
                    return;
                  }
                  upstream->txns().ended(*id);
                  LOG_INFO("proxy", "transactional id %s: %zu partition(s) and group(s) %s here",
                           id->c_str(), marked, commit ? "committed" : "aborted");
                });
          });
    }
  }
  timers_.schedule(interval_ms_, [this] { sweep(); });
}

}  // namespace kgw
