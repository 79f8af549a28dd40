// Store, the catalogue: topics and their partitions, their log policies,
// and the cluster records (see store.h).
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "storage/database.h"
#include "storage/group_writer.h"
#include "storage/keys.h"
#include "storage/meta_codec.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace kgw {

using namespace store_detail;

void Store::resolve_policy(TopicEntry& t) {
  t.policy = policy_resolver_ ? policy_resolver_(t.info) : LogPolicy{};
}

void Store::set_policy_resolver(PolicyResolver fn) {
  policy_resolver_ = std::move(fn);
  refresh_policies();
}

void Store::refresh_policies() {
  for (auto& [name, t] : by_name_) resolve_policy(*t);
}

std::optional<LogInfo> Store::log_info(const Uuid& topic, std::int32_t partition) const {
  TopicEntry* t = entry(topic);
  const PartitionLog* pl = mutable_log(t, partition);
  if (pl == nullptr) return std::nullopt;
  LogInfo info;
  info.size_bytes = pl->segments.bytes();
  info.segments = pl->segments.segments().size();
  info.active_segment_base = pl->segments.active().base;
  info.cleaned_offset = pl->cleaned_offset;
  info.cleaning = pl->cleaning;
  return info;
}

const std::string* Store::cluster_record(std::string_view name) const {
  auto it = cluster_records_.find(name);
  return it == cluster_records_.end() ? nullptr : &it->second;
}

void Store::put_cluster_record(const std::string& name, std::string value, Done done) {
  if (stopped_) return done(kStopped);
  cluster_records_[name] = value;
  WriteOp op;
  op.bytes = value.size();
  op.apply = [meta = db_->meta(), key = keys::meta_cluster_key(name), value = std::move(value)](
                 rocksdb::DB&, rocksdb::WriteBatch& b) { return b.Put(meta, key, value); };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::submit_partition_record(const Uuid& topic, std::int32_t partition) {
  TopicEntry* t = entry(topic);
  PartitionState* ps = mutable_partition(t, partition);
  PartitionLog* pl = mutable_log(t, partition);
  if (ps == nullptr || pl == nullptr) return;
  PartitionRecord record{ps->log_start_offset, pl->cleaned_offset};
  WriteOp op;
  op.bytes = 64;
  op.apply = [meta = db_->meta(), key = keys::meta_partition_key(topic, partition),
              value = encode_partition(record)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    return b.Put(meta, key, value);
  };
  op.complete = [](const std::string&) {};
  writer_->submit(std::move(op));
}

const TopicInfo* Store::find_topic(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second->info;
}

const TopicInfo* Store::find_topic(const Uuid& id) const {
  TopicEntry* t = entry(id);
  return t == nullptr ? nullptr : &t->info;
}

std::vector<const TopicInfo*> Store::topics() const {
  std::vector<const TopicInfo*> out;
  out.reserve(by_name_.size());
  for (const auto& [name, t] : by_name_) out.push_back(&t->info);
  return out;
}

const PartitionState* Store::partition(const Uuid& topic, std::int32_t partition) const {
  return mutable_partition(entry(topic), partition);
}

Uuid Store::random_topic_id() {
  for (;;) {
    Uuid id;
    for (std::size_t i = 0; i < id.bytes.size(); i += 8) {
      std::uint64_t r = rng_();
      for (std::size_t j = 0; j < 8; ++j) id.bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x40);  // version 4
    id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
    // As Kafka's Uuid.randomUuid(): no id whose base64 form starts with
    // '-' (tools would read it as a flag). The zero and metadata-topic ids
    // it also avoids cannot have the version bits.
    if ((id.bytes[0] >> 2) == 62) continue;
    if (by_id_.count(id) != 0) continue;
    return id;
  }
}

void Store::submit_topic_write(const TopicEntry& t, std::string encoded, Done done) {
  WriteOp op;
  op.bytes = encoded.size();
  op.apply = [meta = db_->meta(), key = keys::meta_topic_key(t.info.id),
              value = std::move(encoded)](rocksdb::DB&, rocksdb::WriteBatch& b) {
    return b.Put(meta, key, value);
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::create_topic(TopicInfo info, Done done) {
  if (stopped_) return done(kStopped);
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(error); });
  };
  if (info.name.empty()) return fail("topic name is empty");
  if (info.partitions < 1) {
    return fail("topic " + info.name + ": partition count must be at least 1");
  }
  if (by_name_.count(info.name) != 0) return fail("topic " + info.name + " already exists");
  if (info.id.is_zero()) {
    info.id = random_topic_id();
  } else if (by_id_.count(info.id) != 0) {
    return fail("topic id " + keys::uuid_hex(info.id) + " is already in use");
  }
  std::string encoded;
  std::string why;
  if (!encode_topic(info, encoded, why)) return fail("topic " + info.name + ": " + why);

  auto t = std::make_unique<TopicEntry>();
  t->partitions.resize(static_cast<std::size_t>(info.partitions));
  t->logs.resize(static_cast<std::size_t>(info.partitions));
  const std::int64_t now = wall_ms();
  for (auto& pl : t->logs) pl.segments.reset(0, now);
  t->info = std::move(info);
  t->incarnation = next_incarnation_++;
  resolve_policy(*t);
  TopicEntry& ref = *t;
  by_id_[ref.info.id] = t.get();
  by_name_.emplace(ref.info.name, std::move(t));
  submit_topic_write(ref, std::move(encoded), std::move(done));
}

void Store::delete_topic(Uuid id, Done done) {
  if (stopped_) return done(kStopped);
  TopicEntry* t = entry(id);
  if (t == nullptr) {
    return post([done = std::move(done), id] { done("unknown topic id " + keys::uuid_hex(id)); });
  }
  by_id_.erase(id);
  by_name_.erase(t->info.name);  // destroys *t

  WriteOp op;
  op.bytes = 4 * keys::kEntryKeySize;
  op.apply = [d = db_.get(), id](rocksdb::DB&, rocksdb::WriteBatch& b) {
    rocksdb::Status s = b.Delete(d->meta(), keys::meta_topic_key(id));
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_partitions_begin(id), keys::meta_partitions_end(id));
    }
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_topic_segments_begin(id),
                        keys::meta_topic_segments_end(id));
    }
    if (s.ok()) {
      s = b.DeleteRange(d->meta(), keys::meta_topic_epochs_begin(id),
                        keys::meta_topic_epochs_end(id));
    }
    if (s.ok()) s = b.DeleteRange(d->log(), keys::topic_begin(id), keys::topic_end(id));
    if (s.ok()) s = b.DeleteRange(d->timeindex(), keys::topic_begin(id), keys::topic_end(id));
    // Producer state and aborted transactions of its partitions.
    for (char kind : {keys::kProducerState, keys::kAbortedTxn}) {
      if (s.ok()) {
        s = b.DeleteRange(d->producers(), keys::producers_topic_begin(kind, id),
                          keys::producers_topic_end(kind, id));
      }
    }
    return s;
  };
  op.complete = [done = std::move(done)](const std::string& error) { done(error); };
  writer_->submit(std::move(op));
}

void Store::add_partitions(const Uuid& id, std::int32_t new_total, Done done) {
  if (stopped_) return done(kStopped);
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(error); });
  };
  TopicEntry* t = entry(id);
  if (t == nullptr) return fail("unknown topic id " + keys::uuid_hex(id));
  if (new_total <= t->info.partitions) {
    return fail("topic " + t->info.name + " has " + std::to_string(t->info.partitions) +
                " partitions: the new total must be more");
  }
  TopicInfo changed = t->info;
  changed.partitions = new_total;
  std::string encoded;
  std::string why;
  if (!encode_topic(changed, encoded, why)) return fail("topic " + t->info.name + ": " + why);
  // The new partitions' state first, the count after: nothing ever sees a
  // count above the state there is (callers bound new_total; see
  // kgw.max.partitions in the broker).
  const std::size_t old_count = t->logs.size();
  t->partitions.resize(static_cast<std::size_t>(new_total));
  t->logs.resize(static_cast<std::size_t>(new_total));
  const std::int64_t now = wall_ms();
  for (std::size_t i = old_count; i < t->logs.size(); ++i) t->logs[i].segments.reset(0, now);
  t->info.partitions = new_total;
  submit_topic_write(*t, std::move(encoded), std::move(done));
}

void Store::set_topic_configs(const Uuid& id, std::map<std::string, std::string> configs,
                              Done done) {
  if (stopped_) return done(kStopped);
  auto fail = [&](std::string error) {
    post([done = std::move(done), error = std::move(error)] { done(error); });
  };
  TopicEntry* t = entry(id);
  if (t == nullptr) return fail("unknown topic id " + keys::uuid_hex(id));
  TopicInfo changed = t->info;
  changed.configs = std::move(configs);
  std::string encoded;
  std::string why;
  if (!encode_topic(changed, encoded, why)) return fail("topic " + t->info.name + ": " + why);
  t->info.configs = std::move(changed.configs);
  resolve_policy(*t);
  submit_topic_write(*t, std::move(encoded), std::move(done));
}

}  // namespace kgw
