// Election, requests and deferred work of the Controller (controller.h);
// liveness, controlled shutdown and producer ids are in
// controller_liveness.cc.
#include "src/cluster/controller.h"

#include <algorithm>
#include <random>
#include <utility>
#include <variant>

#include "common/log.h"
#include "src/cluster/alter_partition.h"
#include "src/cluster/etcd_layout.h"

namespace kgw {

namespace {

Uuid random_uuid() {
  static std::mt19937_64 gen{std::random_device{}()};
  for (;;) {
    Uuid id;
    for (std::size_t i = 0; i < id.bytes.size(); i += 8) {
      std::uint64_t r = gen();
      for (std::size_t j = 0; j < 8; ++j) id.bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x40);  // version 4
    id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // IETF variant
    // Kafka never hands out an id whose text starts with '-' (it would read
    // as a command-line flag).
    if (layout::uuid_base64(id).front() != '-') return id;
  }
}

}  // namespace

Controller::Controller(uv_loop_t* loop, etcd::KvApi& kv, MetadataLog& log,
                       ControllerOptions options)
    : loop_(loop), kv_(kv), log_(log), options_(std::move(options)) {
  tick_.init(loop_);
  cancel_tick_.init(loop_);
  log_.add_listener(guarded([this](const MetadataImage& before, const MetadataImage&,
                                   const MetadataChange& change) { on_change(before, change); }));
}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  if (started_ || stopped_) return;
  started_ = true;
  campaign();
}

void Controller::stop() {
  if (stopped_) return;
  stopped_ = true;
  alive_token_.reset();
  // stop() may run inside a watch callback of ours (a controlled
  // shutdown ends in one), so the watches are cancelled on the next turn of
  // the loop; their callbacks are guarded, so none acts meanwhile.
  cancel_watch_later(controller_watch_);
  cancel_watch_later(requests_watch_);
  deferred_.clear();
  tick_.close();
  acting_ = false;
  elected_ = false;
}

etcd::Compare Controller::epoch_compare() const {
  return etcd::Compare{layout::controller_key(options_.prefix), etcd::Compare::kCreate,
                       etcd::Compare::kEqual, epoch_, ""};
}

void Controller::cancel_watch_later(std::optional<std::uint64_t>& id) {
  if (!id) return;
  const std::uint64_t w = *id;
  id.reset();
  cancel_watch_soon(w);
}

void Controller::cancel_watch_soon(std::uint64_t id) {
  // Not through defer(): stop() drops deferred work, and a watch left open
  // keeps its HTTP stream, hence the loop, alive after a controlled
  // shutdown (on an etcd the operator runs, which stays up, kgw would
  // never exit). This timer outlives stop().
  cancelling_.push_back(id);
  cancel_tick_.start(1, [this] {
    cancel_tick_.stop();
    for (std::uint64_t w : std::exchange(cancelling_, {})) kv_.cancel_watch(w);
  });
}

// --- Election ---

void Controller::campaign() {
  if (stopped_ || !started_ || campaigning_ || elected_ || leaving_) return;
  const std::int64_t lease = options_.lease ? options_.lease() : 0;
  if (lease == 0) {
    defer(options_.retry_ms, 0, false, [this] { campaign(); });
    return;
  }
  campaigning_ = true;
  const std::string key = layout::controller_key(options_.prefix);
  etcd::TxnRequest t;
  t.compare.push_back(etcd::Compare{key, etcd::Compare::kCreate, etcd::Compare::kEqual, 0, ""});
  t.success.push_back(
      etcd::Op{etcd::Op::kPut, key, "",
               layout::encode_controller(layout::ControllerRecord{options_.node_id}), lease});
  t.failure.push_back(etcd::Op{etcd::Op::kRange, key, "", "", 0});
  kv_.txn(std::move(t), guarded([this, lease](etcd::Status s, etcd::TxnResult r) {
            campaigning_ = false;
            if (!s.ok()) {
              defer(options_.retry_ms, 0, false, [this] { campaign(); });
              return;
            }
            if (r.succeeded) {
              become_controller(r.revision);
              watch_controller(r.revision + 1);
              return;
            }
            if (r.ranges.empty() || r.ranges[0].kvs.empty()) {
              // Deleted between the compare and now: try again.
              defer(0, 0, false, [this] { campaign(); });
              return;
            }
            const etcd::KeyValue& held = r.ranges[0].kvs[0];
            layout::ControllerRecord rec;
            // Our own key from before (same lease): still our term.
            if (held.lease == lease && layout::decode_controller(held.value, rec).empty() &&
                rec.id == options_.node_id) {
              become_controller(held.create_revision);
            }
            watch_controller(r.ranges[0].revision + 1);
          }));
}

void Controller::watch_controller(std::int64_t from_revision) {
  cancel_watch_later(controller_watch_);
  const std::uint64_t gen = ++controller_watch_gen_;
  const std::string key = layout::controller_key(options_.prefix);
  controller_watch_ = kv_.watch(
      key, "", from_revision, guarded([this, gen](std::int64_t, std::vector<etcd::Event> events) {
        if (gen != controller_watch_gen_) return;
        for (const etcd::Event& e : events) {
          if (e.type != etcd::Event::kDelete) continue;
          ++controller_watch_gen_;
          cancel_watch_later(controller_watch_);
          step_down("the controller key was deleted");
          campaign();
          return;
        }
      }),
      guarded([this, gen](etcd::Status) {
        if (gen != controller_watch_gen_) return;
        controller_watch_.reset();
        defer(options_.retry_ms, 0, false, [this] { recheck_controller(); });
      }));
}

// After the controller watch broke: read the key again and follow on.
void Controller::recheck_controller() {
  if (!elected_) {
    campaign();  // wins, or watches the holder
    return;
  }
  const std::string key = layout::controller_key(options_.prefix);
  kv_.range(key, "", 0, guarded([this](etcd::Status s, etcd::RangeResult r) {
              if (!s.ok()) {
                defer(options_.retry_ms, 0, false, [this] { recheck_controller(); });
                return;
              }
              if (r.kvs.empty() || r.kvs[0].create_revision != epoch_) {
                step_down("the controller key is not ours any more");
                campaign();
                return;
              }
              watch_controller(r.revision + 1);
            }));
}

void Controller::lease_unconfirmed() {
  if (stopped_ || !elected_) return;
  ++controller_watch_gen_;
  cancel_watch_later(controller_watch_);
  step_down("its lease could not be renewed within its TTL: it may have lapsed");
  defer(options_.retry_ms, 0, false, [this] { campaign(); });
}

void Controller::become_controller(std::int64_t epoch) {
  elected_ = true;
  epoch_ = epoch;
  ++term_;
  last_written_ = epoch;
  LOG_INFO("controller", "node %d elected controller, epoch %lld", options_.node_id,
           static_cast<long long>(epoch));
  // Decide nothing before the image shows everything up to the election.
  defer(0, epoch, true, [this] {
    acting_ = true;
    liveness_dirty_ = true;  // brokers fenced before this term
    load_requests();
    schedule_rebalance();
    pump();
  });
}

void Controller::step_down(const char* why) {
  if (!elected_) return;
  LOG_INFO("controller", "node %d stops being controller (epoch %lld): %s", options_.node_id,
           static_cast<long long>(epoch_), why);
  elected_ = false;
  acting_ = false;
  ++term_;
  requests_.clear();
  busy_ = false;
  liveness_dirty_ = false;
  rebalance_due_ = false;
  shutting_down_.clear();
  cancel_watch_later(requests_watch_);
  auto waiters = std::move(liveness_waiters_);
  liveness_waiters_.clear();
  for (auto& w : waiters) w();
}

// --- Requests ---

void Controller::load_requests() {
  const std::uint64_t term = term_;
  const std::string prefix = layout::requests_prefix(options_.prefix);
  kv_.range(prefix, etcd::prefix_end(prefix), 0,
            guarded([this, term, prefix](etcd::Status s, etcd::RangeResult r) {
              if (!current(term)) return;
              if (!s.ok()) {
                defer(options_.retry_ms, 0, true, [this] { load_requests(); });
                return;
              }
              for (etcd::KeyValue& kv : r.kvs) {
                requests_[{kv.create_revision, kv.key}] = std::move(kv);
              }
              cancel_watch_later(requests_watch_);
              requests_watch_ = kv_.watch(
                  prefix, etcd::prefix_end(prefix), r.revision + 1,
                  guarded([this, term](std::int64_t, std::vector<etcd::Event> events) {
                    if (!current(term)) return;
                    for (etcd::Event& e : events) {
                      if (e.type == etcd::Event::kPut) {
                        requests_[{e.kv.create_revision, e.kv.key}] = std::move(e.kv);
                        continue;
                      }
                      for (auto it = requests_.begin(); it != requests_.end();) {
                        it = it->first.second == e.kv.key ? requests_.erase(it) : std::next(it);
                      }
                    }
                    pump();
                  }),
                  guarded([this, term](etcd::Status) {
                    if (!current(term)) return;
                    requests_watch_.reset();
                    defer(options_.retry_ms, 0, true, [this] { load_requests(); });
                  }));
              pump();
            }));
}

void Controller::pump() {
  if (!acting_ || busy_) return;
  if (liveness_dirty_) {
    busy_ = true;
    liveness_dirty_ = false;
    auto waiters = std::move(liveness_waiters_);
    liveness_waiters_.clear();
    const std::uint64_t term = term_;
    liveness_pass(
        [this, term, waiters = std::move(waiters)] {
          for (const auto& w : waiters) w();
          if (current(term)) finish_job();
        },
        0);
    return;
  }
  if (rebalance_due_) {
    busy_ = true;
    rebalance_due_ = false;
    const std::uint64_t term = term_;
    rebalance_pass(
        [this, term] {
          if (current(term)) finish_job();
        },
        0);
    return;
  }
  if (requests_.empty()) return;
  busy_ = true;
  process_request(requests_.begin()->second, 0);
}

void Controller::finish_job() {
  busy_ = false;
  pump();
}

void Controller::process_request(etcd::KeyValue request, int attempt) {
  // Decide on an image that shows this term's previous writes.
  defer(attempt == 0 ? 0 : options_.retry_ms, last_written_, true,
        [this, request = std::move(request), attempt] {
          ImagePtr image = log_.image();
          const std::int64_t revision = options_.image_revision();
          MetadataChange change;
          std::string message;
          ErrorCode error = ErrorCode::kNone;
          const std::string bad = layout::decode_change(request.value, change);
          if (!bad.empty()) {
            error = ErrorCode::kInvalidRequest;
            message = "The metadata request cannot be read: " + bad;
          } else if (attempt >= options_.max_attempts) {
            error = ErrorCode::kRequestTimedOut;
            message = "The controller could not apply the change in time; try again.";
          } else if (const auto* f = std::get_if<FenceBroker>(&change)) {
            // A broker's controlled shutdown: move its leadership away,
            // then answer.
            shutting_down_.insert(f->id);
            const std::uint64_t term = term_;
            liveness_pass(
                [this, term, request, attempt] {
                  if (current(term)) commit_request(request, Ops{}, ErrorCode::kNone, "", attempt);
                },
                0);
            return;
          } else if (const auto* e = std::get_if<ElectLeaders>(&change)) {
            error = image->check(change, message);
            if (error == ErrorCode::kNone) {
              commit_election(request, *e, *image, revision, attempt);
              return;
            }
          } else if (Ops rest; resumes(change, *image, rest)) {
            write_chunks(request, std::make_shared<std::vector<etcd::Op>>(std::move(rest.ops)), 0,
                         attempt);
            return;
          } else {
            error = image->check(change, message);
            if (error == ErrorCode::kNone) error = complete(change, *image, message);
            // A refused ISR change is worth a line, as Kafka's controller
            // logs it: the leader keeps its ISR.
            if (error != ErrorCode::kNone && std::holds_alternative<AlterPartition>(change)) {
              LOG_INFO("controller", "%s", message.c_str());
            }
          }
          Ops ops;
          if (error == ErrorCode::kNone) {
            ops = ops_of(change, *image, revision);
            if (ops.ops.size() + 2 > options_.max_txn_ops) {
              commit_in_chunks(request, change, std::move(ops), attempt);
              return;
            }
          }
          commit_request(request, std::move(ops), error, std::move(message), attempt);
        });
}

void Controller::commit_request(const etcd::KeyValue& request, Ops ops, ErrorCode error,
                                std::string message, int attempt,
                                std::vector<ElectionOutcome> outcomes) {
  const std::string& p = options_.prefix;
  const layout::ParsedKey k = layout::parse_key(p, request.key);
  etcd::TxnRequest t;
  t.compare.push_back(epoch_compare());
  t.compare.push_back(
      etcd::Compare{request.key, etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
  for (etcd::Compare& c : ops.compare) t.compare.push_back(std::move(c));
  t.success = std::move(ops.ops);
  t.success.push_back(etcd::Op{etcd::Op::kDelete, request.key, "", "", 0});
  if (k.kind == layout::ParsedKey::kRequest) {
    t.success.push_back(
        etcd::Op{etcd::Op::kPut, layout::result_key(p, k.id, k.seq), "",
                 layout::encode_result(layout::ChangeResult{error, message, std::move(outcomes)}),
                 request.lease});
  }
  t.failure.push_back(etcd::Op{etcd::Op::kRange, layout::controller_key(p), "", "", 0});
  t.failure.push_back(etcd::Op{etcd::Op::kRange, request.key, "", "", 0});
  const std::uint64_t term = term_;
  const bool changes_image = ops.changes_image;
  kv_.txn(std::move(t),
          guarded([this, term, request, attempt, changes_image](etcd::Status s, etcd::TxnResult r) {
            if (!current(term)) return;
            if (!request_written(request, s, r, changes_image, attempt)) return;
            if (changes_image) last_written_ = r.revision;
            forget_request(request);
          }));
}

void Controller::forget_request(const etcd::KeyValue& request) {
  requests_.erase({request.create_revision, request.key});
  finish_job();
}

// The outcome of a txn that writes a request's decision (it compares the
// controller epoch and the request key, and ranges both on failure).
// True when it succeeded; otherwise the request is retried, answered,
// forgotten or left to the next controller here.
bool Controller::request_written(const etcd::KeyValue& request, const etcd::Status& s,
                                 const etcd::TxnResult& r, bool changes_image, int attempt) {
  if (!s.ok()) {
    LOG_WARN("controller", "request %s not written: %s", request.key.c_str(), s.message.c_str());
    if (s.code == etcd::Status::kFailed && changes_image) {
      // etcd refused the writes themselves (too many ops, too large):
      // retrying cannot help; answer so.
      commit_request(request, Ops{}, ErrorCode::kUnknownServerError,
                     "The metadata store refused the change: " + s.message, attempt + 1);
    } else {
      process_request(request, attempt + 1);
    }
    return false;
  }
  if (r.succeeded) return true;
  if (r.ranges.size() < 2 || r.ranges[0].kvs.empty() ||
      r.ranges[0].kvs[0].create_revision != epoch_) {
    step_down("a write was refused: another broker is controller");
    campaign();
  } else if (r.ranges[1].kvs.empty()) {
    forget_request(request);  // the requester went away (its lease lapsed)
  } else {
    process_request(request, attempt + 1);  // what the decision read changed: decide again
  }
  return false;
}

void Controller::commit_in_chunks(etcd::KeyValue request, const MetadataChange& change, Ops ops,
                                  int attempt) {
  const std::size_t head = std::min(ops.ops.size(), options_.max_txn_ops - 1);
  etcd::TxnRequest t;
  t.compare.push_back(epoch_compare());
  t.compare.push_back(
      etcd::Compare{request.key, etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
  for (etcd::Compare& c : ops.compare) t.compare.push_back(std::move(c));
  t.success.assign(ops.ops.begin(), ops.ops.begin() + static_cast<std::ptrdiff_t>(head));
  // The decision goes back into the request: a controller that takes over
  // half way resumes it instead of refusing a topic that now exists.
  request.value = layout::encode_change(change);
  t.success.push_back(etcd::Op{etcd::Op::kPut, request.key, "", request.value, request.lease});
  t.failure.push_back(
      etcd::Op{etcd::Op::kRange, layout::controller_key(options_.prefix), "", "", 0});
  t.failure.push_back(etcd::Op{etcd::Op::kRange, request.key, "", "", 0});
  auto rest = std::make_shared<std::vector<etcd::Op>>(
      ops.ops.begin() + static_cast<std::ptrdiff_t>(head), ops.ops.end());
  const std::uint64_t term = term_;
  kv_.txn(std::move(t),
          guarded([this, term, request, rest, attempt](etcd::Status s, etcd::TxnResult r) {
            if (!current(term) || !request_written(request, s, r, true, attempt)) return;
            last_written_ = r.revision;
            write_chunks(request, rest, 0, attempt);
          }));
}

// The partition keys after the first txn, then the result. They do not
// compare the request: once the topic key is written its partitions are
// completed even if the requester went away.
void Controller::write_chunks(etcd::KeyValue request, std::shared_ptr<std::vector<etcd::Op>> ops,
                              std::size_t from, int attempt) {
  if (from >= ops->size()) {
    commit_request(request, Ops{}, ErrorCode::kNone, "", attempt);
    return;
  }
  const std::size_t to = std::min(ops->size(), from + options_.max_txn_ops - 1);
  etcd::TxnRequest t;
  t.compare.push_back(epoch_compare());
  t.success.assign(ops->begin() + static_cast<std::ptrdiff_t>(from),
                   ops->begin() + static_cast<std::ptrdiff_t>(to));
  const std::uint64_t term = term_;
  kv_.txn(std::move(t),
          guarded([this, term, request, ops, from, to, attempt](etcd::Status s, etcd::TxnResult r) {
            if (!current(term)) return;
            if (!s.ok()) {
              defer(options_.retry_ms, 0, true, [this, request, ops, from, attempt] {
                write_chunks(request, ops, from, attempt);
              });
              return;
            }
            if (!r.succeeded) {
              step_down("a write was refused: another broker is controller");
              campaign();
              return;
            }
            last_written_ = r.revision;
            write_chunks(request, ops, to, attempt);
          }));
}

ErrorCode Controller::complete(MetadataChange& change, const MetadataImage& image,
                               std::string& message) {
  if (auto* c = std::get_if<CreateTopic>(&change)) {
    while (c->id.is_zero() || image.topic(c->id) != nullptr) {
      c->id = options_.new_topic_id ? options_.new_topic_id() : random_uuid();
    }
    if (!c->assignments.empty()) return ErrorCode::kNone;
    return place_replicas(live_brokers(image), c->partitions, c->replication_factor,
                          options_.placement, c->assignments, message);
  }
  if (auto* c = std::get_if<CreatePartitions>(&change)) {
    if (!c->assignments.empty()) return ErrorCode::kNone;
    TopicPtr t = image.topic(c->id);
    const std::int32_t rf =
        t->partitions.empty() ? 1 : static_cast<std::int32_t>(t->partitions[0].replicas.size());
    PlacementOptions o = options_.placement;
    o.first_partition = t->partition_count();
    const std::vector<PlacementBroker> live = live_brokers(image);
    if (!o.start_index && !t->partitions.empty() && !t->partitions[0].replicas.empty()) {
      // Continue the round robin from partition 0's leader, as Kafka's
      // AddPartitions does.
      const auto arranged = rack_alternated(live);
      for (std::size_t i = 0; i < arranged.size(); ++i) {
        if (arranged[i].id == t->partitions[0].replicas[0])
          o.start_index = static_cast<std::int32_t>(i);
      }
    }
    return place_replicas(live, std::int64_t{c->total} - t->partition_count(), rf, o,
                          c->assignments, message);
  }
  if (const auto* a = std::get_if<AlterPartition>(&change)) {
    // check() passed; what only the controller knows: who is shutting down.
    return check_alter_partition(image, *a, shutting_down_, message);
  }
  if (std::holds_alternative<RegisterBroker>(change) ||
      std::holds_alternative<SetController>(change)) {
    message = std::string(change_name(change)) + " is not a request to the controller";
    return ErrorCode::kInvalidRequest;
  }
  return ErrorCode::kNone;
}

// --- Deferred work ---

void Controller::defer(std::uint64_t delay_ms, std::int64_t image_revision, bool this_term,
                       std::function<void()> fn) {
  if (stopped_) return;
  deferred_.push_back(
      Deferred{uv_now(loop_) + delay_ms, image_revision, this_term ? term_ : 0, std::move(fn)});
  schedule();
}

void Controller::image_advanced() {
  if (!stopped_ && !deferred_.empty()) schedule();
}

// The timer is set for the earliest work whose image revision is shown;
// work waiting for a revision is woken by image_advanced(), not polled.
// Work never runs inside defer() or image_advanced(): their callers are
// in the middle of something (a watch callback, a decision).
void Controller::schedule() {
  const std::uint64_t now = uv_now(loop_);
  const std::int64_t revision = options_.image_revision ? options_.image_revision() : 0;
  std::optional<std::uint64_t> next;
  for (const Deferred& d : deferred_) {
    if (d.image_revision > revision) continue;
    const std::uint64_t wait = d.due_ms > now ? d.due_ms - now : 0;
    if (!next || wait < *next) next = wait;
  }
  if (!next) {
    tick_.stop();
    return;
  }
  tick_.start(*next, [this] { on_tick(); });
}

void Controller::on_tick() {
  tick_.stop();
  const std::uint64_t now = uv_now(loop_);
  const std::int64_t revision = options_.image_revision ? options_.image_revision() : 0;
  std::vector<std::function<void()>> ready;
  std::vector<Deferred> waiting;
  for (Deferred& d : deferred_) {
    if (d.term != 0 && d.term != term_) continue;  // that term is over
    if (d.due_ms <= now && d.image_revision <= revision) {
      ready.push_back(std::move(d.fn));
    } else {
      waiting.push_back(std::move(d));
    }
  }
  deferred_ = std::move(waiting);
  for (auto& fn : ready) {
    if (stopped_) return;
    fn();
  }
  if (!stopped_) schedule();
}

}  // namespace kgw
