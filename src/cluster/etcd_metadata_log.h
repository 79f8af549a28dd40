// EtcdMetadataLog: the cluster's MetadataLog (metadata_log.h). etcd holds
// the metadata (keys and values: etcd_layout.h); every broker keeps the
// image built from a range read of the prefix and one watch from the
// revision after it (etcd_image.h), so listeners see the same typed
// changes on every broker, in etcd's order. Changes are decided by the
// controller (one broker at a time, another unit): this log puts each
// submitted change as a request key and answers when the controller's
// result arrives in the watch.
//
// Threads: the loop thread only; KvApi callbacks, timers, `done` and
// listeners all run there.
//
// The happy path is:
//  - start(ready): read `P cluster`; absent -> create it with the given
//    cluster id (compare create_revision == 0), copying this data dir's
//    topics, dynamic broker configs and client quotas into etcd in the same
//    txn(s), so a single node becomes the first node of a cluster; present
//    -> adopt its id (cluster_id()). Then range-read the prefix (paged),
//    build the image, bring the store to it (StoreMirror::reconcile), watch
//    from the read revision + 1, grant a lease (TTL = session timeout in
//    whole seconds, at least 1), keep it alive every heartbeat interval,
//    register this broker (`P brokers/<id>` with the lease, `P
//    registered/<id>` without, one txn) and call ready("") once the watch
//    has delivered that registration (so image() lists this broker).
//  - each watch revision -> its changes, applied in order: image, store
//    (StoreMirror), then the listeners with (before, after, change), as
//    LocalMetadataLog does; then results of this broker's requests are
//    answered (the controller writes a change and its result in one txn,
//    so the answer comes after its change is applied) and their keys
//    deleted.
//  - submit(change): refused at once if image().check() refuses it;
//    otherwise put as `P requests/<node>-<seq>` (with this broker's lease)
//    and answered from `P results/<node>-<seq>`.
//  - stop(done): controlled shutdown: the watch is cancelled, pending
//    changes answered REQUEST_TIMED_OUT, the lease revoked (its broker key
//    goes at once, so the controller moves leadership away without waiting
//    for the session timeout).
//
// Failure modes:
//  - etcd unreachable: the last image keeps being served; the watch is
//    retried with backoff (100 ms doubling to 5 s); submit() answers
//    REQUEST_TIMED_OUT at once, as Kafka's broker answers a request it
//    could not forward to the controller quorum (retriable).
//  - the watch ends kCompacted: range-read again and apply the difference
//    of the images as changes (diff_images), then watch on.
//  - keepalives unanswered for the lease's TTL (counted from the last
//    confirmed one's sending): lease_confirmed() turns false and
//    on_lease_unconfirmed runs (the controller steps down); a later
//    confirmation turns it true again.
//  - the lease lapsed (keepalive answers ttl 0, or the broker key is
//    deleted): a new lease is granted and the broker registers again (a new
//    create_revision: a new broker epoch).
//  - no result within the request timeout: the request key is deleted if it
//    still exists (txn comparing it) and the change answered
//    REQUEST_TIMED_OUT (no controller took it); if it was already taken,
//    the result is awaited one more timeout before that answer.
//  - start: etcd unreachable is retried (logged); etcd refusing to read or
//    create the cluster record, or a cluster record it cannot read, reaches
//    ready(error); the range read of the prefix is retried whatever failed
//    (a compaction between pages starts it again).
//  - submit() before the broker registered (start, or a lapsed lease being
//    renewed) answers REQUEST_TIMED_OUT at once too.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/cluster/etcd/etcd_types.h"
#include "src/cluster/etcd_layout.h"
#include "src/cluster/metadata_log.h"
#include "src/cluster/store_mirror.h"

namespace kgw {

class Store;

struct EtcdMetadataLogOptions {
  std::int32_t node_id = 1;
  // Every key starts with it. Default: "/kgw/".
  std::string prefix = "/kgw/";
  // This broker as others reach it (registration.id is set to node_id).
  layout::BrokerRegistration registration;
  // This data dir's cluster id: the cluster's if no cluster exists yet.
  // Empty: a random one.
  std::string cluster_id;
  // Default 9000 (Kafka's broker.session.timeout.ms): the lease TTL.
  std::int64_t session_timeout_ms = 9000;
  // Default 2000 (Kafka's broker.heartbeat.interval.ms): keepalive period.
  std::int64_t heartbeat_interval_ms = 2000;
  // Default 5000: how long a submitted change waits for a controller.
  std::int64_t request_timeout_ms = 5000;
  // Default 100, doubling to retry_backoff_max_ms: between watch retries.
  std::int64_t retry_backoff_ms = 100;
  std::int64_t retry_backoff_max_ms = 5000;
  // Checks a stored dynamic broker config when a single node's metadata is
  // copied into a new cluster (as LocalMetadataLogOptions).
  std::function<std::string(const std::string& name, const std::string& value)> check_broker_config;
};

class EtcdMetadataLog : public MetadataLog {
 public:
  // `kv` and `store` (open) outlive the log.
  EtcdMetadataLog(uv_loop_t* loop, etcd::KvApi& kv, Store& store, EtcdMetadataLogOptions options);
  // Closes its timers; no callback of the log runs after (call stop()
  // first for a controlled shutdown).
  ~EtcdMetadataLog() override;
  EtcdMetadataLog(const EtcdMetadataLog&) = delete;
  EtcdMetadataLog& operator=(const EtcdMetadataLog&) = delete;

  void start(std::function<void(std::string error)> ready);
  void stop(std::function<void()> done);

  void submit(MetadataChange change, Done done) override;
  // Put as a request like submit(); answered with the partitions' outcomes
  // the controller's result carries.
  void elect_leaders(ElectLeaders request, ElectDone done) override;
  ImagePtr image() const override { return image_; }
  // The controller orders changes; nothing is projected here.
  ImagePtr latest() const override { return image_; }
  void add_listener(Listener fn) override { listeners_.push_back(std::move(fn)); }

  // The cluster's id (known once ready).
  const std::string& cluster_id() const { return cluster_id_; }
  // The etcd revision the image is at.
  std::int64_t revision() const { return revision_; }
  // Called on the loop thread each time revision() moves on, after the
  // changes up to it were applied (the controller waits on it).
  void on_revision(std::function<void(std::int64_t revision)> fn) { on_revision_ = std::move(fn); }
  // This broker's epoch: the create_revision of its current registration.
  std::int64_t broker_epoch() const { return broker_epoch_; }
  // This incarnation's log is not its previous incarnation's (known once
  // the metadata was read; BrokerImage::log_dir_replaced), until the
  // controller handled it.
  bool log_dir_replaced() const {
    const std::string& was = options_.registration.previous_log_dir_id;
    return !was.empty() && was != options_.registration.log_dir_id;
  }
  std::int64_t lease() const { return lease_; }
  // False while etcd is known unreachable (submit() refuses at once).
  bool reachable() const { return reachable_; }
  // True while etcd confirmed the lease less than its TTL ago, counted
  // from when the confirming grant or keepalive was sent: etcd cannot have
  // let it lapse yet. False before the first grant, and once a TTL passed
  // without a confirmation (etcd unreachable, a partition): the lease may
  // have lapsed and another broker may hold what it held.
  bool lease_confirmed() const { return lease_confirmed_; }
  // Called on the loop thread when lease_confirmed() turns false (the
  // controller stops acting then).
  void on_lease_unconfirmed(std::function<void()> fn) { on_lease_unconfirmed_ = std::move(fn); }

 private:
  struct Pending {
    ElectDone done;
    std::uint64_t deadline = 0;  // uv_now
    bool deleting = false;       // the timeout's delete txn is in flight
    bool taken = false;          // the controller took it: await the result
  };

  // Wraps a callback so it does nothing once the log is gone.
  template <typename Fn>
  auto guarded(Fn fn);

  void read_cluster();
  void create_cluster();
  std::vector<etcd::Op> migration_ops() const;
  using ReadDone = std::function<void(std::int64_t revision, std::vector<etcd::KeyValue> kvs)>;
  void read_all(ReadDone then);
  void read_page(std::string from, std::int64_t revision,
                 std::shared_ptr<std::vector<etcd::KeyValue>> kvs, ReadDone then);
  void send_chunks(std::shared_ptr<std::vector<etcd::Op>> ops, std::size_t from);
  void built(std::int64_t revision, std::vector<etcd::KeyValue> kvs);
  void fail_start(const std::string& error);
  void watch_from(std::int64_t revision);
  void on_events(std::int64_t revision, const std::vector<etcd::Event>& events);
  void on_watch_end(const etcd::Status& status);
  void resync();
  void apply(const MetadataChange& change);
  void answer_results(const std::vector<etcd::KeyValue>& results);
  void grant();
  void register_broker();
  void keepalive();
  void lease_lost();
  // etcd answered a grant or keepalive sent at `sent_at` (uv_now) with
  // `ttl_seconds`: the lease lives at least until sent_at + TTL.
  void lease_confirmed_until(std::uint64_t sent_at, std::int64_t ttl_seconds);
  void check_deadlines();
  void timed_out(std::uint64_t seq);
  void finish(std::uint64_t seq, ErrorCode error, std::string message,
              std::vector<ElectionOutcome> outcomes = {});
  void put_request(const MetadataChange& change, ElectDone done);
  void unreachable(const etcd::Status& status);
  void retry_later(std::function<void()> fn);
  void start_timer(uv_timer_t* t, std::uint64_t ms, std::uint64_t repeat);
  void maybe_ready();
  void advance_to(std::int64_t revision);

  uv_loop_t* loop_;
  etcd::KvApi& kv_;
  Store& store_;
  EtcdMetadataLogOptions options_;
  StoreMirror mirror_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  ImagePtr image_;
  std::vector<Listener> listeners_;
  std::string cluster_id_;
  std::int64_t revision_ = 0;
  std::function<void(std::int64_t)> on_revision_;
  std::uint64_t watch_id_ = 0;
  bool watching_ = false;
  std::int64_t lease_ = 0;
  std::int64_t broker_epoch_ = 0;
  std::int64_t registered_at_ = 0;  // the revision of the last registration
  bool registering_ = false;
  bool reachable_ = true;
  bool lease_confirmed_ = false;
  std::uint64_t lease_valid_until_ = 0;  // uv_now; lease_timer_ fires then
  std::function<void()> on_lease_unconfirmed_;
  bool stopping_ = false;
  std::int64_t backoff_ms_ = 0;
  std::function<void(std::string)> ready_;
  std::uint64_t next_seq_ = 0;
  std::map<std::uint64_t, Pending> pending_;
  // Heap handles: freed in their close callbacks, which may run after the
  // log is gone.
  uv_timer_t* heartbeat_;
  uv_timer_t* deadlines_;
  uv_timer_t* retry_;
  uv_timer_t* lease_timer_;
  std::vector<std::function<void()>> retry_fns_;
  std::int64_t stale_lease_ = 0;  // a previous incarnation's, revoked before registering
};

}  // namespace kgw
