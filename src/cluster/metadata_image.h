// MetadataImage: what the cluster agrees on at one version: brokers,
// topics (name, id, configs), their partitions (leader, leader epoch,
// replicas, ISR), dynamic broker configs and client quotas.
//
// Threads: an image never changes once built, so any thread may read one.
// Readers hold `std::shared_ptr<const MetadataImage>` (MetadataLog::image())
// and see one consistent version for as long as they keep it, however many
// changes are applied meanwhile.
//
// The happy path is: a MetadataLog checks a change with check() against
// the image it will apply to, writes it, and calls apply(), which returns
// the next image (version + 1). apply() shares everything the change does
// not touch: a new image copies the 256 shard pointers of each topic map
// (ShardedMap) and the one shard the change lands in, never the other
// topics, so changing one topic of 10,000 copies that topic's partitions
// and about 40 pointers.
//
// Failure modes: check() refuses a change that does not fit the image
// (unknown topic, name or id in use, partitions not growing, replicas on
// unknown brokers) with Kafka's error code and message; apply() assumes a
// checked change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"
#include "src/cluster/client_quotas.h"
#include "src/cluster/metadata_change.h"
#include "src/cluster/placement.h"

namespace kgw {

struct TopicImage {
  std::string name;
  Uuid id;
  ConfigMap configs;
  std::vector<PartitionImage> partitions;

  std::int32_t partition_count() const { return static_cast<std::int32_t>(partitions.size()); }
  // nullptr if out of range.
  const PartitionImage* partition(std::int32_t index) const;
};

using TopicPtr = std::shared_ptr<const TopicImage>;

// A map copied in parts: its entries are spread over a fixed number of
// shards by hash, each shard shared until changed, so a copy of the whole
// map copies the shard pointers and a change copies one shard. This is
// what keeps a change to one topic of 10,000 cheap (a request that
// auto-creates 10,000 topics applies 10,000 changes).
template <typename Key, typename Value, typename Hash>
class ShardedMap {
 public:
  static constexpr std::size_t kShards = 256;

  ShardedMap() : shards_(kShards, empty_shard()) {}

  const Value* find(const Key& key) const {
    const Shard& s = *shards_[shard_of(key)];
    auto it = s.find(key);
    return it == s.end() ? nullptr : &it->second;
  }
  void put(const Key& key, Value value) { (*writable(key))[key] = std::move(value); }
  void erase(const Key& key) {
    if (shards_[shard_of(key)]->count(key) != 0) writable(key)->erase(key);
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& shard : shards_) {
      for (const auto& [k, v] : *shard) fn(k, v);
    }
  }

 private:
  using Shard = std::map<Key, Value>;
  static std::shared_ptr<const Shard> empty_shard() {
    static const auto empty = std::make_shared<const Shard>();
    return empty;
  }
  static std::size_t shard_of(const Key& key) { return Hash{}(key) % kShards; }
  // The key's shard, copied first unless this map is its only owner (a
  // shard made for an image still being built, which nobody reads yet;
  // every shard of a published image is shared with its copies, and the
  // shared empty shard with the static).
  Shard* writable(const Key& key) {
    auto& shard = shards_[shard_of(key)];
    if (shard.use_count() != 1) shard = std::make_shared<Shard>(*shard);
    return const_cast<Shard*>(shard.get());
  }

  std::vector<std::shared_ptr<const Shard>> shards_;
};

struct UuidHash {
  std::size_t operator()(const Uuid& id) const {
    std::size_t h = 0;
    for (std::uint8_t b : id.bytes) h = h * 131 + b;
    return h;
  }
};

class MetadataImage {
 public:
  // Version 0: nothing.
  MetadataImage();
  // Version 0 holding what a log loaded at start, in one pass (applying
  // a change per topic would copy the topic maps once per topic).
  static std::shared_ptr<const MetadataImage> build(
      std::vector<TopicImage> topics, ConfigMap default_configs,
      std::map<std::int32_t, ConfigMap> broker_configs, ClientQuotas quotas);

  std::uint64_t version() const { return version_; }

  // Every known broker, fenced ones included (BrokerImage::fenced).
  const std::map<std::int32_t, BrokerImage>& brokers() const { return brokers_; }
  // The controller's id (-1: none elected) and the epoch of its term.
  std::int32_t controller_id() const { return controller_id_; }
  std::int64_t controller_epoch() const { return controller_epoch_; }
  const BrokerImage* broker(std::int32_t id) const;

  // nullptr if there is no such topic.
  TopicPtr topic(std::string_view name) const;
  TopicPtr topic(const Uuid& id) const;
  // Every topic, sorted by name (built per call: O(topics)).
  std::vector<TopicPtr> topics() const;
  std::size_t topic_count() const { return topic_count_; }
  // Partitions of all topics.
  std::int64_t partition_count() const { return partition_count_; }

  // One broker's dynamic configs (`broker` = its id) or the cluster-wide
  // default (nullopt); empty if none are set.
  const ConfigMap& broker_configs(std::optional<std::int32_t> broker) const;
  const ClientQuotas& quotas() const { return *quotas_; }

  // kNone if `change` can be applied to this image; else Kafka's error
  // code, and its message in `message`.
  ErrorCode check(const MetadataChange& change, std::string& message) const;
  // Where new partitions go when a change names no replicas: Kafka's
  // placement over the live brokers (placement.h; on one node: all on
  // this node), or the registered brokers of lowest id if none can hold
  // them.
  ReplicaAssignment assign(std::int64_t count, std::int32_t replication_factor) const;
  // The next image: this one with `change` (checked, assignments filled)
  // applied, version + 1.
  std::shared_ptr<const MetadataImage> apply(const MetadataChange& change) const;

 private:
  void apply_in_place(const MetadataChange& change);
  void put_topic(TopicPtr topic);

  std::uint64_t version_ = 0;
  std::map<std::int32_t, BrokerImage> brokers_;
  std::int32_t controller_id_ = -1;
  std::int64_t controller_epoch_ = 0;
  ShardedMap<std::string, TopicPtr, std::hash<std::string>> by_name_;
  ShardedMap<Uuid, TopicPtr, UuidHash> by_id_;
  std::size_t topic_count_ = 0;
  std::int64_t partition_count_ = 0;
  std::shared_ptr<const ConfigMap> default_configs_;
  std::map<std::int32_t, std::shared_ptr<const ConfigMap>> broker_configs_;
  std::shared_ptr<const ClientQuotas> quotas_;
};

using ImagePtr = std::shared_ptr<const MetadataImage>;

// A topic kgw took over from a legacy cluster (issue 17) leads its
// partitions at no lower epoch than the topic config
// kgw.migration.leader.epoch says (the cutover sets it above every epoch
// the legacy cluster used, so that clients holding a legacy epoch accept
// kgw's, and kgw's batches follow the mirrored ones in the leader-epoch
// cache). One node keeps no partition states: this is how its image gets
// that epoch, at start and when the config is set. Raises, never lowers.
inline constexpr std::string_view kMigrationLeaderEpoch = "kgw.migration.leader.epoch";
void apply_migration_leader_epoch(TopicImage& topic);

// Partitions `first`, `first` + 1, ... on the given replicas, each led by
// its first replica at leader epoch 0, the ISR all of its replicas.
std::vector<PartitionImage> place_partitions(std::int32_t first, const ReplicaAssignment& replicas);

// The unfenced brokers of `image`, by id: where placement.h places new
// replicas.
std::vector<PlacementBroker> live_brokers(const MetadataImage& image);

}  // namespace kgw
