// Controller: the one broker at a time that decides placement, leaders and
// fencing, elected through etcd. Every broker runs one; at most one of
// them holds `P controller` and acts.
//
// Threads: the loop thread; KvApi and MetadataLog callbacks run there.
//
// The happy path is:
//  1. Election: a txn `create_revision(P controller) == 0 -> put P
//     controller {"v":1,"id":me}` with THIS broker's lease (so the key
//     lapses with the broker). The controller epoch is the key's
//     create_revision. Losers watch the key and campaign again when it is
//     deleted (lease lapsed, or resigned).
//  2. The new controller waits until the metadata image reflects the
//     election revision, then reads `P requests/` and watches it. Each
//     request (a MetadataChange as JSON) is checked against the image,
//     completed (topic id, placement, partition states) and written in ONE
//     txn: the change's keys + delete of the request + `P results/<req>`
//     (with the requester's lease). Requests go one at a time, each decided
//     on an image that includes the previous decisions.
//  3. ElectLeaders requests (leader_election.h) are decided like the
//     others; the partitions they move are written with the result, which
//     carries each partition's outcome. Every
//     leader_imbalance_check_interval_ms (auto_leader_rebalance) the
//     controller runs a preferred election for the partitions of brokers
//     over leader_imbalance_per_broker_percentage (logged at INFO).
//  4. Liveness: whenever the image fences or registers a broker (and at
//     takeover) a pass moves leadership off brokers that are not alive
//     (first alive ISR member, leader and partition epoch + 1, the dead
//     broker leaves the ISR unless last; none alive: leader -1) and back
//     onto a returning ISR member of an offline partition. With
//     `unclean.leader.election.enable` (the topic's, else this broker's
//     dynamic, the cluster-wide dynamic, then its static config, as
//     Kafka's controller resolves it) a partition whose ISR has nobody
//     alive goes to the first live replica instead, its ISR that replica
//     alone (data loss, logged at WARN); a change of those configs runs
//     the pass again.
//  4. ISR changes: a partition leader's AlterPartition request
//     (controller_isr.cc) is checked against the image
//     (alter_partition.h, with the brokers in controlled shutdown) and
//     written as the partition's new state (ISR replaced, partition epoch
//     + 1) in the request's one txn; an ISR that does not change writes
//     only the result.
//  5. Reassignments: an AlterReassignment request (one partition,
//     reassignment.h) is decided into the partition's new state (target
//     plus current replicas, adding and removing) in the request's txn.
//     An ISR change that puts every target replica in the ISR completes
//     the reassignment in the same write (replicas = target, a new leader
//     if the old one leaves).
//
// Every controller txn compares `create_revision(P controller) == epoch`,
// so a deposed controller's write fails, plus what its decision read: a
// created topic's key absent (create_revision == 0); an existing topic's
// or partition's key present and not modified after the image revision R
// the decision was made on (version > 0, mod_revision < R + 1); a new
// leader's broker key present; for an ISR change, the leader's broker key
// at the broker epoch it asked with and each added member's present (at
// the epoch the leader gave). A request key must still exist
// (version > 0). A txn refused because the controller key is not ours any
// more ends this term (the broker follows again).
//
// Failure modes: this broker's lease unconfirmed for its TTL
// (lease_unconfirmed()): the term ends at once, the controller campaigns
// again once the lease is confirmed. etcd unavailable: every step is retried after
// `retry_ms`; a request that cannot be decided in `max_attempts` tries is
// answered REQUEST_TIMED_OUT (retriable). A request that does not decode
// is answered INVALID_REQUEST. The image lagging is waited for (polled
// every few ms), never decided on.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/loop_timer.h"
#include "protocol/wire/error_code.h"
#include "src/cluster/etcd/etcd_types.h"
#include "src/cluster/leader_election.h"
#include "src/cluster/metadata_log.h"
#include "src/cluster/placement.h"

namespace kgw {

struct ControllerOptions {
  std::int32_t node_id = -1;
  // Every key starts with it. Default: "/kgw/".
  std::string prefix = "/kgw/";
  // THIS broker's lease id (the one its `P brokers/<id>` key is put with);
  // 0 while none is granted (the controller waits). Required.
  std::function<std::int64_t()> lease;
  // The etcd revision the metadata log's image reflects: every event up
  // to it is applied (it may also advance on revisions that change
  // nothing in the image). Required.
  std::function<std::int64_t()> image_revision;
  // Delay before retrying after etcd was unavailable or a compare failed.
  // Default: 200.
  std::uint64_t retry_ms = 200;
  // Tries per request before it is answered REQUEST_TIMED_OUT. Default: 20.
  int max_attempts = 20;
  // How long controlled_shutdown() waits for the controller. Default: 5000.
  std::uint64_t shutdown_timeout_ms = 5000;
  // At most this many partitions per liveness txn (etcd's --max-txn-ops
  // is 128 by default and counts compares: two per partition, one per new
  // leader). Default: 50.
  std::size_t partitions_per_txn = 50;
  // The most ops (and compares) etcd takes in one txn (etcd's
  // --max-txn-ops). A change with more keys (a topic of many partitions)
  // is written in several txns: the topic key first with the decided
  // change written back into its request (so a new controller resumes
  // it), then the partition keys, then the result. Default: 128.
  std::size_t max_txn_ops = 128;
  // Placement starts (tests fix them; default random as Kafka).
  PlacementOptions placement;
  // New partitions start with every live replica in the ISR, as Kafka's
  // (their logs are all empty, so all are in sync). Default: true. Off:
  // the ISR is the leader alone until followers have fetched its log and
  // the leader adds them (AlterPartition).
  bool followers_in_sync = true;
  // A new topic id; empty: a random v4 uuid.
  std::function<Uuid()> new_topic_id;
  // This broker's static `unclean.leader.election.enable`, the last
  // layer of its resolution (topic override, this broker's dynamic
  // config, the cluster-wide dynamic default, this). Default: false.
  bool unclean_leader_election_enable = false;
  // This broker's static `min.insync.replicas`, resolved the same way: an
  // ISR below it (or the replication factor) puts the members that left
  // into the ELR (KIP-966; leader_election.h). Default: 1.
  std::int64_t min_insync_replicas = 1;
  // Kafka's auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds
  // (here in ms) and leader.imbalance.per.broker.percentage: every interval
  // the controller moves leadership back to preferred replicas of brokers
  // whose share of partitions led by another is above the percentage.
  bool auto_leader_rebalance = true;
  std::uint64_t leader_imbalance_check_interval_ms = 300000;
  double leader_imbalance_per_broker_percentage = 10;
};

class Controller {
 public:
  using ProducerIdsDone =
      std::function<void(ErrorCode error, std::int64_t first, std::int32_t count)>;

  Controller(uv_loop_t* loop, etcd::KvApi& kv, MetadataLog& log, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts campaigning (call once the broker has its lease and registered).
  void start();
  // Stops acting and campaigning; no callback of this object runs after.
  // Does not resign: the key lapses with the lease (or call
  // controlled_shutdown first).
  void stop();
  // The metadata log's image moved on to options.image_revision(): work
  // that waited for it runs on the next turn of the loop. The owner wires
  // it to EtcdMetadataLog::on_revision (nothing polls).
  void image_advanced();

  // This broker's lease can no longer be confirmed (etcd unanswered for
  // its TTL: EtcdMetadataLog::on_lease_unconfirmed): it may have lapsed and
  // another broker be elected, so a controller stops acting now, not when
  // a write of its is refused. Campaigns again once options.lease() gives
  // a lease (wire it to return 0 while the lease is unconfirmed).
  void lease_unconfirmed();

  bool is_controller() const { return acting_; }
  // The epoch of this broker's term (0 if not controller).
  std::int64_t epoch() const { return acting_ ? epoch_ : 0; }

  // SIGTERM: moves leadership of the partitions this broker leads to other
  // ISR members (if another live broker exists) and resigns if this
  // broker is the controller; `done` runs when that is written or after
  // `shutdown_timeout_ms`. The caller then stops and revokes its lease.
  void controlled_shutdown(std::function<void()> done);

  // A block of `count` producer ids unique in the cluster, taken from
  // `P producer-ids` by compare-and-swap, starting at `at_least` or above
  // (a data dir that was a single node hands its own next producer id so
  // that ids it gave out are not given again). Any broker may call it.
  // Fails COORDINATOR_NOT_AVAILABLE (retriable) after `max_attempts`.
  void allocate_producer_ids(std::int32_t count, ProducerIdsDone done, std::int64_t at_least = 0);

 private:
  struct Deferred {
    std::uint64_t due_ms = 0;
    std::int64_t image_revision = 0;  // run once the image reflects it
    std::uint64_t term = 0;           // dropped if the term changed (0: any)
    std::function<void()> fn;
  };
  struct Ops {
    std::vector<etcd::Compare> compare;
    std::vector<etcd::Op> ops;
    bool changes_image = false;
  };
  struct PartitionUpdate {
    std::string key;
    PartitionImage state;
    bool new_leader = false;
  };
  using Updates = std::shared_ptr<std::vector<PartitionUpdate>>;

  // Election (controller.cc).
  void campaign();
  void watch_controller(std::int64_t from_revision);
  void become_controller(std::int64_t epoch);
  void step_down(const char* why);
  void recheck_controller();
  void resign(std::function<void()> done);
  bool current(std::uint64_t term) const { return elected_ && term == term_; }
  // Cancels a watch outside of its own callback (a watch must not be
  // destroyed while it runs).
  void cancel_watch_later(std::optional<std::uint64_t>& id);
  void cancel_watch_soon(std::uint64_t id);
  etcd::Compare epoch_compare() const;

  // Requests (controller.cc).
  void load_requests();
  void pump();
  void finish_job();
  void process_request(etcd::KeyValue request, int attempt);
  bool request_written(const etcd::KeyValue& request, const etcd::Status& s,
                       const etcd::TxnResult& r, bool changes_image, int attempt);
  void forget_request(const etcd::KeyValue& request);
  void commit_request(const etcd::KeyValue& request, Ops ops, ErrorCode error, std::string message,
                      int attempt, std::vector<ElectionOutcome> outcomes = {});
  // An ElectLeaders request: decided and committed with its outcomes.
  void commit_election(const etcd::KeyValue& request, const ElectLeaders& election,
                       const MetadataImage& image, std::int64_t revision, int attempt);
  // A change too big for one txn, and its continuation.
  void commit_in_chunks(etcd::KeyValue request, const MetadataChange& change, Ops ops, int attempt);
  void write_chunks(etcd::KeyValue request, std::shared_ptr<std::vector<etcd::Op>> ops,
                    std::size_t from, int attempt);
  // A CreateTopic whose topic key a previous term wrote (its request holds
  // the decided id): the partition keys still missing.
  bool resumes(const MetadataChange& change, const MetadataImage& image, Ops& ops) const;
  // Fills what the change leaves open; kNone or the refusal.
  ErrorCode complete(MetadataChange& change, const MetadataImage& image, std::string& message);
  // The keys `change` writes, with their compares against revision R.
  Ops ops_of(const MetadataChange& change, const MetadataImage& image, std::int64_t revision);
  // The key exists and was not modified after `revision`, the image's.
  static void unchanged_since(std::vector<etcd::Compare>& out, const std::string& key,
                              std::int64_t revision);

  // ISR changes (controller_isr.cc).
  Ops isr_change_ops(const AlterPartition& change, const MetadataImage& image,
                     std::int64_t revision) const;
  // Reassignments (controller_reassign.cc): the partition's new state
  // (reassignment.h), compared unchanged since the image and, when the
  // leader moves, the new leader registered; nothing if it does not change.
  Ops reassignment_ops(const AlterReassignment& change, const MetadataImage& image,
                       std::int64_t revision) const;
  // unclean.leader.election.enable for `topic`, resolved as Kafka's
  // controller does.
  bool unclean_election_enabled(const MetadataImage& image, const TopicImage& topic) const;
  // effective_min_isr (leader_election.h) of a partition of `topic`, its
  // min.insync.replicas resolved as unclean.leader.election.enable is.
  std::int32_t min_isr(const MetadataImage& image, const TopicImage& topic,
                       const PartitionImage& p) const;
  // A topic config resolved as Kafka's controller does: topic override,
  // this broker's dynamic config, the cluster-wide dynamic default; nullptr
  // when none sets it (the static value applies).
  const std::string* resolved_config(const MetadataImage& image, const TopicImage& topic,
                                     const std::string& name) const;

  // Liveness (controller_liveness.cc).
  void liveness_pass(std::function<void()> done, int attempt);
  bool alive(const MetadataImage& image, std::int32_t id) const;
  // Alive and not in a controlled shutdown: may be elected leader.
  bool eligible(const MetadataImage& image, std::int32_t id) const;
  // Writes `updates` from `from` on, partitions_per_txn per txn, each
  // comparing the partitions unchanged since `revision` and the new
  // leaders registered; `done` when all are written (or the term ended),
  // `retry` when a txn was refused for another reason than the term.
  void write_updates(Updates updates, std::int64_t revision, std::size_t from,
                     std::function<void()> done, std::function<void()> retry);
  // The automatic preferred-leader rebalance (auto_leader_rebalance).
  void schedule_rebalance();
  void rebalance_pass(std::function<void()> done, int attempt);
  void on_change(const MetadataImage& before, const MetadataChange& change);

  // Deferred work and retries (controller.cc).
  void defer(std::uint64_t delay_ms, std::int64_t image_revision, bool this_term,
             std::function<void()> fn);
  void schedule();
  void on_tick();
  // A callback that does nothing once this object stopped or died.
  template <typename Fn>
  auto guarded(Fn fn) {
    return [weak = std::weak_ptr<bool>(alive_token_), fn = std::move(fn)](auto&&... args) mutable {
      if (weak.expired()) return;
      fn(std::forward<decltype(args)>(args)...);
    };
  }

  void producer_ids_attempt(std::int32_t count, std::int64_t at_least, ProducerIdsDone done,
                            int attempt);

  uv_loop_t* loop_;
  etcd::KvApi& kv_;
  MetadataLog& log_;
  ControllerOptions options_;
  std::shared_ptr<bool> alive_token_ = std::make_shared<bool>(true);
  LoopTimer tick_;
  std::vector<Deferred> deferred_;
  // Watches to cancel on the next turn of the loop (cancel_watch_soon);
  // kept through stop(), which cannot cancel them in place (it may run
  // inside one of their callbacks).
  LoopTimer cancel_tick_;
  std::vector<std::uint64_t> cancelling_;
  bool started_ = false;
  bool stopped_ = false;

  bool campaigning_ = false;
  // No campaign once this broker resigned in a controlled shutdown.
  bool leaving_ = false;
  std::optional<std::uint64_t> controller_watch_;
  std::uint64_t controller_watch_gen_ = 0;
  bool acting_ = false;  // this broker holds P controller and the image caught up
  bool elected_ = false;
  std::int64_t epoch_ = 0;
  std::uint64_t term_ = 1;

  // Requests by (create revision, key); the front is decided next.
  std::map<std::pair<std::int64_t, std::string>, etcd::KeyValue> requests_;
  std::optional<std::uint64_t> requests_watch_;
  bool busy_ = false;
  bool liveness_dirty_ = false;
  bool rebalance_due_ = false;
  std::vector<std::function<void()>> liveness_waiters_;
  // The last revision this term wrote image keys at: the next decision
  // waits for the image to reflect it.
  std::int64_t last_written_ = 0;
  // Brokers in controlled shutdown: not chosen as leaders until they
  // register again.
  std::set<std::int32_t> shutting_down_;
  // Brokers that registered a new incarnation since the last liveness pass
  // (this broker controller or not, so that a controller elected right
  // after a restart handles it), with when (steady clock): entries older
  // than kRestartMemory are forgotten, so that a later controller does not
  // move leadership off a broker that restarted long ago.
  std::map<std::int32_t, std::chrono::steady_clock::time_point> restarted_;
  static constexpr std::chrono::seconds kRestartMemory{60};
  // Brokers whose replaced log (BrokerImage::log_dir_replaced) a liveness
  // pass of this term handled: id -> that log's id. Until then the
  // broker's ISR and ELR memberships and leaderships are of a log that is
  // gone: it leaves them all and leads nothing. Once the pass is written,
  // accept_log_dirs() rewrites the registration without
  // previous_log_dir_id (same key, lease and epoch), so that no later
  // controller handles it again; this map covers the time until that
  // rewrite is in the image.
  std::map<std::int32_t, std::string> lost_handled_;
  // The broker's log is not the one its memberships were earned with.
  bool log_lost(const MetadataImage& image, std::int32_t id) const;
  // Rewrites each broker's registration (id -> its log's id) as accepted:
  // previous_log_dir_id dropped, compared on the key's create_revision
  // (the same incarnation) and mod_revision (unchanged since read).
  void accept_log_dirs(const std::map<std::int32_t, std::string>& dirs);
};

}  // namespace kgw
