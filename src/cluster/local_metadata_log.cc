#include "src/cluster/local_metadata_log.h"

#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "src/cluster/alter_partition.h"
#include "src/cluster/leader_election.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr const char* kBrokerConfigsRecord = "dynamic-broker-configs";
constexpr const char* kClientQuotasRecord = "client-quotas";

nlohmann::json to_json(const ConfigMap& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

bool from_json(const nlohmann::json& j, ConfigMap& out) {
  if (!j.is_object()) return false;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return false;
    out[k] = v.get<std::string>();
  }
  return true;
}

}  // namespace

LocalMetadataLog::LocalMetadataLog(Store& store, LocalMetadataLogOptions options)
    : store_(store), options_(std::move(options)) {
  load();
  projected_ = image_;
}

void LocalMetadataLog::load() {
  const std::vector<std::int32_t> here{options_.node_id};
  std::vector<TopicImage> topics;
  for (const TopicInfo* info : store_.topics()) {
    TopicImage& t = topics.emplace_back();
    t.name = info->name;
    t.id = info->id;
    t.configs = info->configs;
    t.partitions =
        place_partitions(0, ReplicaAssignment(static_cast<std::size_t>(info->partitions), here));
    apply_migration_leader_epoch(t);
  }

  ConfigMap this_broker, defaults;
  if (const std::string* value = store_.cluster_record(kBrokerConfigsRecord)) {
    nlohmann::json j = nlohmann::json::parse(*value, nullptr, false);
    if (!j.is_object() || !j.contains("broker") || !j.contains("default") ||
        !from_json(j["broker"], this_broker) || !from_json(j["default"], defaults)) {
      this_broker.clear();
      defaults.clear();
      LOG_ERROR("configs",
                "the stored dynamic broker configs are not {\"broker\": {...}, \"default\": "
                "{...}}; starting with the static configs only");
    }
  }
  // A config a later version no longer knows (or accepts) is dropped with
  // a warning rather than refusing to start.
  if (options_.check_broker_config) {
    for (ConfigMap* m : {&this_broker, &defaults}) {
      for (auto it = m->begin(); it != m->end();) {
        std::string err = options_.check_broker_config(it->first, it->second);
        if (!err.empty()) {
          LOG_WARN("configs", "ignoring stored dynamic broker config %s=%s: %s", it->first.c_str(),
                   it->second.c_str(), err.c_str());
          it = m->erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  std::map<std::int32_t, ConfigMap> broker_configs;
  if (!this_broker.empty()) broker_configs[options_.node_id] = std::move(this_broker);

  ClientQuotas quotas;
  if (const std::string* q = store_.cluster_record(kClientQuotasRecord)) {
    if (std::string err = quotas.decode(*q); !err.empty()) {
      LOG_ERROR("quotas", "%s; starting without client quotas", err.c_str());
    }
  }
  image_ = MetadataImage::build(std::move(topics), std::move(defaults), std::move(broker_configs),
                                std::move(quotas));
}

void LocalMetadataLog::submit(MetadataChange change, Done done) {
  std::string message;
  if (ErrorCode e = projected_->check(change, message); e != ErrorCode::kNone) {
    done(e, std::move(message));
    return;
  }
  if (std::holds_alternative<UnregisterBroker>(change)) {
    // check() refuses every id but this node's once it is fenced (its
    // shutdown): the one broker of a one-node cluster is never forgotten.
    done(ErrorCode::kInvalidRequest,
         "a single node cannot unregister itself; unregistering is for a cluster's removed "
         "brokers");
    return;
  }
  if (auto* e = std::get_if<ElectLeaders>(&change)) {
    elect_leaders(std::move(*e), [done = std::move(done)](ErrorCode error, std::string message,
                                                          std::vector<ElectionOutcome>) {
      done(error, std::move(message));
    });
    return;
  }
  complete(change);
  if (const auto* a = std::get_if<AlterPartition>(&change);
      a != nullptr && !altered_partition(*projected_, *a)) {
    // Checked: the ISR asked for holds the leader and names replicas only,
    // and every replica here is this node, so it is the ISR it has.
    done(ErrorCode::kNone, "");
    return;
  }
  if (std::holds_alternative<SetPartitionStates>(change) ||
      std::holds_alternative<AlterPartition>(change)) {
    done(ErrorCode::kInvalidRequest,
         "partition leaders and ISRs are decided by a cluster's controller; on one node this "
         "node leads every partition");
    return;
  }
  if (std::holds_alternative<RegisterBroker>(change) ||
      std::holds_alternative<FenceBroker>(change) ||
      std::holds_alternative<SetController>(change) ||
      // Checked: every target is a registered broker, on one node this
      // node, so nothing changes; in the image only otherwise (one node
      // stores no partition states), as elect_leaders.
      std::holds_alternative<AlterReassignment>(change)) {
    // Nothing to write: this node's address is known at every start, and
    // the one node of a one-node cluster is its controller.
    projected_ = projected_->apply(change);
    applied(change, "", done);
    const auto* r = std::get_if<RegisterBroker>(&change);
    if (r != nullptr && r->broker.id == options_.node_id &&
        projected_->controller_id() != options_.node_id) {
      submit(SetController{options_.node_id, 0}, [](ErrorCode, std::string) {});
    }
    return;
  }
  auto held = std::make_shared<MetadataChange>(std::move(change));
  const bool queued = write(*held, [this, held, done = std::move(done)](std::string error) {
    --writing_;
    applied(*held, error, done);
  });
  ++writing_;
  if (queued) projected_ = projected_->apply(*held);
}

void LocalMetadataLog::elect_leaders(ElectLeaders request, ElectDone done) {
  std::string message;
  if (ErrorCode e = projected_->check(request, message); e != ErrorCode::kNone) {
    done(e, std::move(message), {});
    return;
  }
  ElectionDecision d = decide_elections(*projected_, request, [this](std::int32_t id) {
    const BrokerImage* b = projected_->broker(id);
    return b != nullptr && !b->fenced;
  });
  // This node leads every partition it holds, so nothing changes; a
  // partition that had no leader would be led by it (in the image only:
  // one node stores no partition states).
  for (const SetPartitionStates& c : d.changes) {
    projected_ = projected_->apply(c);
    applied(c, "", [](ErrorCode, std::string) {});
  }
  done(ErrorCode::kNone, "", std::move(d.outcomes));
}

void LocalMetadataLog::complete(MetadataChange& change) const {
  if (auto* c = std::get_if<CreateTopic>(&change)) {
    if (c->assignments.empty())
      c->assignments = projected_->assign(c->partitions, c->replication_factor);
  } else if (auto* c = std::get_if<CreatePartitions>(&change)) {
    if (c->assignments.empty()) {
      TopicPtr t = projected_->topic(c->id);
      const auto replication =
          t->partitions.empty() ? 1 : static_cast<std::int32_t>(t->partitions[0].replicas.size());
      c->assignments =
          projected_->assign(std::int64_t{c->total} - t->partition_count(), replication);
    }
  }
}

bool LocalMetadataLog::write(MetadataChange& change, std::function<void(std::string)> written) {
  if (auto* c = std::get_if<CreateTopic>(&change)) {
    TopicInfo info;
    info.name = c->name;
    info.id = c->id;
    info.partitions = c->partitions;
    info.configs = c->configs;
    store_.create_topic(std::move(info), std::move(written));
    // The store shows a created topic at once, with the id it picked for
    // a zero one; not there means it refused the topic.
    const TopicInfo* t = store_.find_topic(c->name);
    if (t == nullptr) return false;
    c->id = t->id;
    return true;
  }
  if (auto* c = std::get_if<DeleteTopic>(&change)) {
    store_.delete_topic(c->id, std::move(written));
  } else if (auto* c = std::get_if<CreatePartitions>(&change)) {
    store_.add_partitions(c->id, c->total, std::move(written));
  } else if (auto* c = std::get_if<SetTopicConfigs>(&change)) {
    store_.set_topic_configs(c->id, c->configs, std::move(written));
  } else if (std::holds_alternative<SetBrokerConfigs>(change)) {
    store_.put_cluster_record(kBrokerConfigsRecord,
                              broker_configs_record(*projected_->apply(change)),
                              std::move(written));
  } else if (std::holds_alternative<SetClientQuotas>(change)) {
    store_.put_cluster_record(kClientQuotasRecord, projected_->apply(change)->quotas().encode(),
                              std::move(written));
  }
  return true;
}

std::string LocalMetadataLog::broker_configs_record(const MetadataImage& image) const {
  nlohmann::json j = {{"broker", to_json(image.broker_configs(options_.node_id))},
                      {"default", to_json(image.broker_configs(std::nullopt))}};
  return j.dump();
}

void LocalMetadataLog::applied(const MetadataChange& change, const std::string& error,
                               const Done& done) {
  if (!error.empty()) {
    // Store failures are sticky: the changes behind this one fail too, and
    // once none is being written the projection is the image again.
    if (writing_ == 0) projected_ = image_;
    done(ErrorCode::kKafkaStorageError, error);
    return;
  }
  ImagePtr before = image_;
  image_ = image_->apply(change);
  if (writing_ == 0) projected_ = image_;
  for (const Listener& fn : listeners_) fn(*before, *image_, change);
  done(ErrorCode::kNone, "");
}

}  // namespace kgw
