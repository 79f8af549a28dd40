#include "src/proxy/cutover.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <set>
#include <variant>
#include <vector>

#include "all_messages.h"
#include "common/log.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/forward.h"
#include "src/proxy/legacy_end.h"
#include "src/proxy/migration_state.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr const char* kLog = "migration";
// Apart from the client forwards (0, 1) and the mirror's long polls (2): a
// cutover's questions never wait behind a long poll.
constexpr std::int32_t kChannel = 3;

}  // namespace

bool Cutover::partitions_by_leader(const TopicImage& t,
                                   std::map<std::int32_t, std::vector<std::int32_t>>& out,
                                   std::int32_t& no_leader) {
  out.clear();
  for (std::int32_t p = 0; p < t.partition_count(); ++p) {
    const std::int32_t leader = upstream_.leader(t.name, p);
    if (leader < 0) {
      no_leader = p;
      return false;
    }
    out[leader].push_back(p);
  }
  return true;
}

Cutover::Cutover(uv_loop_t* loop, const Store& store, const ProducerStateManager& producers,
                 MetadataLog& metadata, Upstream& upstream, CutoverOptions options)
    : store_(store),
      producers_(producers),
      metadata_(metadata),
      upstream_(upstream),
      options_(options),
      timers_(loop) {}

Cutover::~Cutover() {
  stop();
}

void Cutover::start() {
  timer_ = timers_.schedule(0, [this] { scan(); });
  // A step asked (a topic config changed) is taken at once, not at the
  // next scan: the producers' pause starts when the state is applied.
  std::weak_ptr<bool> alive = alive_;
  metadata_.add_listener(
      [this, alive](const MetadataImage&, const MetadataImage&, const MetadataChange& change) {
        if (alive.expired() || stopped_ || !std::holds_alternative<SetTopicConfigs>(change)) {
          return;
        }
        timer_ = timers_.reset(timer_);
        timer_ = timers_.schedule(0, [this] { scan(); });
      });
}

void Cutover::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  timer_ = timers_.reset(timer_);
  timers_.stop();
}

void Cutover::scan() {
  timer_ = 0;
  if (stopped_) return;
  const std::uint64_t now = timers_.now();
  bool busy = false;
  std::map<Uuid, Topic> seen;
  std::set<Uuid> watched;
  for (const TopicPtr& t : metadata_.image()->topics()) {
    const std::string_view state = PartitionResolver::migration_state(t->configs);
    // A topic once switched to kgw: clients may hold kgw's leader epoch
    // while the legacy cluster serves it (rolled back, migrating again).
    if (state != PartitionResolver::kLocal) set_epoch_floor(*t);
    if (state == PartitionResolver::kUpstreamState) {
      // Rolled back after its switch (a leader epoch set), kgw's copy
      // stays as it is: the fallback, and where a later start mirrors on.
      if (migration_step(t->configs).leader_epoch.empty()) roll_back(*t);
      continue;
    }
    if (state == PartitionResolver::kLocal) {
      const MigrationStep step = migration_step(t->configs);
      if (!step.finalized && !step.legacy_end.empty()) {
        watch(*t, now);
        watched.insert(t->id);
      }
      continue;
    }
    if (state != PartitionResolver::kCutover) continue;
    auto it = topics_.find(t->id);
    Topic c = it != topics_.end() ? std::move(it->second) : Topic{};
    if (c.started == 0) {
      c.name = t->name;
      c.started = now;
      LOG_INFO(kLog, "cutover of %s: produce fenced; catching up with the legacy cluster",
               t->name.c_str());
    }
    busy = step(*t, c, now) || busy;
    seen.emplace(t->id, std::move(c));
  }
  // A topic no longer in cutover (switched, abandoned, rolled back) starts
  // afresh if it comes back; answers still out find nothing to fill.
  topics_ = std::move(seen);
  for (auto it = watches_.begin(); it != watches_.end();) {
    it =
        watched.count(it->first) == 0 && !it->second.in_flight ? watches_.erase(it) : std::next(it);
  }
  for (auto it = dropping_.begin(); it != dropping_.end();) {
    it = metadata_.image()->topic(it->first) == nullptr ? dropping_.erase(it) : std::next(it);
  }
  timer_ = timers_.schedule(busy ? options_.busy_scan_interval_ms : options_.scan_interval_ms,
                            [this] { scan(); });
}

bool Cutover::step(const TopicImage& t, Topic& c, std::uint64_t now) {
  if (c.phase == Phase::kSwitching || c.phase == Phase::kDone) return c.phase == Phase::kSwitching;
  if (c.phase == Phase::kAbandoning || now - c.started > options_.max_pause_ms) {
    abandon(t, c);
    return false;
  }
  switch (c.phase) {
    case Phase::kDraining:
      // A transaction that added the topic's partitions on the legacy
      // cluster ends there first: its writes pass the fence (produce.cc),
      // and no transaction may add the topic meanwhile
      // (add_partitions_to_txn.cc), so this ends within the pause unless
      // the producer is stuck.
      if (std::string who; upstream_.txns().open_on(t.name, &who)) {
        c.held_by = "transaction " + who + " has the topic's partitions on the legacy cluster " +
                    "and has not ended";
        return true;
      }
      if (const int n = upstream_.produces_in_flight(t.name); n > 0) {
        c.held_by = std::to_string(n) + " produce request(s) forwarded to the legacy cluster " +
                    "still unanswered";
        return true;
      }
      c.phase = Phase::kAsking;
      [[fallthrough]];
    case Phase::kAsking:
      ask(t, c);
      return true;
    case Phase::kAsked:
      return true;  // answers out
    case Phase::kCatchingUp:
      break;
    default:
      return true;
  }
  if (!c.configs_done) {
    c.held_by = "the legacy topic's configs not answered yet";
    return true;
  }
  for (std::int32_t p = 0; p < t.partition_count(); ++p) {
    const PartitionState* st = store_.partition(t.id, p);
    auto hw = c.high_watermark.find(p);
    auto lso = c.last_stable.find(p);
    if (st == nullptr || hw == c.high_watermark.end() || lso == c.last_stable.end()) {
      c.held_by = "partition " + std::to_string(p) + ": no answer from its legacy leader";
      c.phase = Phase::kAsking;
      return true;
    }
    if (lso->second < hw->second) {
      // An open transaction: its end (commit or abort marker) is still to
      // come from the legacy cluster. Ask again.
      c.held_by = "partition " + std::to_string(p) + ": a transaction is open (last stable " +
                  "offset " + std::to_string(lso->second) + " < high watermark " +
                  std::to_string(hw->second) + ")";
      c.phase = Phase::kAsking;
      return true;
    }
    if (st->log_end_offset < hw->second) {
      c.held_by = "partition " + std::to_string(p) + ": kgw's copy ends at " +
                  std::to_string(st->log_end_offset) + ", the legacy high watermark is " +
                  std::to_string(hw->second);
      return true;
    }
    // The same seen in kgw's copy: the mirrored batches of a
    // transaction whose marker has not come (a legacy cluster that does
    // not say its last stable offset, as librdkafka's mock, is caught
    // here).
    if (const std::int64_t local_lso = producers_.last_stable_offset(t.id, p, st->log_end_offset);
        st->log_end_offset == hw->second && local_lso < st->log_end_offset) {
      c.held_by = "partition " + std::to_string(p) + ": a transaction is open (kgw's copy has " +
                  "its records from offset " + std::to_string(local_lso) + " and no marker yet)";
      c.phase = Phase::kAsking;
      return true;
    }
    if (st->log_end_offset > hw->second) {
      // The legacy high watermark went down (an unclean election there):
      // kgw's copy holds records the legacy log no longer has.
      c.held_by = "partition " + std::to_string(p) + ": kgw's copy ends at " +
                  std::to_string(st->log_end_offset) + ", past the legacy high watermark " +
                  std::to_string(hw->second) + " (the logs diverged)";
      c.phase = Phase::kAsking;
      return true;
    }
  }
  switch_topic(t, c, now);
  return true;
}

void Cutover::ask(const TopicImage& t, Topic& c) {
  // By legacy leader: the partitions to ask it about.
  std::map<std::int32_t, std::vector<std::int32_t>> by_leader;
  if (std::int32_t p = -1; !partitions_by_leader(t, by_leader, p)) {
    c.held_by = "partition " + std::to_string(p) + ": no known legacy leader";
    upstream_.refresh_soon();
    return;
  }
  if (!c.configs_asked) {
    c.configs_asked = true;
    ask_configs(t, c, by_leader.begin()->first);
  }
  c.high_watermark.clear();
  c.last_stable.clear();
  c.phase = Phase::kAsked;
  c.answers_pending = 0;
  c.ask_failed = false;
  const Uuid id = t.id;
  auto name = std::make_shared<std::string>(t.name);
  for (const auto& entry : by_leader) {
    // A plain local: lambdas below capture it (clang before 16 refuses a
    // structured binding there).
    const std::int32_t leader = entry.first;
    const std::vector<std::int32_t>& parts = entry.second;
    BrokerConnection* conn = upstream_.broker(leader, kChannel);
    if (conn == nullptr) {
      c.held_by = "legacy broker " + std::to_string(leader) + " is not reachable";
      c.phase = Phase::kAsking;
      upstream_.refresh_soon();
      return;
    }
    // Read uncommitted: the high watermark; read committed: the last
    // stable offset (ListOffsets v2+).
    for (std::int8_t isolation : {std::int8_t{0}, std::int8_t{1}}) {
      const ListOffsetsRequest req = latest_offsets_request(*name, parts, isolation);
      ++c.answers_pending;
      std::weak_ptr<bool> alive = alive_;
      conn->call<ListOffsetsRequest, ListOffsetsResponse>(
          req,
          [this, alive, id, name, isolation, leader](CallError e, const ListOffsetsResponse& resp) {
            if (alive.expired() || stopped_) return;
            auto it = topics_.find(id);
            if (it == topics_.end() || it->second.phase != Phase::kAsked) return;
            Topic& topic = it->second;
            bool ok = e == CallError::kNone;
            if (!ok)
              topic.held_by = std::string("legacy broker ") + std::to_string(leader) +
                              ": ListOffsets " + call_error_name(e);
            for (const auto& rt : resp.topics) {
              for (const auto& rp : rt.partitions) {
                if (rp.error_code != 0) {
                  ok = false;
                  topic.held_by = "partition " + std::to_string(rp.partition_index) +
                                  ": ListOffsets from legacy broker " + std::to_string(leader) +
                                  ": " + error_name(static_cast<ErrorCode>(rp.error_code));
                  continue;
                }
                (isolation == 0 ? topic.high_watermark : topic.last_stable)[rp.partition_index] =
                    rp.offset;
              }
            }
            if (!ok) {
              LOG_INFO(kLog, "cutover of %s: %s; asking again", name->c_str(),
                       topic.held_by.c_str());
              upstream_.refresh_soon();
              topic.ask_failed = true;
            }
            // A failed answer asks again (within the pause).
            if (--topic.answers_pending == 0) {
              topic.phase = topic.ask_failed ? Phase::kAsking : Phase::kCatchingUp;
            }
          },
          // v2 is all this needs (the isolation level). librdkafka's mock
          // cluster answers several partitions at v4+ in a layout that
          // does not decode (the second partition reads as -1).
          std::int16_t{2});
    }
  }
}

void Cutover::ask_configs(const TopicImage& t, Topic& c, std::int32_t leader) {
  // A connection of its own: a legacy broker that drops it for this API
  // does not fail the ListOffsets calls.
  BrokerConnection* conn = upstream_.broker(leader, kChannel + 1);
  if (conn == nullptr || !options_.check_topic_config) {
    c.configs_done = true;
    return;
  }
  auto name = std::make_shared<std::string>(t.name);
  DescribeConfigsRequest req;
  auto& r = req.resources.emplace_back();
  r.resource_type = 2;  // TOPIC
  r.resource_name = *name;
  r.configuration_keys = std::nullopt;  // all
  const Uuid id = t.id;
  std::weak_ptr<bool> alive = alive_;
  conn->call<DescribeConfigsRequest, DescribeConfigsResponse>(
      req, [this, alive, id, name](CallError e, const DescribeConfigsResponse& resp) {
        if (alive.expired() || stopped_) return;
        auto it = topics_.find(id);
        if (it == topics_.end()) return;
        Topic& topic = it->second;
        topic.configs_done = true;
        const auto* res = resp.results.size() == 1 ? &resp.results[0] : nullptr;
        if (e != CallError::kNone || res == nullptr || res->error_code != 0) {
          LOG_WARN(kLog,
                   "cutover of %s: the legacy topic's configs are not known (%s); kgw's copy "
                   "keeps its own (retention.ms=-1: set retention after the cutover)",
                   name->c_str(),
                   e != CallError::kNone ? call_error_name(e)
                   : res == nullptr      ? "no answer"
                                         : error_name(static_cast<ErrorCode>(res->error_code)));
          return;
        }
        topic.configs_known = true;
        for (const auto& cfg : res->configs) {
          // Not Kafka's default there (DescribeConfigs v1+: the source;
          // v0: is_default): a topic override or the legacy brokers' own
          // setting, which becomes the copy's override.
          constexpr std::int8_t kDefaultConfig = 5;
          const bool is_default =
              cfg.config_source >= 0 ? cfg.config_source == kDefaultConfig : cfg.is_default;
          if (is_default || cfg.is_sensitive || !cfg.value) continue;
          const std::string key(cfg.name);
          const std::string value(*cfg.value);
          if (std::string why = options_.check_topic_config(key, value); !why.empty()) {
            LOG_INFO(kLog, "cutover of %s: not copying the legacy config %s=%s (%s)", name->c_str(),
                     key.c_str(), value.c_str(), why.c_str());
            continue;
          }
          topic.legacy_configs[key] = value;
        }
      });
}

void Cutover::switch_topic(const TopicImage& t, Topic& c, std::uint64_t now) {
  // Checked against the newest image, with what is being written: a
  // rollback asked meanwhile wins (one node: changes apply in order).
  const TopicPtr latest = metadata_.latest()->topic(t.id);
  if (latest == nullptr ||
      PartitionResolver::migration_state(latest->configs) != PartitionResolver::kCutover) {
    c.phase = Phase::kDone;
    return;
  }
  // Above every epoch a client may hold for the topic (the legacy
  // leaders') and every epoch in kgw's copy (the mirrored batches').
  std::int32_t epoch = 0;
  if (const UpstreamTopic* u = upstream_.topic(t.name)) {
    for (std::int32_t e : u->leader_epochs) epoch = std::max(epoch, e);
  }
  for (std::int32_t p = 0; p < t.partition_count(); ++p) {
    if (const PartitionImage* pi = t.partition(p)) epoch = std::max(epoch, pi->leader_epoch);
    for (const auto& [e, offset] : store_.leader_epochs(t.id, p)) epoch = std::max(epoch, e);
  }
  SetTopicConfigs change;
  change.id = t.id;
  change.configs = latest->configs;
  change.configs[std::string(PartitionResolver::kMigrationState)] =
      std::string(PartitionResolver::kLocal);
  change.configs[std::string(PartitionResolver::kMigrationFinalized)] = "false";
  change.configs[std::string(kMigrationLeaderEpoch)] = std::to_string(epoch + 1);
  // The topic behaves as it did there: the legacy values, or kgw's
  // defaults where the legacy cluster had its defaults (never the copy's
  // own retention of -1, which only let the legacy log start lead).
  // Unknown legacy configs: the copy keeps its own (no retention beats a
  // retention the legacy topic may not have had).
  if (c.configs_known) {
    for (const char* mirror_only : {"retention.ms", "retention.bytes"}) {
      auto own = change.configs.find(mirror_only);
      if (own != change.configs.end() && own->second == "-1") change.configs.erase(own);
    }
    for (const auto& [name, value] : c.legacy_configs) change.configs[name] = value;
  }
  // Where the legacy log ended: the watch compares with it until finalize.
  change.configs[std::string(kMigrationLegacyEnd)] = format_legacy_end(c.high_watermark);
  change.configs.erase(std::string(kMigrationDiverged));
  c.phase = Phase::kSwitching;
  const Uuid id = t.id;
  const std::uint64_t fenced_ms = now - c.started;
  std::weak_ptr<bool> alive = alive_;
  metadata_.submit(std::move(change), [this, alive, id, name = t.name, fenced_ms, epoch](
                                          ErrorCode e, std::string message) {
    if (alive.expired() || stopped_) return;
    auto it = topics_.find(id);
    if (e != ErrorCode::kNone) {
      LOG_WARN(kLog, "cutover of %s: switching failed (%s: %s); trying again within the pause",
               name.c_str(), error_name(e), message.c_str());
      if (it != topics_.end()) it->second.phase = Phase::kAsking;
      return;
    }
    LOG_INFO(kLog,
             "cutover of %s: kgw serves it now, at leader epoch %d (produce was fenced for "
             "%llu ms); the legacy copy is kept until kgw-admin migrate finalize",
             name.c_str(), epoch + 1, static_cast<unsigned long long>(fenced_ms));
    if (it != topics_.end()) it->second.phase = Phase::kDone;
  });
}

void Cutover::abandon(const TopicImage& t, Topic& c) {
  c.phase = Phase::kDone;
  const TopicPtr latest = metadata_.latest()->topic(t.id);
  if (latest == nullptr ||
      PartitionResolver::migration_state(latest->configs) != PartitionResolver::kCutover) {
    return;
  }
  LOG_WARN(kLog,
           "cutover of %s abandoned after %llu ms (migration.cutover.max.pause.ms): %s; the "
           "topic is mirroring again and produce goes to the legacy cluster",
           t.name.c_str(), static_cast<unsigned long long>(options_.max_pause_ms),
           c.held_by.empty() ? "no answer yet" : c.held_by.c_str());
  SetTopicConfigs change;
  change.id = t.id;
  change.configs = latest->configs;
  change.configs[std::string(PartitionResolver::kMigrationState)] =
      std::string(PartitionResolver::kMirroring);
  std::weak_ptr<bool> alive = alive_;
  metadata_.submit(
      std::move(change), [this, alive, id = t.id, name = t.name](ErrorCode e, std::string message) {
        if (e == ErrorCode::kNone || alive.expired() || stopped_) return;
        // Still in cutover, its produce refused: the next scan tries again.
        LOG_ERROR(kLog, "cutover of %s: going back to mirroring failed (%s: %s); trying again",
                  name.c_str(), error_name(e), message.c_str());
        auto it = topics_.find(id);
        if (it != topics_.end()) it->second.phase = Phase::kAbandoning;
      });
}

void Cutover::watch(const TopicImage& t, std::uint64_t now) {
  Watch& w = watches_[t.id];
  if (w.in_flight || now < w.next) return;
  w.next = now + options_.watch_interval_ms;
  std::map<std::int32_t, std::vector<std::int32_t>> by_leader;
  if (std::int32_t p = -1; !partitions_by_leader(t, by_leader, p)) return;  // next time
  struct Answers {
    int pending = 0;
    bool failed = false;
    std::map<std::int32_t, std::int64_t> high_watermarks;
  };
  auto answers = std::make_shared<Answers>();
  auto name = std::make_shared<std::string>(t.name);
  const Uuid id = t.id;
  w.in_flight = true;
  answers->pending = 1;
  auto one_done = [this, id, answers] {
    if (--answers->pending != 0) return;
    auto it = watches_.find(id);
    if (it != watches_.end()) it->second.in_flight = false;
    if (!answers->failed) on_watched(id, answers->high_watermarks);
  };
  for (const auto& [leader, parts] : by_leader) {
    BrokerConnection* conn = upstream_.broker(leader, kChannel);
    if (conn == nullptr) {
      answers->failed = true;
      continue;
    }
    const ListOffsetsRequest req = latest_offsets_request(*name, parts, 0);
    ++answers->pending;
    std::weak_ptr<bool> alive = alive_;
    conn->call<ListOffsetsRequest, ListOffsetsResponse>(
        req,
        [alive, name, answers, one_done](CallError e, const ListOffsetsResponse& resp) {
          if (alive.expired()) return;
          answers->failed = answers->failed || e != CallError::kNone;
          for (const auto& rt : resp.topics) {
            for (const auto& rp : rt.partitions) {
              if (rp.error_code != 0) {
                answers->failed = true;
              } else {
                answers->high_watermarks[rp.partition_index] = rp.offset;
              }
            }
          }
          one_done();
        },
        std::int16_t{2});
  }
  one_done();
}

void Cutover::on_watched(const Uuid& id,
                         const std::map<std::int32_t, std::int64_t>& high_watermarks) {
  if (stopped_) return;
  const TopicPtr t = metadata_.latest()->topic(id);
  if (t == nullptr) return;
  const MigrationStep step = migration_step(t->configs);
  if (step.state != PartitionResolver::kLocal || step.finalized) return;
  const std::map<std::int32_t, std::int64_t> ended = parse_legacy_end(step.legacy_end);
  std::string diverged;
  for (const auto& [p, hw] : high_watermarks) {
    auto e = ended.find(p);
    if (e == ended.end() || e->second == hw) continue;
    diverged += (diverged.empty() ? "" : "; ") + std::string("partition ") + std::to_string(p) +
                ": the legacy high watermark is " + std::to_string(hw) + ", " +
                std::to_string(e->second) + " when kgw took over";
  }
  if (diverged.empty() || diverged == step.diverged) return;
  LOG_ERROR(kLog,
            "%s: the legacy cluster's copy changed after the cutover (%s): records reached it "
            "around kgw (a client still bootstrapped to it?) and the two logs have diverged; "
            "kgw serves its own log, the legacy records are not in it",
            t->name.c_str(), diverged.c_str());
  SetTopicConfigs change;
  change.id = id;
  change.configs = t->configs;
  change.configs[std::string(kMigrationDiverged)] = diverged;
  metadata_.submit(std::move(change), [name = t->name](ErrorCode e, std::string message) {
    if (e != ErrorCode::kNone) {
      LOG_WARN(kLog, "%s: recording the divergence failed (%s: %s)", name.c_str(), error_name(e),
               message.c_str());
    }
  });
}

void Cutover::roll_back(const TopicImage& t) {
  if (dropping_.count(t.id) != 0) return;
  dropping_[t.id] = true;
  LOG_INFO(kLog, "rollback of %s: dropping kgw's copy; the legacy cluster serves the topic",
           t.name.c_str());
  metadata_.submit(
      DeleteTopic{t.id}, [this, id = t.id, name = t.name, alive = std::weak_ptr<bool>(alive_)](
                             ErrorCode e, std::string message) {
        if (alive.expired() || stopped_) return;
        if (e != ErrorCode::kNone) {
          LOG_ERROR(kLog, "rollback of %s: dropping kgw's copy failed (%s: %s); trying again",
                    name.c_str(), error_name(e), message.c_str());
          dropping_.erase(id);
        }
      });
}

void Cutover::set_epoch_floor(const TopicImage& t) {
  // Clients hold kgw's leader epoch for the topic: forwarded requests and
  // Metadata answers take it into account (Upstream::epoch_floor).
  std::int32_t epoch = 0;
  const std::string e = migration_step(t.configs).leader_epoch;
  std::from_chars(e.data(), e.data() + e.size(), epoch);
  upstream_.set_epoch_floor(t.name, epoch);
}

}  // namespace kgw
