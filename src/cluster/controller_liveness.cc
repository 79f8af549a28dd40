// Liveness of the Controller (controller.h): leadership moved off brokers
// that are fenced or shutting down and back onto returning ISR members (or,
// with unclean leader election, onto any live replica); controlled
// shutdown; producer id blocks.
#include <algorithm>
#include <memory>
#include <utility>
#include <variant>

#include "common/log.h"
#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"

namespace kgw {

namespace {

bool contains(const std::vector<std::int32_t>& v, std::int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

bool Controller::alive(const MetadataImage& image, std::int32_t id) const {
  const BrokerImage* b = image.broker(id);
  return b != nullptr && !b->fenced;
}

bool Controller::eligible(const MetadataImage& image, std::int32_t id) const {
  return alive(image, id) && shutting_down_.count(id) == 0;
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

// One pass over every partition (KRaft's rules): a broker that is not
// alive leaves the ISR unless it is its last member; a leader that is not
// alive (or shutting down, when another ISR member can lead) is replaced
// by the first replica in the ISR that is alive, leader epoch + 1; an
// offline partition gets a returning ISR member. A broker that registered
// a new incarnation counts as dead for one pass (its old incarnation's
// memberships go), except that it keeps a leadership nobody else can take,
// in a new leader epoch. None, and the topic
// allows unclean leader election: the first live replica outside the ISR
// leads, the ISR becomes it alone (what only the ISR had is lost). Any
// change bumps the partition epoch.
void Controller::liveness_pass(std::function<void()> done, int attempt) {
  defer(
      attempt == 0 ? 0 : options_.retry_ms, last_written_, true,
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
        auto can_lead = [&](std::int32_t id) {
          return eligible(*image, id) && restarted->count(id) == 0;
        };
        auto handled = [this, restarted] {
          for (std::int32_t id : *restarted) restarted_.erase(id);
        };
        auto updates = std::make_shared<std::vector<PartitionUpdate>>();
        for (const TopicPtr& t : image->topics()) {
          for (const PartitionImage& p : t->partitions) {
            PartitionImage n = p;
            n.isr.clear();
            for (std::int32_t r : p.isr) {
              if (can_lead(r)) n.isr.push_back(r);
            }
            if (n.isr.empty()) {
              // Only shutting-down (or restarted) members are alive: they
              // stay; none alive: the last leader (or first member) stays,
              // as KRaft never empties an ISR.
              for (std::int32_t r : p.isr) {
                if (alive(*image, r)) n.isr.push_back(r);
              }
              if (n.isr.empty() && !p.isr.empty()) {
                n.isr.push_back(contains(p.isr, p.leader) ? p.leader : p.isr.front());
              }
            }
            if (p.leader == -1 || !can_lead(p.leader)) {
              std::int32_t leader = -1;
              for (std::int32_t r : p.replicas) {
                if (contains(n.isr, r) && can_lead(r)) {
                  leader = r;
                  break;
                }
              }
              // A shutting-down leader with nobody to hand over to keeps
              // leading until its lease goes.
              if (leader == -1 && p.leader != -1 && alive(*image, p.leader)) leader = p.leader;
              if (leader == -1 && p.leader == -1) {
                for (std::int32_t r : p.replicas) {
                  if (contains(n.isr, r) && alive(*image, r)) {
                    leader = r;
                    break;
                  }
                }
              }
              if (leader == -1) leader = elect_unclean(*image, *t, n, can_lead);
              n.leader = leader;
            }
            const bool leader_changed = n.leader != p.leader;
            // A restarted leader that nobody else can replace leads again
            // in a new epoch: its followers truncate to its log, and its
            // old epoch's state is gone.
            const bool reelected = !leader_changed && n.leader != -1 && restarted->count(n.leader);
            if (!leader_changed && !reelected && n.isr == p.isr) continue;
            if (leader_changed || reelected) ++n.leader_epoch;
            ++n.partition_epoch;
            updates->push_back(
                PartitionUpdate{layout::partition_key(options_.prefix, t->id, p.index), n,
                                (leader_changed || reelected) && n.leader != -1});
          }
        }
        if (updates->empty()) {
          handled();
          done();
          return;
        }
        LOG_INFO("controller", "liveness: %zu partition(s) change leader or ISR", updates->size());
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
