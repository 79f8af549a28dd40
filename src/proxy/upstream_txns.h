// UpstreamTxns: the transactions the legacy cluster coordinates that kgw
// has seen add partitions there (proxy mode, issue 17), so that a
// migration's cutover knows when none is open on its topic.
//
// A transactional id that lives upstream (FindCoordinator, InitProducerId,
// AddPartitionsToTxn, EndTxn go to the legacy coordinator through kgw)
// may write to kgw's own topics too, a migrated one after its cutover
// included: those partitions never join the legacy transaction (its
// markers would land in the legacy copy, around kgw), they are kgw's;
// when the legacy EndTxn answers, kgw writes the markers on them itself
// (TransactionCoordinator::end_upstream_txn). The handlers
// (add_partitions_to_txn.cc, end_txn.cc, init_producer_id.cc) do that
// part; this class only remembers, per transactional id, the legacy topics
// its open transaction added there:
//
//  - added(): AddPartitionsToTxn is forwarded for these topics (noted
//    before the answer: a cutover that starts meanwhile must count it);
//  - ended(): EndTxn answered, or InitProducerId (which aborts any open
//    transaction) answered. The topics stay counted for kMarkerGraceMs
//    more: Kafka answers EndTxn before its markers are all written;
//  - an entry not ended within its transaction timeout (from the
//    InitProducerId kgw forwarded, else Kafka's client default, 60 s) plus
//    kMarkerGraceMs is dropped: the legacy coordinator has aborted it.
//
// During a cutover the topic's produce is fenced, but a producer with an
// open transaction on the topic (producer_open_on()) may still write, so
// that the transaction can end, and no transaction may add the topic
// (AddPartitionsToTxn answers CONCURRENT_TRANSACTIONS, which clients
// retry): the cutover waits until open_on() is false.
//
// Threads: the loop thread only. Pure apart from the clock it is given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kgw {

class UpstreamTxns {
 public:
  static constexpr std::uint64_t kMarkerGraceMs = 200;
  static constexpr std::uint64_t kDefaultTimeoutMs = 60000;

  explicit UpstreamTxns(std::function<std::uint64_t()> now_ms) : now_ms_(std::move(now_ms)) {}

  // InitProducerId for `txn_id` asked for this transaction timeout.
  void timeout(std::string_view txn_id, std::int32_t timeout_ms);
  void added(std::string_view txn_id, std::int64_t producer_id,
             const std::vector<std::string>& topics);
  // AddPartitionsToTxn or AddOffsetsToTxn put kgw's own partitions or
  // groups into the producer's transaction (which the legacy coordinator
  // does not see: with nothing else, it has no transaction open).
  void added_here(std::string_view txn_id, std::int64_t producer_id, std::int16_t epoch);
  bool has_here(std::string_view txn_id, std::int64_t producer_id) const;
  // kgw answered an AddPartitionsToTxn of this transaction
  // CONCURRENT_TRANSACTIONS itself (a cutover holds its topic), so the
  // legacy coordinator may never have heard of the transaction: an abort
  // it then calls INVALID_TXN_STATE aborts nothing (handlers/end_txn.cc).
  void held_back(std::string_view txn_id, std::int64_t producer_id);
  bool was_held_back(std::string_view txn_id, std::int64_t producer_id) const;
  void ended(std::string_view txn_id);

  // A transaction with kgw's partitions in it whose EndTxn never came
  // through kgw (its producer went away): the legacy coordinator ends it
  // when its timeout passes, and tells nobody; kgw must ask it
  // (src/broker/upstream_txn_sweep.h). overdue_here() lists those open
  // longer than their transaction timeout plus kOrphanGraceMs and not
  // being checked; checking() marks one as asked about, checked() as
  // answered (still open there: asked again at the next sweep).
  static constexpr std::uint64_t kOrphanGraceMs = 1000;
  struct Overdue {
    std::string txn_id;
    std::int64_t producer_id = -1;
    std::int16_t epoch = -1;
  };
  std::vector<Overdue> overdue_here() const;
  void checking(std::string_view txn_id, bool on);

  // Whether an open transaction has added partitions of `topic` on the
  // legacy cluster; `who` (if given) gets its transactional id.
  bool open_on(std::string_view topic, std::string* who = nullptr) const;
  bool producer_open_on(std::int64_t producer_id, std::string_view topic) const;
  std::size_t size() const { return txns_.size(); }

 private:
  struct Txn {
    std::int64_t producer_id = -1;
    std::set<std::string, std::less<>> topics;
    std::uint64_t timeout_ms = kDefaultTimeoutMs;
    std::uint64_t since = 0;     // the first add of this transaction
    std::uint64_t ended_at = 0;  // 0: open
  };
  // Whether `t` still counts at `now`.
  bool counts(const Txn& t, std::uint64_t now) const;
  void prune();

  std::function<std::uint64_t()> now_ms_;
  std::map<std::string, Txn, std::less<>> txns_;
  std::map<std::string, std::uint64_t, std::less<>> timeouts_;
  struct Here {
    std::int64_t producer_id = -1;
    std::int16_t epoch = -1;
    std::uint64_t since = 0;  // the first add of this transaction here
    bool checking = false;
  };
  std::map<std::string, Here, std::less<>> here_;
  std::map<std::string, std::int64_t, std::less<>> held_back_;  // txn id -> producer id
};

}  // namespace kgw
