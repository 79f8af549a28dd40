#include "src/cluster/metadata_image.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>
#include <variant>

#include "src/cluster/alter_partition.h"
#include "src/cluster/placement.h"
#include "src/cluster/reassignment.h"

namespace kgw {

namespace {

const ConfigMap kNoConfigs;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

std::string uuid_text(const Uuid& id) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : id.bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

// kNone, or why `replicas` cannot hold `count` partitions on these brokers.
ErrorCode check_assignment(const std::map<std::int32_t, BrokerImage>& brokers,
                           const ReplicaAssignment& replicas, std::int64_t count,
                           std::string& message) {
  if (static_cast<std::int64_t>(replicas.size()) != count) {
    message = "The replica assignment names " + std::to_string(replicas.size()) +
              " partitions where " + std::to_string(count) + " are created";
    return ErrorCode::kInvalidReplicaAssignment;
  }
  for (const auto& r : replicas) {
    if (r.empty()) {
      message = "Every partition needs at least one replica";
      return ErrorCode::kInvalidReplicaAssignment;
    }
    for (std::int32_t node : r) {
      if (brokers.count(node) == 0) {
        message = "Broker " + std::to_string(node) + " is not registered";
        return ErrorCode::kInvalidReplicaAssignment;
      }
    }
  }
  return ErrorCode::kNone;
}

}  // namespace

const char* change_name(const MetadataChange& change) {
  static const char* const names[] = {"RegisterBroker",     "CreateTopic",      "DeleteTopic",
                                      "CreatePartitions",   "SetTopicConfigs",  "SetBrokerConfigs",
                                      "SetClientQuotas",    "FenceBroker",      "SetController",
                                      "SetPartitionStates", "UnregisterBroker", "AlterPartition",
                                      "ElectLeaders",       "AlterReassignment"};
  static_assert(std::size(names) == std::variant_size_v<MetadataChange>);
  return names[change.index()];
}

const PartitionImage* TopicImage::partition(std::int32_t index) const {
  if (index < 0 || index >= partition_count()) return nullptr;
  return &partitions[static_cast<std::size_t>(index)];
}

void apply_migration_leader_epoch(TopicImage& topic) {
  auto c = topic.configs.find(std::string(kMigrationLeaderEpoch));
  if (c == topic.configs.end()) return;
  std::int32_t epoch = 0;
  auto [end, ec] = std::from_chars(c->second.data(), c->second.data() + c->second.size(), epoch);
  if (ec != std::errc() || end != c->second.data() + c->second.size() || epoch <= 0) return;
  for (PartitionImage& p : topic.partitions) p.leader_epoch = std::max(p.leader_epoch, epoch);
}

std::vector<PartitionImage> place_partitions(std::int32_t first,
                                             const ReplicaAssignment& replicas) {
  std::vector<PartitionImage> out;
  out.reserve(replicas.size());
  for (const auto& r : replicas) {
    PartitionImage& p = out.emplace_back();
    p.index = first++;
    p.leader = r.empty() ? -1 : r.front();
    p.leader_epoch = 0;
    p.replicas = r;
    p.isr = r;
  }
  return out;
}

MetadataImage::MetadataImage()
    : default_configs_(std::make_shared<const ConfigMap>()),
      quotas_(std::make_shared<const ClientQuotas>()) {}

ImagePtr MetadataImage::build(std::vector<TopicImage> topics, ConfigMap default_configs,
                              std::map<std::int32_t, ConfigMap> broker_configs,
                              ClientQuotas quotas) {
  auto image = std::make_shared<MetadataImage>();
  for (TopicImage& t : topics) image->put_topic(std::make_shared<const TopicImage>(std::move(t)));
  image->default_configs_ = std::make_shared<const ConfigMap>(std::move(default_configs));
  for (auto& [id, configs] : broker_configs) {
    image->broker_configs_[id] = std::make_shared<const ConfigMap>(std::move(configs));
  }
  image->quotas_ = std::make_shared<const ClientQuotas>(std::move(quotas));
  return image;
}

const BrokerImage* MetadataImage::broker(std::int32_t id) const {
  auto it = brokers_.find(id);
  return it == brokers_.end() ? nullptr : &it->second;
}

TopicPtr MetadataImage::topic(std::string_view name) const {
  const TopicPtr* t = by_name_.find(std::string(name));
  return t == nullptr ? nullptr : *t;
}

TopicPtr MetadataImage::topic(const Uuid& id) const {
  const TopicPtr* t = by_id_.find(id);
  return t == nullptr ? nullptr : *t;
}

std::vector<TopicPtr> MetadataImage::topics() const {
  std::vector<TopicPtr> out;
  out.reserve(topic_count_);
  by_name_.for_each([&](const std::string&, const TopicPtr& t) { out.push_back(t); });
  std::sort(out.begin(), out.end(),
            [](const TopicPtr& a, const TopicPtr& b) { return a->name < b->name; });
  return out;
}

const ConfigMap& MetadataImage::broker_configs(std::optional<std::int32_t> broker) const {
  if (!broker) return *default_configs_;
  auto it = broker_configs_.find(*broker);
  return it == broker_configs_.end() ? kNoConfigs : *it->second;
}

ReplicaAssignment MetadataImage::assign(std::int64_t count, std::int32_t replication_factor) const {
  ReplicaAssignment out;
  std::string message;
  if (place_replicas(live_brokers(*this), count, replication_factor, PlacementOptions{}, out,
                     message) == ErrorCode::kNone) {
    return out;
  }
  // Nothing live to place on (check() refuses what cannot be replicated):
  // the registered brokers of lowest id, as before placement existed.
  std::vector<std::int32_t> replicas;
  for (const auto& [id, b] : brokers_) {
    if (static_cast<std::int32_t>(replicas.size()) >= replication_factor) break;
    replicas.push_back(id);
  }
  return ReplicaAssignment(static_cast<std::size_t>(count), replicas);
}

ErrorCode MetadataImage::check(const MetadataChange& change, std::string& message) const {
  auto unknown_id = [&](const Uuid& id) {
    message = "Topic id " + uuid_text(id) + " does not exist.";
    return ErrorCode::kUnknownTopicId;
  };
  return std::visit(
      Overloaded{
          [&](const RegisterBroker& c) {
            if (c.broker.id < 0) {
              message = "Broker id " + std::to_string(c.broker.id) + " is negative";
              return ErrorCode::kInvalidRequest;
            }
            return ErrorCode::kNone;
          },
          [&](const CreateTopic& c) {
            if (c.name.empty()) {
              message = "Topic name is illegal, it can't be empty";
              return ErrorCode::kInvalidTopicException;
            }
            if (topic(c.name) != nullptr) {
              message = "Topic '" + c.name + "' already exists.";
              return ErrorCode::kTopicAlreadyExists;
            }
            if (!c.id.is_zero() && topic(c.id) != nullptr) {
              message = "Topic id " + uuid_text(c.id) + " is already in use.";
              return ErrorCode::kTopicAlreadyExists;
            }
            if (c.partitions <= 0) {
              message = "Number of partitions must be larger than 0.";
              return ErrorCode::kInvalidPartitions;
            }
            if (c.replication_factor <= 0) {
              message = "Replication factor must be larger than 0.";
              return ErrorCode::kInvalidReplicationFactor;
            }
            if (c.assignments.empty() &&
                static_cast<std::size_t>(c.replication_factor) > brokers_.size()) {
              message = "Unable to replicate the partition " +
                        std::to_string(c.replication_factor) +
                        " time(s): The target replication factor of " +
                        std::to_string(c.replication_factor) + " cannot be reached because only " +
                        std::to_string(brokers_.size()) + " broker(s) are registered.";
              return ErrorCode::kInvalidReplicationFactor;
            }
            if (c.assignments.empty()) return ErrorCode::kNone;
            return check_assignment(brokers_, c.assignments, c.partitions, message);
          },
          [&](const DeleteTopic& c) {
            return topic(c.id) != nullptr ? ErrorCode::kNone : unknown_id(c.id);
          },
          [&](const CreatePartitions& c) {
            TopicPtr t = topic(c.id);
            if (t == nullptr) return unknown_id(c.id);
            if (c.total <= t->partition_count()) {
              message = "Topic currently has " + std::to_string(t->partition_count()) +
                        " partitions, which is higher than the requested " +
                        std::to_string(c.total) + ".";
              return ErrorCode::kInvalidPartitions;
            }
            if (c.assignments.empty()) return ErrorCode::kNone;
            return check_assignment(brokers_, c.assignments,
                                    std::int64_t{c.total} - t->partition_count(), message);
          },
          [&](const SetTopicConfigs& c) {
            return topic(c.id) != nullptr ? ErrorCode::kNone : unknown_id(c.id);
          },
          [&](const SetBrokerConfigs& c) {
            if (c.broker && brokers_.count(*c.broker) == 0) {
              message = "Broker " + std::to_string(*c.broker) + " is not registered";
              return ErrorCode::kInvalidRequest;
            }
            return ErrorCode::kNone;
          },
          [&](const SetClientQuotas& c) {
            for (const auto& [entity, ops] : c.entries) {
              message = ClientQuotas::validate(entity, ops);
              if (!message.empty()) return ErrorCode::kInvalidRequest;
            }
            return ErrorCode::kNone;
          },
          [&](const FenceBroker& c) {
            if (brokers_.count(c.id) != 0) return ErrorCode::kNone;
            message = "Broker " + std::to_string(c.id) + " is not registered";
            return ErrorCode::kInvalidRequest;
          },
          [&](const SetController&) { return ErrorCode::kNone; },
          [&](const SetPartitionStates& c) {
            TopicPtr t = topic(c.id);
            if (t == nullptr) return unknown_id(c.id);
            for (const PartitionImage& p : c.partitions) {
              if (t->partition(p.index) == nullptr) {
                message = "Partition " + std::to_string(p.index) + " of topic '" + t->name +
                          "' does not exist.";
                return ErrorCode::kUnknownTopicOrPartition;
              }
            }
            return ErrorCode::kNone;
          },
          [&](const UnregisterBroker& c) {
            const BrokerImage* b = broker(c.id);
            if (b == nullptr) {
              message = "Broker ID " + std::to_string(c.id) + " is not currently registered";
              return ErrorCode::kBrokerIdNotRegistered;
            }
            if (!b->fenced) {
              // Kafka unregisters a live broker too (it registers again at
              // its next heartbeat); here its session key would keep it,
              // so it is refused: stop the broker first.
              message = "Broker " + std::to_string(c.id) +
                        " is alive (its session is open); stop it and wait for its session to "
                        "end before unregistering it";
              return ErrorCode::kInvalidRequest;
            }
            return ErrorCode::kNone;
          },
          [&](const AlterPartition& c) { return check_alter_partition(*this, c, {}, message); },
          [&](const AlterReassignment& c) { return check_reassignment(*this, c, message); },
          // Unknown partitions are answered one by one (ElectionOutcome).
          [&](const ElectLeaders& c) {
            if (c.election_type == ElectLeaders::kPreferred ||
                c.election_type == ElectLeaders::kUnclean) {
              return ErrorCode::kNone;
            }
            message = "Unknown election type " + std::to_string(c.election_type);
            return ErrorCode::kInvalidRequest;
          },
      },
      change);
}

ImagePtr MetadataImage::apply(const MetadataChange& change) const {
  // A shallow copy: the maps' entries are pointers to shared, never
  // changed, parts.
  auto next = std::make_shared<MetadataImage>(*this);
  next->apply_in_place(change);
  next->version_ = version_ + 1;
  return next;
}

void MetadataImage::put_topic(TopicPtr topic) {
  if (TopicPtr old = this->topic(topic->id)) {
    partition_count_ -= old->partition_count();
  } else {
    ++topic_count_;
  }
  partition_count_ += topic->partition_count();
  by_id_.put(topic->id, topic);
  const std::string name = topic->name;
  by_name_.put(name, std::move(topic));
}

void MetadataImage::apply_in_place(const MetadataChange& change) {
  std::visit(
      Overloaded{
          [&](const RegisterBroker& c) { brokers_[c.broker.id] = c.broker; },
          [&](const CreateTopic& c) {
            auto t = std::make_shared<TopicImage>();
            t->name = c.name;
            t->id = c.id;
            t->configs = c.configs;
            t->partitions = place_partitions(0, c.assignments);
            put_topic(std::move(t));
          },
          [&](const DeleteTopic& c) {
            TopicPtr t = topic(c.id);
            if (t == nullptr) return;
            partition_count_ -= t->partition_count();
            --topic_count_;
            by_name_.erase(t->name);
            by_id_.erase(c.id);
          },
          [&](const CreatePartitions& c) {
            TopicPtr old = topic(c.id);
            if (old == nullptr) return;
            auto t = std::make_shared<TopicImage>(*old);
            for (auto& p : place_partitions(old->partition_count(), c.assignments)) {
              t->partitions.push_back(std::move(p));
            }
            put_topic(std::move(t));
          },
          [&](const SetTopicConfigs& c) {
            TopicPtr old = topic(c.id);
            if (old == nullptr) return;
            auto t = std::make_shared<TopicImage>(*old);
            t->configs = c.configs;
            apply_migration_leader_epoch(*t);
            put_topic(std::move(t));
          },
          [&](const SetBrokerConfigs& c) {
            auto configs = std::make_shared<const ConfigMap>(c.configs);
            if (c.broker) {
              broker_configs_[*c.broker] = std::move(configs);
            } else {
              default_configs_ = std::move(configs);
            }
          },
          [&](const SetClientQuotas& c) {
            auto quotas = std::make_shared<ClientQuotas>(*quotas_);
            for (const auto& [entity, ops] : c.entries) quotas->apply(entity, ops);
            quotas_ = std::move(quotas);
          },
          [&](const FenceBroker& c) {
            auto it = brokers_.find(c.id);
            if (it != brokers_.end()) it->second.fenced = true;
          },
          [&](const SetController& c) {
            controller_id_ = c.id;
            controller_epoch_ = c.epoch;
          },
          [&](const SetPartitionStates& c) {
            TopicPtr old = topic(c.id);
            if (old == nullptr) return;
            auto t = std::make_shared<TopicImage>(*old);
            for (const PartitionImage& p : c.partitions) {
              if (p.index >= 0 && p.index < t->partition_count())
                t->partitions[static_cast<std::size_t>(p.index)] = p;
            }
            put_topic(std::move(t));
          },
          [&](const UnregisterBroker& c) { brokers_.erase(c.id); },
          [&](const AlterPartition& c) {
            std::optional<PartitionImage> p = altered_partition(*this, c);
            if (!p) return;
            complete_reassignment(*p, [&](std::int32_t id) {
              const BrokerImage* b = broker(id);
              return b != nullptr && !b->fenced;
            });
            auto t = std::make_shared<TopicImage>(*topic(c.topic));
            t->partitions[static_cast<std::size_t>(p->index)] = std::move(*p);
            put_topic(std::move(t));
          },
          // A request: what it decides arrives as SetPartitionStates.
          [&](const ElectLeaders&) {},
          // Decided as the controller would, any registered unfenced
          // broker may lead (on one node: this node, which every
          // target must be, so nothing changes).
          [&](const AlterReassignment& c) {
            TopicPtr old = topic(c.topic);
            const PartitionImage* now = old == nullptr ? nullptr : old->partition(c.partition);
            if (now == nullptr) return;
            std::optional<PartitionImage> p = reassigned_partition(*now, c, [&](std::int32_t id) {
              const BrokerImage* b = broker(id);
              return b != nullptr && !b->fenced;
            });
            if (!p) return;
            auto t = std::make_shared<TopicImage>(*old);
            t->partitions[static_cast<std::size_t>(p->index)] = std::move(*p);
            put_topic(std::move(t));
          },
      },
      change);
}

std::vector<PlacementBroker> live_brokers(const MetadataImage& image) {
  std::vector<PlacementBroker> out;
  for (const auto& [id, b] : image.brokers()) {
    if (!b.fenced) out.push_back(PlacementBroker{id, b.rack});
  }
  return out;
}

}  // namespace kgw
