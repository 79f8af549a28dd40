#include "src/replica/coordinator_log.h"

#include <utility>

#include "common/clock.h"
#include "common/log.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "src/cluster/coordinator_placement.h"
#include "src/cluster/metadata_log.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"

namespace kgw {

namespace {

// One read of a partition's log while loading it.
constexpr std::int32_t kLoadReadBytes = 1 << 20;
// A batch of the internal topic inflates to at most this while loading.
constexpr std::size_t kMaxDecompressed = std::size_t{64} << 20;
// A failed read of the log is tried again after this.
constexpr std::uint64_t kLoadRetryMs = 1000;
// How often the topic is asked for while there is state to import.
constexpr std::uint64_t kAskTopicMs = 3000;
// One batch of imported keys holds at most this (of keys and values).
constexpr std::size_t kImportBatchBytes = std::size_t{256} << 10;

}  // namespace

CoordinatorLog::CoordinatorLog(MetadataLog& metadata, const PartitionResolver& resolver,
                               ReplicaManager& replicas, Store& store, CoordinatorState& state,
                               CoordinatorLogOptions options)
    : metadata_(metadata),
      resolver_(resolver),
      replicas_(replicas),
      store_(store),
      state_(state),
      options_(std::move(options)) {}

CoordinatorLog::~CoordinatorLog() {
  stop();
}

struct CoordinatorLog::Import {
  std::uint64_t load_id = 0;
  // The column family's keys of the partition, and those the log lacks.
  std::vector<std::string> keys;
  std::vector<RecordWrite> writes;
  std::size_t next = 0;  // writes[next...] are not appended yet
};

void CoordinatorLog::start() {
  const std::string error = state_.scan_local([this](std::string_view key, std::string_view value) {
    local_.emplace(std::string(key), std::string(value));
  });
  if (!error.empty()) {
    LOG_WARN("coordinator", "reading this node's own state for %s: %s (the rest is not imported)",
             options_.topic.c_str(), error.c_str());
  }
  if (!local_.empty()) {
    LOG_INFO("coordinator",
             "%zu key(s) of state this node kept before it joined a cluster: imported into %s as "
             "its partitions load here",
             local_.size(), options_.topic.c_str());
  }
  follow(*metadata_.image(), /*initial=*/true);
  // Listeners run after follow_leadership()'s (registered first), so the
  // replica manager already leads what the image gives this node.
  metadata_.add_listener([this, alive = alive_](const MetadataImage& before,
                                                const MetadataImage& after, const MetadataChange&) {
    if (!*alive) return;
    if (before.topic(options_.topic) == after.topic(options_.topic)) return;
    follow(after, /*initial=*/false);
  });
}

void CoordinatorLog::stop() {
  *alive_ = false;
}

bool CoordinatorLog::loading(std::string_view key) const {
  if (!*alive_ || partition_count_ == 0) return false;
  auto it = partitions_.find(coordinator_partition(key, partition_count_));
  return it != partitions_.end() && it->second.leading && !it->second.loaded;
}

bool CoordinatorLog::serving(std::string_view key) const {
  if (partition_count_ == 0) return true;
  auto it = partitions_.find(coordinator_partition(key, partition_count_));
  return it != partitions_.end() && it->second.leading && it->second.loaded;
}

std::size_t CoordinatorLog::drop_partition(std::int32_t partition) {
  const std::int32_t count = partition_count_;
  return state_.drop([partition, count](const std::string& key) {
    return count > 0 && coordinator_partition(key, count) == partition;
  });
}

void CoordinatorLog::follow(const MetadataImage& image, bool initial) {
  const TopicPtr t = image.topic(options_.topic);
  if (t == nullptr || t->partition_count() == 0) {
    // No topic (yet): the local column family holds the state, as on one
    // node; a deleted topic takes its partitions' keys along.
    for (auto& [index, p] : partitions_) {
      if (p.leading) unload(index);
    }
    partitions_.clear();
    partition_count_ = 0;
    ask_for_topic();
    return;
  }
  partition_count_ = t->partition_count();
  for (const PartitionImage& pi : t->partitions) {
    const bool lead = pi.leader == options_.node_id && replicas_.leads(t->id, pi.index);
    PartitionLoad& p = partitions_[pi.index];
    if (lead && !p.leading) {
      p.leading = true;
      begin_load(pi.index);
    } else if (!lead && (p.leading || initial)) {
      // At start: whatever this node's column family held for keys it
      // does not coordinate goes too.
      unload(pi.index);
    }
  }
}

void CoordinatorLog::unload(std::int32_t partition) {
  PartitionLoad& p = partitions_[partition];
  const bool was_leading = p.leading;
  p.leading = false;
  p.loaded = false;
  p.load_id = 0;
  p.state.clear();
  const std::size_t gone = drop_partition(partition);
  if (was_leading) {
    LOG_INFO("coordinator", "%s-%d no longer led here: %zu key(s) unloaded", options_.topic.c_str(),
             partition, gone);
  }
}

void CoordinatorLog::begin_load(std::int32_t partition) {
  PartitionLoad& p = partitions_[partition];
  p.loaded = false;
  p.load_id = next_load_id_++;
  p.next_offset = 0;
  p.state.clear();
  // What memory held for these keys is older than the log.
  drop_partition(partition);
  LOG_INFO("coordinator", "%s-%d led here: loading it", options_.topic.c_str(), partition);
  read_next(partition, p.load_id);
}

void CoordinatorLog::read_next(std::int32_t partition, std::uint64_t load_id) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.load_id != load_id) return;
  const TopicPtr t = metadata_.image()->topic(options_.topic);
  if (t == nullptr) return;
  store_.read(t->id, partition, it->second.next_offset, kLoadReadBytes,
              [this, alive = alive_, partition, load_id](ReadResult result) {
                if (!*alive) return;
                on_read(partition, load_id, std::move(result));
              });
}

void CoordinatorLog::on_read(std::int32_t partition, std::uint64_t load_id, ReadResult result) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.load_id != load_id) return;  // unloaded meanwhile
  PartitionLoad& p = it->second;
  const std::string name = options_.topic + "-" + std::to_string(partition);
  if (!result.error.empty()) {
    LOG_WARN("coordinator", "loading %s: %s (trying again)", name.c_str(), result.error.c_str());
    replicas_.after(kLoadRetryMs, [this, alive = alive_, partition, load_id] {
      if (*alive) read_next(partition, load_id);
    });
    return;
  }
  if (result.data.empty()) return finish_load(partition, p);
  std::vector<Bytes> batches;
  if (split_record_batches(Bytes(result.data), batches) != RecordError::kNone) {
    LOG_WARN("coordinator", "loading %s: damaged batches at offset %lld, skipped", name.c_str(),
             static_cast<long long>(p.next_offset));
  }
  const std::int64_t before = p.next_offset;
  std::vector<std::uint8_t> scratch;
  for (Bytes batch : batches) {
    RecordBatchHeader h;
    if (validate_record_batch(batch, h) != RecordError::kNone) {
      LOG_WARN("coordinator", "loading %s: a damaged batch, skipped", name.c_str());
      continue;
    }
    p.next_offset = std::max(p.next_offset, h.last_offset() + 1);
    if (h.is_control()) continue;
    Bytes records;
    if (batch_records(batch, h, scratch, records, kMaxDecompressed) != RecordError::kNone) {
      LOG_WARN("coordinator", "loading %s: the batch at %lld cannot be read, skipped", name.c_str(),
               static_cast<long long>(h.base_offset));
      continue;
    }
    RecordIterator records_it(records, h.record_count);
    Record r;
    while (records_it.next(r)) {
      if (!r.key) continue;
      std::string key(r.key->as_string());
      if (r.value) {
        p.state[std::move(key)] = std::string(r.value->as_string());
      } else {
        p.state[std::move(key)] = std::nullopt;
      }
    }
  }
  if (p.next_offset == before) return finish_load(partition, p);  // nothing usable further on
  read_next(partition, load_id);
}

void CoordinatorLog::ask_for_topic() {
  if (!*alive_ || asking_ || local_.empty() || !options_.create_topic) return;
  if (metadata_.image()->topic(options_.topic) != nullptr) return;
  asking_ = true;
  options_.create_topic();
  replicas_.after(kAskTopicMs, [this, alive = alive_] {
    if (!*alive) return;
    asking_ = false;
    ask_for_topic();
  });
}

void CoordinatorLog::finish_load(std::int32_t partition, PartitionLoad& p) {
  auto import = std::make_shared<Import>();
  import->load_id = p.load_id;
  for (const auto& [key, value] : local_) {
    const std::optional<std::string> k = state_.key_of(key);
    if (!k || coordinator_partition(*k, partition_count_) != partition) continue;
    import->keys.push_back(key);
    // A key the log has (a tombstone too) is newer there.
    if (!p.state.contains(key)) import->writes.push_back(RecordWrite{key, value});
  }
  if (import->keys.empty()) return complete_load(partition, p);
  LOG_INFO("coordinator",
           "%s-%d: importing %zu key(s) this node kept before it joined a cluster (%zu more are "
           "older than the log's)",
           options_.topic.c_str(), partition, import->writes.size(),
           import->keys.size() - import->writes.size());
  import_next(partition, std::move(import));
}

void CoordinatorLog::import_next(std::int32_t partition, std::shared_ptr<Import> import) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || !it->second.leading || it->second.load_id != import->load_id) {
    return;  // unloaded meanwhile: the next load imports what is left
  }
  const std::string name = options_.topic + "-" + std::to_string(partition);
  if (import->next < import->writes.size()) {
    std::size_t end = import->next;
    std::size_t bytes = 0;
    while (end < import->writes.size()) {
      const RecordWrite& w = import->writes[end];
      const std::size_t size = w.key.size() + (w.value ? w.value->size() : 0);
      if (end > import->next && bytes + size > kImportBatchBytes) break;
      bytes += size;
      ++end;
    }
    std::vector<RecordWrite> batch(
        import->writes.begin() + static_cast<std::ptrdiff_t>(import->next),
        import->writes.begin() + static_cast<std::ptrdiff_t>(end));
    append_batch(partition, batch,
                 [this, alive = alive_, partition, import, end, name](const std::string& error) {
                   if (!*alive) return;
                   if (error.empty()) {
                     import->next = end;
                     return import_next(partition, import);
                   }
                   LOG_WARN("coordinator", "importing into %s: %s (loading it again)", name.c_str(),
                            error.c_str());
                   replicas_.after(kLoadRetryMs, [this, alive, partition, import] {
                     if (!*alive) return;
                     auto it = partitions_.find(partition);
                     if (it != partitions_.end() && it->second.leading &&
                         it->second.load_id == import->load_id) {
                       begin_load(partition);
                     }
                   });
                 });
    return;
  }
  // Every key the log lacked is in it now: the column family's go.
  std::vector<RecordWrite> deletes;
  deletes.reserve(import->keys.size());
  for (const std::string& k : import->keys) deletes.push_back(RecordWrite{k, std::nullopt});
  state_.write_local(std::move(deletes), [this, alive = alive_, partition, import,
                                          name](const std::string& error) {
    if (!*alive) return;
    if (!error.empty()) {
      LOG_WARN("coordinator",
               "%s: the imported keys stay in this node's column family (%s); the log's are "
               "newer, so they are not imported again",
               name.c_str(), error.c_str());
    }
    for (const std::string& k : import->keys) local_.erase(k);
    auto it = partitions_.find(partition);
    if (it == partitions_.end() || !it->second.leading || it->second.load_id != import->load_id) {
      return;
    }
    for (RecordWrite& w : import->writes) it->second.state[w.key] = std::move(w.value);
    complete_load(partition, it->second);
  });
}

void CoordinatorLog::complete_load(std::int32_t partition, PartitionLoad& p) {
  const std::string name = options_.topic + "-" + std::to_string(partition);
  const std::size_t keys = p.state.size();
  state_.load(name, p.state);
  p.state.clear();
  p.loaded = true;
  LOG_INFO("coordinator", "%s loaded up to offset %lld: %zu key(s)", name.c_str(),
           static_cast<long long>(p.next_offset), keys);
}

void CoordinatorLog::replicate(std::vector<RecordWrite> writes, Store::Done done) {
  if (!*alive_) return done("the coordinator is stopping");
  const ImagePtr image = metadata_.image();
  const TopicPtr t = image->topic(options_.topic);
  if (t == nullptr || t->partition_count() == 0) {
    // One node, or a cluster before the topic exists: as always.
    state_.write_local(std::move(writes), std::move(done));
    return;
  }
  std::map<std::int32_t, std::vector<RecordWrite>> by_partition;
  for (auto& w : writes) {
    const std::optional<std::string> key = state_.key_of(w.key);
    if (!key) continue;  // not a key this coordinator writes
    by_partition[coordinator_partition(*key, t->partition_count())].push_back(std::move(w));
  }
  if (by_partition.empty()) {
    replicas_.after(0, [done = std::move(done)] { done(""); });
    return;
  }
  // Answered once, after every partition's append, with the first error;
  // always from a later loop turn, as a store write is.
  struct Join {
    std::size_t left = 0;
    std::string error;
    Store::Done done;
  };
  auto join = std::make_shared<Join>();
  join->left = by_partition.size();
  join->done = std::move(done);
  auto finish = [join, &replicas = replicas_](const std::string& error) {
    if (!error.empty() && join->error.empty()) join->error = error;
    if (--join->left != 0) return;
    replicas.after(0, [join] { join->done(join->error); });
  };
  for (auto& [index, ws] : by_partition) {
    const std::string name = options_.topic + "-" + std::to_string(index);
    auto it = partitions_.find(index);
    if (it == partitions_.end() || !it->second.loaded) {
      finish(name + " is not led and loaded here");
      continue;
    }
    append_batch(index, ws, finish);
  }
}

void CoordinatorLog::append_batch(std::int32_t index, const std::vector<RecordWrite>& writes,
                                  std::function<void(const std::string& error)> done) {
  const std::string name = options_.topic + "-" + std::to_string(index);
  const Resolved r = resolver_.resolve(TopicKey::by_name(options_.topic), index);
  if (!r.ok()) return done(name + ": error " + std::to_string(code(r.error)));
  RecordBatchBuilder builder(RecordBatchOptions{});
  bool bad = false;
  const std::int64_t now = wall_ms();
  for (const auto& w : writes) {
    std::optional<Bytes> value;
    if (w.value) value = Bytes(std::string_view(*w.value));
    if (builder.add(now, Bytes(std::string_view(w.key)), value) != RecordError::kNone) bad = true;
  }
  auto buffer = std::make_shared<std::vector<std::uint8_t>>();
  if (bad || builder.build(*buffer) != RecordError::kNone) {
    return done(name + ": the records do not fit in a batch");
  }
  AppendRequest req;
  req.partition = r.local;
  req.records = std::span<std::uint8_t>(buffer->data(), buffer->size());
  req.owner = buffer;
  req.acks = -1;
  req.timeout_ms = options_.commit_timeout_ms;
  req.peer = options_.peer;
  replicas_.append(std::move(req), [done = std::move(done), name](AppendOutcome outcome) {
    if (outcome.error == ErrorCode::kNone) return done("");
    done(name + ": append failed with error " + std::to_string(code(outcome.error)) +
         (outcome.message.empty() ? "" : " (" + outcome.message + ")"));
  });
}

}  // namespace kgw
