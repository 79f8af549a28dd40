#include "src/proxy/copy_back.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include "all_messages.h"
#include "common/log.h"
#include "protocol/records/record_batch.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/forward.h"
#include "src/proxy/legacy_end.h"
#include "src/proxy/migration_state.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr const char* kLog = "migration";
// A connection of its own to each legacy leader: the copy's produce
// requests never wait behind a client's, the mirror's long polls (1, 2)
// or the cutover's questions (3).
constexpr std::int32_t kChannel = 4;
// The legacy leader's wait for its in-sync replicas (acks=all).
constexpr std::int32_t kProduceTimeoutMs = 30000;

// Errors after which the partition is asked again (its legacy leader may
// have moved, or the batch may have been written without an answer).
bool retriable(ErrorCode e) {
  switch (e) {
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kLeaderNotAvailable:
    case ErrorCode::kRequestTimedOut:
    case ErrorCode::kNotEnoughReplicas:
    case ErrorCode::kNotEnoughReplicasAfterAppend:
    case ErrorCode::kNetworkException:
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kKafkaStorageError:
    case ErrorCode::kDuplicateSequenceNumber:
    case ErrorCode::kThrottlingQuotaExceeded:
    case ErrorCode::kFencedLeaderEpoch:
    case ErrorCode::kUnknownLeaderEpoch:
      return true;
    default:
      return false;
  }
}

// Whether a legacy batch is kgw's batch as a Kafka leader stores it: the
// same offsets and the same bytes from the producer id on (a leader
// rewrites the base offset, the leader epoch and, for LogAppendTime, the
// max timestamp and the CRC; never the producer fields or the records).
bool same_batch(Bytes legacy, Bytes ours) {
  RecordBatchHeader a;
  RecordBatchHeader b;
  if (parse_record_batch_header(legacy, a) != RecordError::kNone ||
      parse_record_batch_header(ours, b) != RecordError::kNone) {
    return false;
  }
  constexpr std::int16_t kKind =
      RecordBatchHeader::kTransactionalBit | RecordBatchHeader::kControlBit;
  return a.base_offset == b.base_offset && a.last_offset_delta == b.last_offset_delta &&
         (a.attributes & kKind) == (b.attributes & kKind) && legacy.size() == ours.size() &&
         std::equal(legacy.begin() + RecordBatchHeader::kProducerIdAt, legacy.end(),
                    ours.begin() + RecordBatchHeader::kProducerIdAt);
}

std::int32_t leader_epoch_config(const std::map<std::string, std::string>& configs) {
  auto it = configs.find(std::string(kMigrationLeaderEpoch));
  std::int32_t epoch = 0;
  if (it != configs.end()) {
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), epoch);
  }
  return epoch;
}

}  // namespace

CopyBack::CopyBack(uv_loop_t* loop, Store& store, MetadataLog& metadata, Upstream& upstream,
                   CopyBackOptions options)
    : store_(store), metadata_(metadata), upstream_(upstream), options_(options), timers_(loop) {}

CopyBack::~CopyBack() {
  stop();
}

void CopyBack::start() {
  timer_ = timers_.schedule(0, [this] { scan(); });
}

void CopyBack::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  for (auto& [id, c] : topics_) unfence(c);
  timer_ = timers_.reset(timer_);
  timers_.stop();
}

void CopyBack::scan() {
  timer_ = 0;
  if (stopped_) return;
  const std::uint64_t now = timers_.now();
  bool busy = false;
  std::set<Uuid> seen;
  for (const TopicPtr& t : metadata_.image()->topics()) {
    if (PartitionResolver::migration_state(t->configs) != PartitionResolver::kRollback) continue;
    Topic& c = topics_[t->id];
    if (c.name.empty()) {
      c.name = t->name;
      LOG_INFO(kLog,
               "rollback of %s: copying what kgw wrote since the cutover back to the legacy "
               "cluster, at the same offsets; kgw serves the topic until then",
               t->name.c_str());
    }
    seen.insert(t->id);
    busy = step(*t, c, now) || busy;
  }
  // A topic no longer rolling back (switched, or gone): its fence goes;
  // answers still out find nothing to fill.
  for (auto it = topics_.begin(); it != topics_.end();) {
    if (seen.count(it->first) != 0) {
      ++it;
      continue;
    }
    unfence(it->second);
    it = topics_.erase(it);
  }
  timer_ = timers_.schedule(busy ? options_.busy_scan_interval_ms : options_.scan_interval_ms,
                            [this] { scan(); });
}

bool CopyBack::step(const TopicImage& t, Topic& c, std::uint64_t now) {
  if (!c.blocked.empty()) {
    unfence(c);
    if (!c.blocked_recorded) {
      // kgw.migration.diverged says why, once: `migrate status` shows it.
      c.blocked_recorded = true;
      const TopicPtr latest = metadata_.latest()->topic(t.id);
      if (latest != nullptr) {
        SetTopicConfigs change;
        change.id = t.id;
        change.configs = latest->configs;
        change.configs[std::string(kMigrationDiverged)] = "rollback stopped: " + c.blocked;
        metadata_.submit(std::move(change), [name = t.name](ErrorCode e, std::string message) {
          if (e != ErrorCode::kNone) {
            LOG_WARN(kLog, "rollback of %s: recording why it stopped failed (%s: %s)", name.c_str(),
                     error_name(e), message.c_str());
          }
        });
      }
    }
    return false;
  }
  if (c.switching) return true;
  // caught_up: the legacy log holds all of kgw's, nothing in flight here;
  // near: every partition copying, and what is left small enough to copy
  // within a quarter of the pause at the rate measured.
  bool caught_up = true;
  bool near = true;
  std::int64_t behind = 0;
  for (std::int32_t p = 0; p < t.partition_count(); ++p) {
    Part& part = c.parts[p];
    const PartitionState* st = store_.partition(t.id, p);
    if (st == nullptr) {
      caught_up = near = false;
      continue;
    }
    if (part.step != Step::kCopy || part.retry_at > now) {
      caught_up = near = false;
    } else {
      behind += std::max<std::int64_t>(0, st->high_watermark - part.legacy_end);
      if (part.legacy_end < st->high_watermark || st->log_end_offset != st->high_watermark ||
          part.in_flight || !part.queued.empty()) {
        caught_up = false;  // records to copy, or a write of kgw's in flight
      }
    }
    if (part.in_flight || part.retry_at > now) continue;
    switch (part.step) {
      case Step::kAsk:
        ask(t, p, part);
        break;
      case Step::kVerify:
        verify(t, p, part);
        break;
      case Step::kCopy:
        if (part.legacy_end < st->high_watermark) copy(t, p, part);
        break;
      case Step::kBlocked:
        break;
    }
    if (!c.blocked.empty()) return false;
  }
  if (now >= c.rate_at + 1000) {
    if (c.rate_at != 0) {
      c.rate = static_cast<double>(c.copied - c.copied_then) * 1000.0 /
               static_cast<double>(now - c.rate_at);
    }
    c.rate_at = now;
    c.copied_then = c.copied;
  }
  near = near && (caught_up || static_cast<double>(behind) <=
                                   c.rate * static_cast<double>(options_.max_pause_ms) / 4000.0);
  if (!c.fenced && now >= c.next_record) record_progress(t, c, now);
  if (c.fenced) {
    if (now - c.fenced_at > options_.max_pause_ms) {
      LOG_WARN(kLog,
               "rollback of %s: the legacy cluster did not take kgw's last records within "
               "%llu ms (migration.cutover.max.pause.ms); produce goes on at kgw, trying again "
               "in %llu ms",
               t.name.c_str(), static_cast<unsigned long long>(options_.max_pause_ms),
               static_cast<unsigned long long>(options_.retry_fence_ms));
      unfence(c);
      c.next_fence = now + options_.retry_fence_ms;
      return false;
    }
    // Every write kgw took for the topic answered: none can take an
    // offset after the switch.
    if (caught_up && upstream_.local_writes_in_flight(t.name) == 0) switch_topic(t, c, now);
    return true;
  }
  if (near && now >= c.next_fence) {
    // Produce is held from here; what is in flight is written, copied,
    // and the topic switches.
    c.fenced = true;
    c.fenced_at = now;
    upstream_.fence_writes(t.name, true);
    return true;
  }
  return false;
}

CopyBack::Part* CopyBack::part(const Uuid& id, std::int32_t p) {
  auto it = topics_.find(id);
  if (it == topics_.end()) return nullptr;
  auto pit = it->second.parts.find(p);
  return pit == it->second.parts.end() ? nullptr : &pit->second;
}

void CopyBack::unfence(Topic& c) {
  if (!c.fenced) return;
  c.fenced = false;
  upstream_.fence_writes(c.name, false);
}

void CopyBack::retry(const Uuid& id, std::int32_t p) {
  Part* part = this->part(id, p);
  if (part == nullptr) return;
  part->step = Step::kAsk;
  part->retry_at = timers_.now() + options_.backoff_ms;
  upstream_.refresh_soon();
}

BrokerConnection* CopyBack::leader_or_retry(const Uuid& id, const std::string& topic,
                                            std::int32_t p) {
  const std::int32_t leader = upstream_.leader(topic, p);
  BrokerConnection* conn = leader >= 0 ? upstream_.broker(leader, kChannel) : nullptr;
  if (conn == nullptr) retry(id, p);
  return conn;
}

CopyBack::Part* CopyBack::landed(const std::weak_ptr<bool>& alive, const Uuid& id, std::int32_t p) {
  if (alive.expired() || stopped_) return nullptr;
  Part* part = this->part(id, p);
  if (part != nullptr) part->in_flight = false;
  return part;
}

void CopyBack::scan_now() {
  timer_ = timers_.reset(timer_);
  timer_ = timers_.schedule(0, [this] { scan(); });
}

void CopyBack::block(const Uuid& id, std::int32_t p, std::string why) {
  auto it = topics_.find(id);
  if (it == topics_.end()) return;
  Topic& c = it->second;
  c.parts[p].step = Step::kBlocked;
  if (!c.blocked.empty()) return;
  c.blocked = "partition " + std::to_string(p) + ": " + why;
  LOG_ERROR(kLog,
            "rollback of %s stopped: %s; kgw keeps serving the topic (kgw-admin migrate status "
            "shows this)",
            c.name.c_str(), c.blocked.c_str());
}

void CopyBack::ask(const TopicImage& t, std::int32_t p, Part& part) {
  BrokerConnection* conn = leader_or_retry(t.id, t.name, p);
  if (conn == nullptr) return;
  // Where the legacy log is known to hold kgw's: what this copy has
  // seen answered, else where it ended at the switch.
  std::int64_t known = part.legacy_end;
  if (known < 0) {
    const auto ended = parse_legacy_end(migration_step(t.configs).legacy_end);
    auto e = ended.find(p);
    if (e == ended.end()) {
      block(t.id, p,
            "kgw.migration.legacy.end does not say where the legacy log ended at the cutover");
      return;
    }
    known = e->second;
  }
  part.in_flight = true;
  auto name = std::make_shared<std::string>(t.name);
  const ListOffsetsRequest req = latest_offsets_request(*name, {p}, 0);  // the high watermark
  std::weak_ptr<bool> alive = alive_;
  conn->call<ListOffsetsRequest, ListOffsetsResponse>(
      req,
      [this, alive, id = t.id, p, name, known](CallError e, const ListOffsetsResponse& resp) {
        Part* part = landed(alive, id, p);
        if (part == nullptr) return;
        if (e != CallError::kNone || resp.topics.size() != 1 ||
            resp.topics[0].partitions.size() != 1 || resp.topics[0].partitions[0].error_code != 0) {
          retry(id, p);
          return;
        }
        const std::int64_t hw = resp.topics[0].partitions[0].offset;
        if (hw < known) {
          block(id, p,
                "the legacy log ends at " + std::to_string(hw) + ", below " +
                    std::to_string(known) +
                    " where it held kgw's records: it lost records (an unclean election or "
                    "DeleteRecords there?)");
          return;
        }
        part->legacy_end = known;
        part->legacy_hw = hw;
        part->step = hw == known ? Step::kCopy : Step::kVerify;
        scan_now();
      },
      std::int16_t{1});
}

void CopyBack::verify(const TopicImage& t, std::int32_t p, Part& part) {
  BrokerConnection* conn = leader_or_retry(t.id, t.name, p);
  if (conn == nullptr) return;
  part.in_flight = true;
  auto name = std::make_shared<std::string>(t.name);
  FetchRequest req;
  req.replica_id = -1;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  req.max_bytes = options_.verify_max_bytes;
  req.isolation_level = 0;
  req.session_id = 0;
  req.session_epoch = -1;
  auto& rt = req.topics.emplace_back();
  rt.topic = *name;
  const UpstreamTopic* u = upstream_.topic(t.name);
  rt.topic_id = u != nullptr ? u->id : t.id;
  auto& rp = rt.partitions.emplace_back();
  rp.partition = p;
  rp.current_leader_epoch = -1;
  rp.fetch_offset = part.legacy_end;
  rp.last_fetched_epoch = -1;
  rp.log_start_offset = -1;
  rp.partition_max_bytes = options_.verify_max_bytes;
  std::weak_ptr<bool> alive = alive_;
  conn->call<FetchRequest, FetchResponse>(
      req, [this, alive, id = t.id, p, name](CallError e, const FetchResponse& resp) {
        if (alive.expired() || stopped_) return;
        Part* part = this->part(id, p);
        if (part == nullptr) return;
        if (e != CallError::kNone || resp.error_code != 0 || resp.responses.size() != 1 ||
            resp.responses[0].partitions.size() != 1 ||
            resp.responses[0].partitions[0].error_code != 0) {
          part->in_flight = false;
          retry(id, p);
          return;
        }
        const auto& records = resp.responses[0].partitions[0].records;
        auto legacy = std::make_shared<std::vector<std::uint8_t>>();
        if (records) legacy->assign(records->begin(), records->end());
        // kgw's batches over the same offsets.
        store_.read(
            id, p, part->legacy_end, options_.verify_max_bytes,
            [this, alive, id, p, name, legacy](ReadResult r) {
              Part* part = landed(alive, id, p);
              if (part == nullptr) return;
              if (!r.error.empty()) {
                retry(id, p);
                return;
              }
              std::vector<Bytes> theirs;
              std::vector<Bytes> ours;
              std::size_t tail = 0;
              split_record_batches(Bytes(*legacy), theirs, &tail);
              split_record_batches(Bytes(r.data), ours, &tail);
              std::size_t j = 0;
              for (const Bytes& b : theirs) {
                RecordBatchHeader h;
                if (parse_record_batch_header(b, h) != RecordError::kNone) break;
                if (h.last_offset() < part->legacy_end) continue;
                if (h.base_offset >= part->legacy_hw) break;
                if (j >= ours.size()) break;  // kgw's next read compares the rest
                if (!same_batch(b, ours[j])) {
                  block(id, p,
                        "the legacy log at offset " + std::to_string(h.base_offset) +
                            " is not kgw's record batch there (written around kgw?)");
                  return;
                }
                part->legacy_end = h.last_offset() + 1;
                ++j;
              }
              if (part->legacy_end >= part->legacy_hw) {
                LOG_INFO(kLog,
                         "rollback of %s: partition %d: the legacy log holds kgw's batches up "
                         "to %lld already (compared); copying on from there",
                         name->c_str(), p, static_cast<long long>(part->legacy_end));
                part->step = Step::kCopy;
              } else if (j == 0) {
                // Nothing compared: kgw's log ends below the legacy one's,
                // or the legacy leader sent nothing yet.
                const PartitionState* st = store_.partition(id, p);
                if (st != nullptr && st->high_watermark <= part->legacy_end) {
                  block(id, p,
                        "the legacy log goes on to " + std::to_string(part->legacy_hw) +
                            ", past kgw's " + std::to_string(st->high_watermark) +
                            " (written around kgw?)");
                  return;
                }
                part->retry_at = timers_.now() + options_.backoff_ms;
              }
              scan_now();
            },
            part->legacy_hw);
      });
}

void CopyBack::copy(const TopicImage& t, std::int32_t p, Part& part) {
  if (!part.queued.empty()) {
    send(t.id, p);
    return;
  }
  part.in_flight = true;
  std::weak_ptr<bool> alive = alive_;
  // Read ahead: the batches go out one per request, each as soon as the
  // one before is answered, without a read in between.
  store_.read(
      t.id, p, part.legacy_end, options_.read_ahead_bytes,
      [this, alive, id = t.id, p](ReadResult r) {
        Part* part = landed(alive, id, p);
        if (part == nullptr) return;
        if (!r.error.empty()) {
          retry(id, p);
          return;
        }
        std::vector<Bytes> batches;
        std::size_t tail = 0;
        split_record_batches(Bytes(r.data), batches, &tail);
        std::int64_t expected = part->legacy_end;
        for (const Bytes& b : batches) {
          RecordBatchHeader h;
          if (validate_record_batch(b, h) != RecordError::kNone) break;
          // What stops the copy is reported when the copy gets there.
          const bool first = part->queued.empty();
          if (h.base_offset != expected) {
            if (first) {
              block(id, p,
                    "kgw's log has no batch starting at " + std::to_string(expected) +
                        " (the next starts at " + std::to_string(h.base_offset) +
                        ": compacted or deleted since the cutover), and a Produce cannot leave "
                        "a gap");
              return;
            }
            break;
          }
          if (h.is_transactional() || h.is_control()) {
            if (first) {
              block(id, p,
                    "kgw's batch at offset " + std::to_string(expected) +
                        " belongs to a transaction, which only a transaction coordinator can "
                        "write to the legacy cluster");
              return;
            }
            break;
          }
          part->queued.push_back(std::make_shared<std::vector<std::uint8_t>>(b.begin(), b.end()));
          expected = h.last_offset() + 1;
        }
        send(id, p);
      },
      -1, true);
}

void CopyBack::send(const Uuid& id, std::int32_t p) {
  auto it = topics_.find(id);
  Part* part = this->part(id, p);
  if (it == topics_.end() || part == nullptr || part->queued.empty() || part->in_flight ||
      !it->second.blocked.empty()) {
    return;
  }
  auto name = std::make_shared<std::string>(it->second.name);
  BrokerConnection* conn = leader_or_retry(id, *name, p);
  if (conn == nullptr) {
    part->queued.clear();
    return;
  }
  std::shared_ptr<std::vector<std::uint8_t>> data = part->queued.front();
  RecordBatchHeader h;
  parse_record_batch_header(Bytes(*data), h);
  const std::int64_t at = part->legacy_end;
  const std::int64_t next = h.last_offset() + 1;
  part->in_flight = true;
  ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = kProduceTimeoutMs;
  auto& td = req.topic_data.emplace_back();
  td.name = *name;
  auto& pd = td.partition_data.emplace_back();
  pd.index = p;
  pd.records = Bytes(*data);
  std::weak_ptr<bool> alive = alive_;
  conn->call<ProduceRequest, ProduceResponse>(
      req, [this, alive, id, p, name, data, at, next](CallError e, const ProduceResponse& resp) {
        Part* part = landed(alive, id, p);
        if (part == nullptr) return;
        ErrorCode ec = forward_error(e);
        std::int64_t base = -1;
        if (e == CallError::kNone) {
          if (resp.responses.size() != 1 || resp.responses[0].partition_responses.size() != 1) {
            ec = ErrorCode::kUnknownServerError;
          } else {
            ec = static_cast<ErrorCode>(resp.responses[0].partition_responses[0].error_code);
            base = resp.responses[0].partition_responses[0].base_offset;
          }
        }
        if (ec == ErrorCode::kNone && base == at) {
          part->legacy_end = next;
          if (!part->queued.empty()) part->queued.pop_front();
          auto t = topics_.find(id);
          if (t != topics_.end()) t->second.copied += next - at;
          if (!part->queued.empty()) {
            send(id, p);
          } else {
            scan_now();
          }
          return;
        }
        // Never sent again blind: the partition is asked (and compared)
        // again first.
        part->queued.clear();
        if (ec == ErrorCode::kNone) {
          block(id, p,
                "the legacy leader put kgw's batch at offset " + std::to_string(base) +
                    ", not at " + std::to_string(at) + " (its log moved around kgw)");
          return;
        }
        if (retriable(ec) || e != CallError::kNone) {
          LOG_INFO(kLog, "rollback of %s: partition %d: copying offset %lld: %s; asking again",
                   name->c_str(), p, static_cast<long long>(at), error_name(ec));
          retry(id, p);
          return;
        }
        block(id, p,
              "the legacy leader refused kgw's batch at offset " + std::to_string(at) + " (" +
                  error_name(ec) + ")");
      });
}

void CopyBack::record_progress(const TopicImage& t, Topic& c, std::uint64_t now) {
  c.next_record = now + options_.record_interval_ms;
  const TopicPtr latest = metadata_.latest()->topic(t.id);
  if (latest == nullptr ||
      PartitionResolver::migration_state(latest->configs) != PartitionResolver::kRollback) {
    return;
  }
  const MigrationStep was = migration_step(latest->configs);
  std::map<std::int32_t, std::int64_t> ends = parse_legacy_end(was.legacy_end);
  for (const auto& [p, part] : c.parts) {
    if (part.legacy_end >= 0) ends[p] = part.legacy_end;
  }
  std::string now_end = format_legacy_end(ends);
  if (now_end == was.legacy_end) return;
  SetTopicConfigs change;
  change.id = t.id;
  change.configs = latest->configs;
  change.configs[std::string(kMigrationLegacyEnd)] = std::move(now_end);
  metadata_.submit(std::move(change), [name = t.name](ErrorCode e, std::string message) {
    if (e != ErrorCode::kNone) {
      LOG_WARN(kLog, "rollback of %s: recording its progress failed (%s: %s)", name.c_str(),
               error_name(e), message.c_str());
    }
  });
}

void CopyBack::switch_topic(const TopicImage& t, Topic& c, std::uint64_t now) {
  const TopicPtr latest = metadata_.latest()->topic(t.id);
  if (latest == nullptr ||
      PartitionResolver::migration_state(latest->configs) != PartitionResolver::kRollback) {
    return;
  }
  c.switching = true;
  std::map<std::int32_t, std::int64_t> ends;
  for (const auto& [p, part] : c.parts) ends[p] = part.legacy_end;
  SetTopicConfigs change;
  change.id = t.id;
  change.configs = latest->configs;
  change.configs[std::string(PartitionResolver::kMigrationState)] =
      std::string(PartitionResolver::kUpstreamState);
  change.configs[std::string(kMigrationLegacyEnd)] = format_legacy_end(ends);
  change.configs.erase(std::string(kMigrationDiverged));
  // kgw's copy stays as it is now, the fallback the legacy copy was: no
  // retention or cleaning (a later `migrate start` mirrors on from its
  // end; its cutover brings the legacy topic's configs back).
  change.configs["retention.ms"] = "-1";
  change.configs["retention.bytes"] = "-1";
  change.configs["cleanup.policy"] = "delete";
  const std::int32_t epoch = leader_epoch_config(latest->configs);
  const std::uint64_t held_since = c.fenced_at;
  std::weak_ptr<bool> alive = alive_;
  metadata_.submit(std::move(change), [this, alive, id = t.id, name = t.name, epoch, held_since,
                                       now](ErrorCode e, std::string message) {
    if (alive.expired() || stopped_) return;
    auto it = topics_.find(id);
    if (e != ErrorCode::kNone) {
      LOG_ERROR(kLog,
                "rollback of %s: switching to the legacy cluster failed (%s: %s); trying again",
                name.c_str(), error_name(e), message.c_str());
      if (it != topics_.end()) {
        it->second.switching = false;
        unfence(it->second);
        it->second.next_fence = now + options_.retry_fence_ms;
      }
      return;
    }
    // Clients hold kgw's leader epoch: never go below it.
    upstream_.set_epoch_floor(name, epoch);
    if (it != topics_.end()) unfence(it->second);
    LOG_INFO(kLog,
             "rollback of %s: the legacy cluster serves it again, with every record kgw took "
             "(produce was held for %llu ms)",
             name.c_str(), static_cast<unsigned long long>(timers_.now() - held_since));
  });
}

}  // namespace kgw
