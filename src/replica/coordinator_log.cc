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

void CoordinatorLog::start() {
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

void CoordinatorLog::finish_load(std::int32_t partition, PartitionLoad& p) {
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
  const std::int64_t now = wall_ms();
  for (auto& [index, ws] : by_partition) {
    const std::string name = options_.topic + "-" + std::to_string(index);
    auto it = partitions_.find(index);
    if (it == partitions_.end() || !it->second.loaded) {
      finish(name + " is not led and loaded here");
      continue;
    }
    const Resolved r = resolver_.resolve(TopicKey::by_name(options_.topic), index);
    if (!r.ok()) {
      finish(name + ": error " + std::to_string(code(r.error)));
      continue;
    }
    RecordBatchBuilder builder(RecordBatchOptions{});
    bool bad = false;
    for (const auto& w : ws) {
      std::optional<Bytes> value;
      if (w.value) value = Bytes(std::string_view(*w.value));
      if (builder.add(now, Bytes(std::string_view(w.key)), value) != RecordError::kNone) bad = true;
    }
    auto buffer = std::make_shared<std::vector<std::uint8_t>>();
    if (bad || builder.build(*buffer) != RecordError::kNone) {
      finish(name + ": the records do not fit in a batch");
      continue;
    }
    AppendRequest req;
    req.partition = r.local;
    req.records = std::span<std::uint8_t>(buffer->data(), buffer->size());
    req.owner = buffer;
    req.acks = -1;
    req.timeout_ms = options_.commit_timeout_ms;
    req.peer = options_.peer;
    replicas_.append(std::move(req), [finish, name](AppendOutcome outcome) {
      if (outcome.error == ErrorCode::kNone) return finish("");
      finish(name + ": append failed with error " + std::to_string(code(outcome.error)) +
             (outcome.message.empty() ? "" : " (" + outcome.message + ")"));
    });
  }
}

}  // namespace kgw
