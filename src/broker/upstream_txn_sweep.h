// UpstreamTxnSweep (proxy mode, issue 17): ends kgw's part of a
// transaction the legacy cluster coordinates once that transaction ended
// there without kgw hearing of it.
//
// A transactional producer whose transactions the legacy cluster
// coordinates may write kgw's own topics too; kgw keeps those partitions
// out of the legacy transaction and writes their markers when the
// producer's EndTxn (or InitProducerId) comes through it (handlers/end_txn.cc,
// src/proxy/upstream_txns.h). A producer that goes away mid-transaction
// sends neither: the legacy coordinator aborts the transaction when its
// timeout passes and tells no one, and kgw's partitions would stay open
// for good, their last stable offset stuck, read_committed consumers
// stalled. Every sweep_interval_ms this asks the legacy coordinator, with
// DescribeTransactions, about each transaction open here longer than its
// timeout (UpstreamTxns::overdue_here()) and follows its answer: committed
// (PrepareCommit/CompleteCommit, same producer id and epoch) -> COMMIT
// markers here; aborted, fenced, another epoch or producer, or an id it
// no longer knows -> ABORT markers; still Ongoing -> asked again next time.
//
// Possible failure modes: the legacy coordinator cannot be reached or
// answers a retriable error (asked again at the next sweep); it speaks no
// DescribeTransactions (Kafka before 3.0): it has aborted the transaction
// by its own timeout, so kgw aborts its part (and logs it once per id);
// writing the markers fails (logged; the next sweep tries again).
//
// Threads: the loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>

#include "common/timer_queue.h"

namespace kgw {

class HandlerContext;

class UpstreamTxnSweep {
 public:
  // Default: 5000.
  UpstreamTxnSweep(uv_loop_t* loop, HandlerContext& ctx, std::uint64_t sweep_interval_ms = 5000);
  UpstreamTxnSweep(const UpstreamTxnSweep&) = delete;
  UpstreamTxnSweep& operator=(const UpstreamTxnSweep&) = delete;

  void start();
  void stop();

 private:
  void sweep();

  HandlerContext& ctx_;
  std::uint64_t interval_ms_;
  TimerQueue timers_;
  bool stopped_ = false;
};

}  // namespace kgw
