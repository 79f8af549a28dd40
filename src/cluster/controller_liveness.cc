// Liveness of the Controller (controller.h): leadership moved off brokers
// that are fenced or shutting down and back onto returning ISR members (or,
// with unclean leader election, onto any live replica); controlled
// shutdown; producer id blocks.
#include <algorithm>
#include <memory>
#include <utility>
#include <variant>

#include "common/log.h"
#include "src/cluster/alter_partition.h"
#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"

namespace kgw {

bool Controller::alive(const MetadataImage& image, std::int32_t id) const {
  const BrokerImage* b = image.broker(id);
  return b != nullptr && !b->fenced;
}

bool Controller::eligible(const MetadataImage& image, std::int32_t id) const {
  return alive(image, id) && shutting_down_.count(id) == 0 && !log_lost(image, id);
}

bool Controller::log_lost(const MetadataImage& image, std::int32_t id) const {
  const BrokerImage* b = image.broker(id);
  if (b == nullptr || !b->log_dir_replaced()) return false;
  auto it = lost_handled_.find(id);
  return it == lost_handled_.end() || it->second != b->log_dir_id;
}

void Controller::on_change(const MetadataImage& before, const MetadataChange& change) {
  if (const auto* r = std::get_if<RegisterBroker>(&change)) {
    // A new incarnation ends a controlled shutdown; a re-put of the same
    // registration does not.
    const BrokerImage* was = before.broker(r->broker.id);
    if (!r->broker.fenced && (was == nullptr || was->epoch != r->broker.epoch)) {
      shutting_down_.erase(r->broker.id);
    }
    // A new incarnation of a known broker (KIP-903, Kafka's
    // handleBrokerUncleanShutdown): whatever its ISR memberships and
    // leaderships say is of the old one, whose log it may not have any
    // more (a wiped disk, or a restart before its session lapsed).
    if (was != nullptr && was->epoch != r->broker.epoch) {
      restarted_[r->broker.id] = std::chrono::steady_clock::now();
    }
  } else if (!std::holds_alternative<FenceBroker>(change) &&
             !std::holds_alternative<SetTopicConfigs>(change) &&
             !std::holds_alternative<SetBrokerConfigs>(change)) {
    // Configs: unclean.leader.election.enable may have turned on for
    // partitions that are offline.
    return;
  }
  if (!elected_) return;
  liveness_dirty_ = true;
  pump();
}

// One pass over every partition: liveness_next (leader_election.h) with
// what this controller knows of the brokers. A broker that registered a
// new incarnation counts as restarted for one pass (its old
// incarnation's memberships go, though it keeps a leadership nobody else
// can take, in a new leader epoch); one whose log is not its previous
// incarnation's (a wiped disk, KIP-903) leaves every ISR and ELR and
// leads nothing. Any change bumps the partition epoch.
void Controller::liveness_pass(std::function<void()> done, int attempt) {
  defer(attempt == 0 ? 0 : options_.retry_ms, last_written_, true,
        [this, done = std::move(done), attempt]() mutable {
          ImagePtr image = log_.image();
          const std::int64_t revision = options_.image_revision();
          // Restarted brokers leave ISRs and leadership like dead ones
          // (unless nobody else can take them), once.
          std::erase_if(restarted_, [now = std::chrono::steady_clock::now()](const auto& r) {
            return now - r.second > kRestartMemory;
          });
          auto restarted = std::make_shared<std::set<std::int32_t>>();
          for (const auto& [id, when] : restarted_) restarted->insert(id);
          // Replaced logs this pass handles, once its writes are done.
          auto lost = std::make_shared<std::map<std::int32_t, std::string>>();
          for (const auto& [id, b] : image->brokers()) {
            if (log_lost(*image, id)) (*lost)[id] = b.log_dir_id;
          }
          auto handled = [this, restarted, lost] {
            for (std::int32_t id : *restarted) restarted_.erase(id);
            for (const auto& [id, dir] : *lost) lost_handled_[id] = dir;
            if (!lost->empty()) accept_log_dirs(*lost);
          };
          LivenessView view;
          view.alive = [&](std::int32_t id) { return alive(*image, id); };
          view.eligible = [&](std::int32_t id) { return eligible(*image, id); };
          view.restarted = [&](std::int32_t id) { return restarted->count(id) != 0; };
          view.log_lost = [&](std::int32_t id) { return lost->count(id) != 0; };
          auto updates = std::make_shared<std::vector<PartitionUpdate>>();
          for (const TopicPtr& t : image->topics()) {
            for (const PartitionImage& p : t->partitions) {
              LivenessOutcome o = liveness_next(p, min_isr(*image, *t, p), view,
                                                unclean_election_enabled(*image, *t));
              if (!o.changed) continue;
              const PartitionImage& n = o.next;
              if (o.unclean) {
                LOG_WARN("controller",
                         "%s-%d: unclean leader election: broker %d leads at leader epoch %d "
                         "without the log of the ISR %s and ELR %s; records only they had are "
                         "lost",
                         t->name.c_str(), p.index, n.leader, n.leader_epoch,
                         ids_text(p.isr).c_str(), ids_text(p.elr).c_str());
              } else if (o.from_elr) {
                LOG_INFO("controller",
                         "%s-%d: broker %d, an eligible leader replica (ELR %s), leads at leader "
                         "epoch %d: no ISR member %s can",
                         t->name.c_str(), p.index, n.leader, ids_text(p.elr).c_str(),
                         n.leader_epoch, ids_text(p.isr).c_str());
              }
              if (n.elr != p.elr || n.last_known_elr != p.last_known_elr) {
                LOG_INFO("controller",
                         "%s-%d: ISR %s -> %s, ELR %s -> %s, last known ELR %s -> %s, leader %d "
                         "-> %d",
                         t->name.c_str(), p.index, ids_text(p.isr).c_str(), ids_text(n.isr).c_str(),
                         ids_text(p.elr).c_str(), ids_text(n.elr).c_str(),
                         ids_text(p.last_known_elr).c_str(), ids_text(n.last_known_elr).c_str(),
                         p.leader, n.leader);
              }
              updates->push_back(
                  PartitionUpdate{layout::partition_key(options_.prefix, t->id, p.index), n,
                                  o.new_leader_epoch && n.leader != -1});
            }
          }
          if (updates->empty()) {
            handled();
            done();
            return;
          }
          LOG_INFO("controller", "liveness: %zu partition(s) change leader or ISR",
                   updates->size());
          // Written in chunks; a refused chunk reruns the whole pass on a
          // newer image.
          write_updates(
              updates, revision, 0,
              [done, handled] {
                handled();
                done();
              },
              [this, done, attempt] {
                if (attempt + 1 >= options_.max_attempts) {
                  LOG_WARN("controller", "liveness pass gave up after %d attempts", attempt + 1);
                  done();
                  return;
                }
                liveness_pass(done, attempt + 1);
              });
        });
}

void Controller::accept_log_dirs(const std::map<std::int32_t, std::string>& dirs) {
  for (const auto& [id, dir] : dirs) {
    const std::string key = layout::broker_key(options_.prefix, id);
    kv_.range(key, "", 0, guarded([this, key, dir = dir](etcd::Status s, etcd::RangeResult r) {
                if (!s.ok() || r.kvs.empty()) return;  // gone: a new incarnation says anew
                const etcd::KeyValue& kv = r.kvs[0];
                layout::BrokerRegistration reg;
                if (!layout::decode_broker(kv.value, reg).empty() || reg.log_dir_id != dir) return;
                reg.previous_log_dir_id.clear();
                etcd::TxnRequest t;
                t.compare.push_back(epoch_compare());
                t.compare.push_back(etcd::Compare{key, etcd::Compare::kCreate,
                                                  etcd::Compare::kEqual, kv.create_revision, ""});
                t.compare.push_back(etcd::Compare{key, etcd::Compare::kMod, etcd::Compare::kEqual,
                                                  kv.mod_revision, ""});
                t.success.push_back(
                    etcd::Op{etcd::Op::kPut, key, "", layout::encode_broker(reg), kv.lease});
                // Refused: the broker re-registered or another controller
                // took over; either reads the registration anew.
                kv_.txn(std::move(t), [](etcd::Status, etcd::TxnResult) {});
              }));
  }
}

void Controller::write_updates(Updates updates, std::int64_t revision, std::size_t from,
                               std::function<void()> done, std::function<void()> retry) {
  if (from >= updates->size()) {
    done();
    return;
  }
  const std::size_t to = std::min(updates->size(), from + options_.partitions_per_txn);
  etcd::TxnRequest t;
  t.compare.push_back(epoch_compare());
  std::set<std::int32_t> leaders;
  for (std::size_t i = from; i < to; ++i) {
    const PartitionUpdate& u = (*updates)[i];
    t.compare.push_back(
        etcd::Compare{u.key, etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
    t.compare.push_back(
        etcd::Compare{u.key, etcd::Compare::kMod, etcd::Compare::kLess, revision + 1, ""});
    if (u.new_leader) leaders.insert(u.state.leader);
    t.success.push_back(etcd::Op{etcd::Op::kPut, u.key, "", layout::encode_partition(u.state), 0});
  }
  // The new leaders are still registered.
  for (std::int32_t id : leaders) {
    t.compare.push_back(etcd::Compare{layout::broker_key(options_.prefix, id),
                                      etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
  }
  t.failure.push_back(
      etcd::Op{etcd::Op::kRange, layout::controller_key(options_.prefix), "", "", 0});
  const std::uint64_t term = term_;
  kv_.txn(std::move(t), guarded([this, term, updates, revision, to, done = std::move(done),
                                 retry = std::move(retry)](etcd::Status s, etcd::TxnResult r) {
            if (!current(term)) {
              done();
              return;
            }
            if (s.ok() && r.succeeded) {
              last_written_ = r.revision;
              write_updates(updates, revision, to, done, retry);
              return;
            }
            if (s.ok() && (r.ranges.empty() || r.ranges[0].kvs.empty() ||
                           r.ranges[0].kvs[0].create_revision != epoch_)) {
              done();
              step_down("a leader change was refused: another broker is controller");
              campaign();
              return;
            }
            retry();
          }));
}

// --- Controlled shutdown ---

void Controller::controlled_shutdown(std::function<void()> done) {
  leaving_ = true;
  auto once = std::make_shared<std::function<void()>>(std::move(done));
  auto finish = [once] {
    if (!*once) return;
    auto fn = std::move(*once);
    *once = nullptr;
    fn();
  };
  defer(options_.shutdown_timeout_ms, 0, false, finish);
  ImagePtr image = log_.image();
  bool others = false;
  for (const auto& [id, b] : image->brokers()) {
    if (id != options_.node_id && !b.fenced) others = true;
  }
  if (acting_) {
    if (others) {
      shutting_down_.insert(options_.node_id);
      liveness_dirty_ = true;
      liveness_waiters_.push_back([this, finish] { resign(finish); });
      pump();
    } else {
      resign(finish);
    }
    return;
  }
  if (elected_) {
    resign(finish);
    return;
  }
  if (!others) {
    finish();
    return;
  }
  // Ask the controller: a FenceBroker request for this broker means "move
  // my leadership away"; its result says it is done.
  const std::int64_t lease = options_.lease ? options_.lease() : 0;
  if (lease == 0) {
    // Unconfirmed: a request put without it would stay forever.
    finish();
    return;
  }
  const std::uint64_t seq = uv_hrtime();
  const std::string& p = options_.prefix;
  const std::string result = layout::result_key(p, options_.node_id, seq);
  kv_.put(layout::request_key(p, options_.node_id, seq),
          layout::encode_change(FenceBroker{options_.node_id}), lease,
          guarded([this, result, finish](etcd::Status s, std::int64_t revision) {
            if (!s.ok()) {
              finish();
              return;
            }
            auto watch = std::make_shared<std::uint64_t>(0);
            *watch = kv_.watch(
                result, "", revision + 1,
                guarded([this, result, finish, watch](std::int64_t, std::vector<etcd::Event>) {
                  cancel_watch_soon(*watch);
                  etcd::TxnRequest t;
                  t.success.push_back(etcd::Op{etcd::Op::kDelete, result, "", "", 0});
                  kv_.txn(std::move(t), [](etcd::Status, etcd::TxnResult) {});
                  finish();
                }),
                [finish](etcd::Status) { finish(); });
          }));
}

void Controller::resign(std::function<void()> done) {
  if (!elected_) {
    done();
    return;
  }
  const std::string key = layout::controller_key(options_.prefix);
  etcd::TxnRequest t;
  t.compare.push_back(epoch_compare());
  t.success.push_back(etcd::Op{etcd::Op::kDelete, key, "", "", 0});
  step_down("controlled shutdown");
  kv_.txn(std::move(t), guarded([done](etcd::Status, etcd::TxnResult) { done(); }));
}

// --- Producer ids ---

void Controller::allocate_producer_ids(std::int32_t count, ProducerIdsDone done,
                                       std::int64_t at_least) {
  producer_ids_attempt(count, at_least, std::move(done), 0);
}

void Controller::producer_ids_attempt(std::int32_t count, std::int64_t at_least,
                                      ProducerIdsDone done, int attempt) {
  if (attempt >= options_.max_attempts) {
    done(ErrorCode::kCoordinatorNotAvailable, -1, 0);
    return;
  }
  const std::string key = layout::producer_ids_key(options_.prefix);
  auto retry = [this, count, at_least, done, attempt](std::uint64_t delay) {
    defer(delay, 0, false, [this, count, at_least, done, attempt] {
      producer_ids_attempt(count, at_least, done, attempt + 1);
    });
  };
  kv_.range(key, "", 0,
            guarded([this, key, count, at_least, done, retry](etcd::Status s, etcd::RangeResult r) {
              if (!s.ok()) {
                retry(options_.retry_ms);
                return;
              }
              layout::ProducerIdBlock block;
              etcd::Compare cmp{key, etcd::Compare::kCreate, etcd::Compare::kEqual, 0, ""};
              if (!r.kvs.empty()) {
                const std::string bad = layout::decode_producer_ids(r.kvs[0].value, block);
                if (!bad.empty()) {
                  LOG_ERROR("controller", "%s cannot be read: %s", key.c_str(), bad.c_str());
                  done(ErrorCode::kUnknownServerError, -1, 0);
                  return;
                }
                cmp = etcd::Compare{key, etcd::Compare::kMod, etcd::Compare::kEqual,
                                    r.kvs[0].mod_revision, ""};
              }
              const std::int64_t first = std::max(block.next, at_least);
              etcd::TxnRequest t;
              t.compare.push_back(cmp);
              t.success.push_back(
                  etcd::Op{etcd::Op::kPut, key, "",
                           layout::encode_producer_ids(layout::ProducerIdBlock{first + count}), 0});
              kv_.txn(std::move(t), guarded([this, first, count, done, retry](etcd::Status ts,
                                                                              etcd::TxnResult tr) {
                        if (ts.ok() && tr.succeeded) {
                          done(ErrorCode::kNone, first, count);
                          return;
                        }
                        // Another broker took a block meanwhile: read again.
                        retry(ts.ok() ? 0 : options_.retry_ms);
                      }));
            }));
}

}  // namespace kgw
