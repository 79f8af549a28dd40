#include "src/cluster/etcd_metadata_log.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/log.h"
#include "src/cluster/etcd_image.h"
#include "src/cluster/local_metadata_log.h"
#include "storage/store.h"

namespace kgw {

namespace {

using etcd::Compare;
using etcd::delete_op;
using etcd::Event;
using etcd::KeyValue;
using etcd::Op;
using etcd::put_op;
using etcd::RangeResult;
using etcd::Status;
using etcd::TxnRequest;
using etcd::TxnResult;

// etcd refuses a txn of more than --max-txn-ops (default 128) operations.
constexpr std::size_t kOpsPerTxn = 100;

uv_timer_t* new_timer(uv_loop_t* loop, void* data) {
  auto* t = new uv_timer_t;
  uv_timer_init(loop, t);
  t->data = data;
  return t;
}

void close_timer(uv_timer_t* t) {
  uv_timer_stop(t);
  uv_close(reinterpret_cast<uv_handle_t*>(t),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

std::string random_cluster_id() {
  Uuid id;
  std::uint64_t seed =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (auto& b : id.bytes) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    b = static_cast<std::uint8_t>(seed >> 56);
  }
  id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x40);
  id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);
  return layout::uuid_base64(id);
}

}  // namespace

template <typename Fn>
auto EtcdMetadataLog::guarded(Fn fn) {
  return [alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)](auto&&... args) mutable {
    if (alive.expired()) return;
    fn(std::forward<decltype(args)>(args)...);
  };
}

EtcdMetadataLog::EtcdMetadataLog(uv_loop_t* loop, etcd::KvApi& kv, Store& store,
                                 EtcdMetadataLogOptions options)
    : loop_(loop),
      kv_(kv),
      store_(store),
      options_(std::move(options)),
      mirror_(store),
      image_(std::make_shared<const MetadataImage>()),
      heartbeat_(new_timer(loop, this)),
      deadlines_(new_timer(loop, this)),
      retry_(new_timer(loop, this)),
      lease_timer_(new_timer(loop, this)) {
  options_.registration.id = options_.node_id;
  // Unique across restarts of this node: a request key of a previous
  // incarnation (kept until its lease lapses) never names a new change.
  next_seq_ = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
}

EtcdMetadataLog::~EtcdMetadataLog() {
  alive_.reset();
  if (watching_) kv_.cancel_watch(watch_id_);
  close_timer(heartbeat_);
  close_timer(deadlines_);
  close_timer(retry_);
  close_timer(lease_timer_);
}

void EtcdMetadataLog::start(std::function<void(std::string error)> ready) {
  ready_ = std::move(ready);
  read_cluster();
}

void EtcdMetadataLog::fail_start(const std::string& error) {
  LOG_ERROR("cluster", "cannot join the cluster: %s", error.c_str());
  if (auto ready = std::move(ready_)) {
    ready_ = nullptr;
    ready(error);
  }
}

void EtcdMetadataLog::read_cluster() {
  kv_.range(layout::cluster_key(options_.prefix), "", 0, guarded([this](Status s, RangeResult r) {
              if (!s.ok()) {
                if (s.code != Status::kUnavailable) return fail_start(s.message);
                unreachable(s);
                return retry_later([this] { read_cluster(); });
              }
              if (r.kvs.empty()) return create_cluster();
              layout::ClusterRecord c;
              if (std::string e = layout::decode_cluster(r.kvs[0].value, c); !e.empty()) {
                return fail_start(e);
              }
              if (!options_.cluster_id.empty() && options_.cluster_id != c.cluster_id) {
                // As Kafka refuses a broker whose meta.properties names
                // another cluster: joining would delete this data dir's
                // topics and records (the store mirrors the cluster).
                return fail_start("this data dir belongs to cluster " + options_.cluster_id +
                                  ", but etcd (prefix " + options_.prefix + ") holds cluster " +
                                  c.cluster_id +
                                  ": start it with an empty data dir to join that cluster, "
                                  "or with another metadata.etcd.prefix to make its own");
              }
              cluster_id_ = c.cluster_id;
              read_all([this](std::int64_t rev, std::vector<KeyValue> kvs) {
                built(rev, std::move(kvs));
              });
            }));
}

void EtcdMetadataLog::create_cluster() {
  std::string id = options_.cluster_id.empty() ? random_cluster_id() : options_.cluster_id;
  auto ops = std::make_shared<std::vector<Op>>(migration_ops());
  if (!ops->empty()) {
    LOG_INFO("cluster", "creating cluster %s from this node's metadata (%zu keys)", id.c_str(),
             ops->size());
  } else {
    LOG_INFO("cluster", "creating cluster %s", id.c_str());
  }
  // The cluster key goes last: until it is there the cluster does not
  // exist, so a copy cut short is redone (puts) by the next attempt.
  ops->push_back(put_op(layout::cluster_key(options_.prefix), layout::encode_cluster({id})));
  send_chunks(std::move(ops), 0);
}

void EtcdMetadataLog::send_chunks(std::shared_ptr<std::vector<Op>> ops, std::size_t from) {
  TxnRequest txn;
  Compare absent;
  absent.key = layout::cluster_key(options_.prefix);
  absent.target = Compare::kCreate;
  absent.result = Compare::kEqual;
  absent.number = 0;
  txn.compare.push_back(absent);
  const std::size_t to = std::min(ops->size(), from + kOpsPerTxn);
  txn.success.assign(ops->begin() + static_cast<std::ptrdiff_t>(from),
                     ops->begin() + static_cast<std::ptrdiff_t>(to));
  kv_.txn(std::move(txn), guarded([this, ops, from, to](Status s, TxnResult r) {
            if (!s.ok()) {
              if (s.code != Status::kUnavailable) return fail_start(s.message);
              unreachable(s);
              return retry_later([this, ops, from] { send_chunks(ops, from); });
            }
            // Done, or another node created the cluster first: read it.
            if (!r.succeeded || to == ops->size()) return read_cluster();
            send_chunks(ops, to);
          }));
}

std::vector<Op> EtcdMetadataLog::migration_ops() const {
  // The single-node log reads the store's records as they always were.
  LocalMetadataLogOptions lo;
  lo.node_id = options_.node_id;
  lo.check_broker_config = options_.check_broker_config;
  LocalMetadataLog local(store_, lo);
  const MetadataImage& image = *local.image();
  const std::string& p = options_.prefix;
  std::vector<Op> ops;
  for (const TopicPtr& t : image.topics()) {
    for (const PartitionImage& part : t->partitions) {
      ops.push_back(
          put_op(layout::partition_key(p, t->id, part.index), layout::encode_partition(part)));
    }
    ops.push_back(put_op(layout::topic_key(p, t->name),
                         layout::encode_topic({t->id, t->configs, t->partition_count()})));
  }
  if (!image.broker_configs(std::nullopt).empty()) {
    ops.push_back(put_op(layout::default_configs_key(p),
                         layout::encode_configs(image.broker_configs(std::nullopt))));
  }
  if (!image.broker_configs(options_.node_id).empty()) {
    ops.push_back(put_op(layout::broker_configs_key(p, options_.node_id),
                         layout::encode_configs(image.broker_configs(options_.node_id))));
  }
  std::string error;
  for (auto& [entity, values] : image.quotas().describe({}, false, error)) {
    ops.push_back(put_op(layout::quota_key(p, entity), layout::encode_quota({entity, values})));
  }
  return ops;
}

void EtcdMetadataLog::read_all(ReadDone then) {
  read_page(options_.prefix, 0, std::make_shared<std::vector<KeyValue>>(), std::move(then));
}

void EtcdMetadataLog::read_page(std::string from, std::int64_t revision,
                                std::shared_ptr<std::vector<KeyValue>> kvs, ReadDone then) {
  kv_.range(from, etcd::prefix_end(options_.prefix), revision,
            guarded([this, revision, kvs, then](Status s, RangeResult r) mutable {
              if (!s.ok()) {
                // Compacted between pages, or etcd away: read again from the start.
                unreachable(s);
                if (s.code == Status::kFailed) {
                  LOG_WARN("cluster", "reading the metadata from etcd: %s", s.message.c_str());
                }
                return retry_later([this, then] { read_all(then); });
              }
              const std::int64_t at = revision != 0 ? revision : r.revision;
              const bool more = r.more && !r.kvs.empty();
              std::string next = more ? r.kvs.back().key + std::string(1, '\0') : "";
              for (KeyValue& kv : r.kvs) kvs->push_back(std::move(kv));
              if (more) return read_page(std::move(next), at, kvs, std::move(then));
              then(at, std::move(*kvs));
            }));
}

void EtcdMetadataLog::built(std::int64_t revision, std::vector<KeyValue> kvs) {
  std::vector<std::string> errors;
  image_ = layout::build_image(options_.prefix, kvs, &errors);
  for (const std::string& e : errors) LOG_WARN("cluster", "ignoring %s", e.c_str());
  advance_to(revision);
  mirror_.reconcile(*image_);
  // The log this broker's previous incarnation registered (KIP-903): once
  // per process, before the first registration overwrites it, so that
  // every registration of this incarnation (a new lease after a lapse
  // too) says whether its log is the one the ISRs knew.
  if (const BrokerImage* was = image_->broker(options_.node_id); was != nullptr) {
    options_.registration.previous_log_dir_id = was->log_dir_id;
    if (was->log_dir_id.empty() || options_.registration.log_dir_id.empty()) {
      // Unknown (an older kgw registered it): nothing to compare.
      options_.registration.previous_log_dir_id.clear();
    } else if (was->log_dir_id != options_.registration.log_dir_id) {
      LOG_WARN("cluster",
               "broker %d's log (%s) is not the one it had (%s): a wiped or replaced disk, or "
               "an unclean shutdown that may have lost writes; it leads nothing and rejoins "
               "ISRs only after catching up",
               options_.node_id, options_.registration.log_dir_id.c_str(), was->log_dir_id.c_str());
    }
  }
  std::vector<KeyValue> results;
  const std::string mine = layout::broker_key(options_.prefix, options_.node_id);
  for (KeyValue& kv : kvs) {
    if (kv.key == mine) stale_lease_ = kv.lease;
    layout::ParsedKey k = layout::parse_key(options_.prefix, kv.key);
    if (k.kind == layout::ParsedKey::kResult && k.id == options_.node_id) {
      results.push_back(std::move(kv));
    }
  }
  LOG_INFO("cluster", "metadata of cluster %s read at revision %lld: %zu brokers, %zu topics",
           cluster_id_.c_str(), static_cast<long long>(revision), image_->brokers().size(),
           image_->topic_count());
  answer_results(results);
  watch_from(revision + 1);
  grant();
}

void EtcdMetadataLog::advance_to(std::int64_t revision) {
  revision_ = revision;
  if (on_revision_) on_revision_(revision);
}

void EtcdMetadataLog::watch_from(std::int64_t revision) {
  if (stopping_) return;
  watching_ = true;
  watch_id_ = kv_.watch(
      options_.prefix, etcd::prefix_end(options_.prefix), revision,
      guarded([this](std::int64_t rev, std::vector<Event> events) { on_events(rev, events); }),
      guarded([this](Status s) { on_watch_end(s); }));
}

void EtcdMetadataLog::on_events(std::int64_t revision, const std::vector<Event>& events) {
  reachable_ = true;
  backoff_ms_ = 0;
  std::vector<std::string> errors;
  for (const MetadataChange& c :
       layout::changes_of_revision(options_.prefix, *image_, events, &errors)) {
    apply(c);
  }
  for (const std::string& e : errors) LOG_WARN("cluster", "ignoring %s", e.c_str());
  advance_to(revision);

  std::vector<KeyValue> results;
  bool lost = false;
  for (const Event& e : events) {
    layout::ParsedKey k = layout::parse_key(options_.prefix, e.kv.key);
    if (k.kind == layout::ParsedKey::kResult && k.id == options_.node_id && e.type == Event::kPut) {
      results.push_back(e.kv);
    }
    // This broker's key gone after it registered: its lease lapsed (the
    // keepalive may not have noticed yet).
    if (k.kind == layout::ParsedKey::kBroker && k.id == options_.node_id &&
        e.type == Event::kDelete && registered_at_ > 0 && revision > registered_at_) {
      lost = true;
    }
  }
  answer_results(results);
  if (lost) lease_lost();
  maybe_ready();
}

void EtcdMetadataLog::apply(const MetadataChange& change) {
  ImagePtr before = image_;
  image_ = image_->apply(change);
  mirror_.changed(*image_, change);
  if (const BrokerImage* me = image_->broker(options_.node_id); me != nullptr && !me->fenced) {
    broker_epoch_ = me->epoch;
    // The controller took this incarnation's replaced log into account
    // (its memberships are gone; Controller::accept_log_dirs rewrote the
    // registration without previous_log_dir_id): a later registration
    // (a new lease) must not say it again.
    if (me->previous_log_dir_id.empty() && me->log_dir_id == options_.registration.log_dir_id) {
      options_.registration.previous_log_dir_id.clear();
    }
  }
  for (const Listener& fn : listeners_) fn(*before, *image_, change);
}

void EtcdMetadataLog::answer_results(const std::vector<KeyValue>& results) {
  for (const KeyValue& kv : results) {
    layout::ParsedKey k = layout::parse_key(options_.prefix, kv.key);
    layout::ChangeResult r;
    if (std::string e = layout::decode_result(kv.value, r); !e.empty()) {
      r.error = ErrorCode::kUnknownServerError;
      r.message = "the controller's answer could not be read: " + e;
    }
    TxnRequest del;
    del.success.push_back(delete_op(kv.key));
    kv_.txn(std::move(del), [](Status, TxnResult) {});  // a leftover is deleted at next start
    if (pending_.count(k.seq) != 0) {
      finish(k.seq, r.error, std::move(r.message), std::move(r.partitions));
    }
  }
}

void EtcdMetadataLog::on_watch_end(const Status& status) {
  watching_ = false;
  if (stopping_) return;
  if (status.code == Status::kCompacted) {
    LOG_INFO("cluster", "etcd compacted past revision %lld; reading the metadata again",
             static_cast<long long>(revision_));
    return resync();
  }
  // Logged once per outage, not per retry.
  if (reachable_) {
    LOG_WARN("cluster", "the etcd watch ended (%s); watching again from revision %lld",
             status.message.c_str(), static_cast<long long>(revision_ + 1));
  }
  unreachable(status);
  retry_later([this] { watch_from(revision_ + 1); });
}

void EtcdMetadataLog::resync() {
  read_all([this](std::int64_t rev, std::vector<KeyValue> kvs) {
    std::vector<std::string> errors;
    ImagePtr next = layout::build_image(options_.prefix, kvs, &errors);
    for (const std::string& e : errors) LOG_WARN("cluster", "ignoring %s", e.c_str());
    for (const MetadataChange& c : layout::diff_images(*image_, *next)) apply(c);
    advance_to(rev);
    std::vector<KeyValue> results;
    for (KeyValue& kv : kvs) {
      layout::ParsedKey k = layout::parse_key(options_.prefix, kv.key);
      if (k.kind == layout::ParsedKey::kResult && k.id == options_.node_id) {
        results.push_back(std::move(kv));
      }
    }
    answer_results(results);
    watch_from(rev + 1);
    maybe_ready();
  });
}

void EtcdMetadataLog::grant() {
  if (stopping_) return;
  registering_ = true;
  if (stale_lease_ != 0) {
    // A previous incarnation's registration is still there: revoke it so
    // this one gets a new key, hence a new epoch.
    const std::int64_t stale = std::exchange(stale_lease_, 0);
    kv_.lease_revoke(stale, guarded([this](Status) { grant(); }));
    return;
  }
  const std::int64_t ttl = std::max<std::int64_t>(1, (options_.session_timeout_ms + 999) / 1000);
  kv_.lease_grant(
      ttl,
      guarded([this, sent_at = uv_now(loop_)](Status s, std::int64_t id, std::int64_t granted_ttl) {
        if (!s.ok()) {
          unreachable(s);
          return retry_later([this] { grant(); });
        }
        lease_ = id;
        lease_valid_until_ = 0;
        lease_confirmed_until(sent_at, granted_ttl);
        if (!uv_is_active(reinterpret_cast<uv_handle_t*>(heartbeat_))) {
          const auto every =
              static_cast<std::uint64_t>(std::max<std::int64_t>(1, options_.heartbeat_interval_ms));
          start_timer(heartbeat_, every, every);
        }
        register_broker();
      }));
}

void EtcdMetadataLog::register_broker() {
  if (stopping_) return;
  TxnRequest txn;
  txn.success.push_back(put_op(layout::broker_key(options_.prefix, options_.node_id),
                               layout::encode_broker(options_.registration, true), lease_));
  txn.success.push_back(put_op(layout::registered_key(options_.prefix, options_.node_id),
                               layout::encode_broker(options_.registration, false)));
  kv_.txn(std::move(txn), guarded([this, lease = lease_](Status s, TxnResult r) {
            if (lease != lease_) return;
            if (!s.ok()) {
              if (s.code == Status::kUnavailable) {
                unreachable(s);
                return retry_later([this] { register_broker(); });
              }
              // The lease is gone already: start over with a new one.
              LOG_WARN("cluster", "registering broker %d: %s", options_.node_id, s.message.c_str());
              registering_ = false;
              return lease_lost();
            }
            reachable_ = true;
            registering_ = false;
            registered_at_ = r.revision;
            LOG_INFO("cluster", "broker %d registered at revision %lld (lease %lld)",
                     options_.node_id, static_cast<long long>(r.revision),
                     static_cast<long long>(lease_));
            maybe_ready();
          }));
}

void EtcdMetadataLog::maybe_ready() {
  if (!ready_ || registered_at_ == 0 || revision_ < registered_at_) return;
  auto ready = std::move(ready_);
  ready_ = nullptr;
  ready("");
}

void EtcdMetadataLog::keepalive() {
  if (lease_ == 0 || registering_ || stopping_) return;
  kv_.lease_keepalive(
      lease_, guarded([this, lease = lease_, sent_at = uv_now(loop_)](Status s, std::int64_t ttl) {
        if (lease != lease_) return;
        if (!s.ok()) {
          if (s.code != Status::kUnavailable) return lease_lost();
          return unreachable(s);
        }
        reachable_ = true;
        backoff_ms_ = 0;
        if (ttl == 0) return lease_lost();
        lease_confirmed_until(sent_at, ttl);
      }));
}

void EtcdMetadataLog::lease_confirmed_until(std::uint64_t sent_at, std::int64_t ttl_seconds) {
  if (stopping_ || ttl_seconds <= 0) return;
  const std::uint64_t until = sent_at + static_cast<std::uint64_t>(ttl_seconds) * 1000;
  // An answer to an older keepalive that arrives late confirms less.
  if (until <= lease_valid_until_) return;
  lease_valid_until_ = until;
  if (!lease_confirmed_) {
    LOG_INFO("cluster", "broker %d's lease %lld confirmed", options_.node_id,
             static_cast<long long>(lease_));
  }
  lease_confirmed_ = true;
  const std::uint64_t now = uv_now(loop_);
  start_timer(lease_timer_, until > now ? until - now : 0, 0);
}

void EtcdMetadataLog::lease_lost() {
  if (registering_ || stopping_) return;
  LOG_WARN("cluster", "broker %d lost its session (lease %lld); registering again",
           options_.node_id, static_cast<long long>(lease_));
  lease_ = 0;
  uv_timer_stop(lease_timer_);
  lease_valid_until_ = 0;
  if (std::exchange(lease_confirmed_, false) && on_lease_unconfirmed_) on_lease_unconfirmed_();
  grant();
}

void EtcdMetadataLog::submit(MetadataChange change, Done done) {
  put_request(change, [done = std::move(done)](ErrorCode error, std::string message,
                                               std::vector<ElectionOutcome>) {
    done(error, std::move(message));
  });
}

void EtcdMetadataLog::elect_leaders(ElectLeaders request, ElectDone done) {
  put_request(request, std::move(done));
}

void EtcdMetadataLog::put_request(const MetadataChange& change, ElectDone done) {
  if (const auto* r = std::get_if<RegisterBroker>(&change);
      r != nullptr && r->broker.id == options_.node_id) {
    // This broker registers itself at start (its lease, its epoch).
    done(ErrorCode::kNone, "", {});
    return;
  }
  std::string message;
  if (ErrorCode e = image_->check(change, message); e != ErrorCode::kNone) {
    done(e, std::move(message), {});
    return;
  }
  if (stopping_ || lease_ == 0) {
    // Kafka's broker answers REQUEST_TIMED_OUT when it cannot reach the
    // controller quorum; clients retry it.
    done(ErrorCode::kRequestTimedOut,
         stopping_ ? "this broker is shutting down"
                   : "this broker is not registered with the cluster yet; retry later",
         {});
    return;
  }
  // reachable_ is not a gate: it is only as fresh as the last etcd call,
  // and a late failure of a call sent during an outage clears it after
  // etcd is back. The put itself says whether etcd takes the change.
  const std::uint64_t seq = ++next_seq_;
  Pending& p = pending_[seq];
  p.done = std::move(done);
  p.deadline = uv_now(loop_) + static_cast<std::uint64_t>(options_.request_timeout_ms);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(deadlines_))) {
    const auto tick = static_cast<std::uint64_t>(
        std::clamp<std::int64_t>(options_.request_timeout_ms / 10, 5, 100));
    start_timer(deadlines_, tick, tick);
  }
  kv_.put(layout::request_key(options_.prefix, options_.node_id, seq),
          layout::encode_change(change), lease_, guarded([this, seq](Status s, std::int64_t) {
            if (s.ok()) {
              reachable_ = true;
              return;
            }
            unreachable(s);
            finish(seq, ErrorCode::kRequestTimedOut,
                   s.code == Status::kUnavailable
                       ? "the metadata quorum (etcd) is unreachable from this broker (" +
                             s.message + "); retry later"
                       : "the change could not be written to etcd: " + s.message);
          }));
}

void EtcdMetadataLog::check_deadlines() {
  const std::uint64_t now = uv_now(loop_);
  std::vector<std::uint64_t> due;
  for (const auto& [seq, p] : pending_) {
    if (!p.deleting && p.deadline <= now) due.push_back(seq);
  }
  for (std::uint64_t seq : due) timed_out(seq);
  if (pending_.empty()) uv_timer_stop(deadlines_);
}

void EtcdMetadataLog::timed_out(std::uint64_t seq) {
  Pending& p = pending_.at(seq);
  const std::string ms = std::to_string(options_.request_timeout_ms);
  if (p.taken) {
    return finish(seq, ErrorCode::kRequestTimedOut,
                  "a controller took the change but its result did not arrive within " + ms +
                      " ms; it may have been applied");
  }
  p.deleting = true;
  const std::string key = layout::request_key(options_.prefix, options_.node_id, seq);
  TxnRequest txn;
  Compare exists;
  exists.key = key;
  exists.target = Compare::kVersion;
  exists.result = Compare::kGreater;
  exists.number = 0;
  txn.compare.push_back(exists);
  txn.success.push_back(delete_op(key));
  kv_.txn(std::move(txn), guarded([this, seq, ms](Status s, TxnResult r) {
            auto it = pending_.find(seq);
            if (it == pending_.end()) return;  // answered meanwhile
            if (!s.ok()) {
              unreachable(s);
              return finish(seq, ErrorCode::kRequestTimedOut,
                            "no answer within " + ms + " ms and etcd is unreachable: " + s.message);
            }
            if (r.succeeded) {
              return finish(seq, ErrorCode::kRequestTimedOut,
                            "no controller took the change within " + ms +
                                " ms; is a controller elected? see kgw-admin cluster");
            }
            // A controller took it: its result is on the way.
            it->second.deleting = false;
            it->second.taken = true;
            it->second.deadline =
                uv_now(loop_) + static_cast<std::uint64_t>(options_.request_timeout_ms);
          }));
}

void EtcdMetadataLog::finish(std::uint64_t seq, ErrorCode error, std::string message,
                             std::vector<ElectionOutcome> outcomes) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  ElectDone done = std::move(it->second.done);
  pending_.erase(it);
  done(error, std::move(message), std::move(outcomes));
}

void EtcdMetadataLog::unreachable(const Status& status) {
  if (status.code != Status::kUnavailable) return;
  if (reachable_) LOG_WARN("cluster", "etcd is unreachable: %s", status.message.c_str());
  reachable_ = false;
}

void EtcdMetadataLog::retry_later(std::function<void()> fn) {
  if (stopping_) return;
  retry_fns_.push_back(std::move(fn));
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(retry_))) return;
  backoff_ms_ = backoff_ms_ == 0 ? options_.retry_backoff_ms
                                 : std::min(backoff_ms_ * 2, options_.retry_backoff_max_ms);
  start_timer(retry_, static_cast<std::uint64_t>(backoff_ms_), 0);
}

void EtcdMetadataLog::start_timer(uv_timer_t* t, std::uint64_t ms, std::uint64_t repeat) {
  uv_timer_start(
      t,
      [](uv_timer_t* h) {
        auto* self = static_cast<EtcdMetadataLog*>(h->data);
        if (h == self->lease_timer_) {
          self->lease_confirmed_ = false;
          LOG_WARN("cluster",
                   "broker %d could not renew its lease %lld for its TTL: it may have lapsed",
                   self->options_.node_id, static_cast<long long>(self->lease_));
          if (self->on_lease_unconfirmed_) self->on_lease_unconfirmed_();
          return;
        }
        if (h == self->heartbeat_) {
          self->keepalive();
        } else if (h == self->deadlines_) {
          self->check_deadlines();
        } else {
          auto fns = std::move(self->retry_fns_);
          self->retry_fns_.clear();
          for (auto& fn : fns) fn();
        }
      },
      ms, repeat);
}

void EtcdMetadataLog::stop(std::function<void()> done) {
  stopping_ = true;
  if (watching_) kv_.cancel_watch(watch_id_);
  watching_ = false;
  uv_timer_stop(heartbeat_);
  uv_timer_stop(deadlines_);
  uv_timer_stop(retry_);
  uv_timer_stop(lease_timer_);
  retry_fns_.clear();
  while (!pending_.empty()) {
    finish(pending_.begin()->first, ErrorCode::kRequestTimedOut, "this broker is shutting down");
  }
  if (ready_) fail_start("stopped before the metadata was read");
  const std::int64_t lease = std::exchange(lease_, 0);
  if (lease == 0) {
    done();
    return;
  }
  // Revoking deletes this broker's key at once: the controller moves its
  // leaderships now instead of after the session timeout.
  kv_.lease_revoke(lease, [done = std::move(done)](Status) { done(); });
}

}  // namespace kgw
