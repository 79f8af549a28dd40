#include "src/broker/topics.h"

#include "common/log.h"
#include "src/broker/handler_context.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/migration_state.h"
#include "src/proxy/upstream.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

std::string topic_name_error(std::string_view name) {
  if (name.empty()) return "Topic name is illegal, it can't be empty";
  if (name == "." || name == "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.size() > 249) {
    return "Topic name is illegal, it can't be longer than 249 characters, topic name: " +
           std::string(name);
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return "Topic name \"" + std::string(name) +
             "\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' "
             "and '-'";
    }
  }
  return "";
}

PartitionBudget::PartitionBudget(HandlerContext& ctx, const RequestContext& req)
    : ctx_(ctx),
      req_(req),
      per_request_(ctx.config().get_long("kgw.max.partitions.per.request")),
      per_broker_(ctx.config().get_long("kgw.max.partitions")) {}

std::string PartitionBudget::take(std::int64_t count) {
  if (existing_ < 0) {
    existing_ = ctx_.metadata().image()->partition_count();
  }
  std::string error;
  if (taken_ + count > per_request_) {
    error = "Adding " + std::to_string(count) + " partitions would make this request add " +
            std::to_string(taken_ + count) + ", more than kgw.max.partitions.per.request (" +
            std::to_string(per_request_) +
            ") allows; ask for fewer, or raise it with --set kgw.max.partitions.per.request=N.";
  } else if (existing_ + taken_ + count > per_broker_) {
    error = "Adding " + std::to_string(count) + " partitions would bring this broker to " +
            std::to_string(existing_ + taken_ + count) + ", more than kgw.max.partitions (" +
            std::to_string(per_broker_) +
            ") allows; delete topics, or raise it with --set kgw.max.partitions=N.";
  } else {
    taken_ += count;
    return "";
  }
  if (!logged_) {
    logged_ = true;
    LOG_WARN("broker", "%s (client %s, api key %d): %s", req_.peer().c_str(),
             std::string(req_.header.client_id.value_or("")).c_str(), req_.api_key(),
             error.c_str());
  }
  return error;
}

void create_topic(HandlerContext& ctx, std::string_view name, std::int32_t partitions,
                  std::int32_t replication_factor, ReplicaAssignment assignments,
                  std::map<std::string, std::string> configs, bool validate_only,
                  PartitionBudget& budget, std::function<void(TopicCreation)> done) {
  TopicCreation result;
  auto fail = [&](ErrorCode e, std::string message) {
    result.error = e;
    result.message = std::move(message);
    done(std::move(result));
  };
  if (std::string err = topic_name_error(name); !err.empty()) {
    return fail(ErrorCode::kInvalidTopicException, err);
  }
  const ImagePtr image = ctx.metadata().image();
  if (image->topic(name) != nullptr) {
    return fail(ErrorCode::kTopicAlreadyExists,
                "Topic '" + std::string(name) + "' already exists.");
  }
  // Migration (issue 17): the local copy of a legacy topic that kgw
  // mirrors has the legacy topic's id and partition count, so that a
  // client's topic id and partitions stay the same across the migration.
  Uuid id{};
  if (auto m = configs.find(std::string(PartitionResolver::kMigrationState));
      m != configs.end() && m->second != PartitionResolver::kMirroring &&
      m->second != PartitionResolver::kLocal) {
    return fail(ErrorCode::kInvalidConfig,
                std::string(PartitionResolver::kMigrationState) + "=" + m->second +
                    " is a later step of a migration; a topic is created mirroring (kgw-admin "
                    "migrate start) or local");
  }
  for (std::string_view set_later : {PartitionResolver::kMigrationFinalized, kMigrationLeaderEpoch,
                                     kMigrationLegacyEnd, kMigrationDiverged}) {
    if (configs.count(std::string(set_later)) != 0) {
      return fail(ErrorCode::kInvalidConfig,
                  std::string(set_later) + " is set by a migration's cutover, not at creation");
    }
  }
  if (auto m = configs.find(std::string(PartitionResolver::kMigrationState));
      m != configs.end() && m->second == PartitionResolver::kMirroring) {
    const UpstreamTopic* legacy = ctx.upstream() != nullptr ? ctx.upstream()->topic(name) : nullptr;
    if (legacy == nullptr) {
      return fail(ErrorCode::kInvalidConfig,
                  "kgw.migration.state=mirroring needs a topic of the upstream (legacy) cluster; "
                  "'" +
                      std::string(name) + "' is not one" +
                      (ctx.upstream() == nullptr ? " (kgw runs without --upstream)" : ""));
    }
    const auto legacy_partitions = static_cast<std::int32_t>(legacy->leaders.size());
    if (partitions != -1 && partitions != legacy_partitions) {
      return fail(ErrorCode::kInvalidPartitions, "The legacy topic '" + std::string(name) +
                                                     "' has " + std::to_string(legacy_partitions) +
                                                     " partitions");
    }
    partitions = legacy_partitions;
    id = legacy->id;
    // The copy's log start is the legacy one's (the mirror follows it):
    // no retention of its own deletes what the legacy cluster still has,
    // unless asked for.
    configs.emplace("retention.ms", "-1");
    configs.emplace("retention.bytes", "-1");
  }
  if (partitions == -1)
    partitions = static_cast<std::int32_t>(ctx.config().get_long("num.partitions"));
  if (partitions <= 0) {
    return fail(ErrorCode::kInvalidPartitions, "Number of partitions must be larger than 0.");
  }
  if (replication_factor == -1) {
    replication_factor =
        static_cast<std::int32_t>(ctx.config().get_long("default.replication.factor"));
  }
  if (replication_factor <= 0) {
    return fail(ErrorCode::kInvalidReplicationFactor, "Replication factor must be larger than 0.");
  }
  // Fenced brokers take no new replicas (Kafka counts the usable ones). A
  // manual assignment names its brokers itself (checked by the caller).
  std::size_t brokers = 0;
  for (const auto& [id, b] : image->brokers()) brokers += b.fenced ? 0 : 1;
  if (assignments.empty() && static_cast<std::size_t>(replication_factor) > brokers) {
    return fail(ErrorCode::kInvalidReplicationFactor,
                "Unable to replicate the partition " + std::to_string(replication_factor) +
                    " time(s): The target replication factor of " +
                    std::to_string(replication_factor) + " cannot be reached because only " +
                    std::to_string(brokers) + " broker(s) are registered.");
  }
  for (const auto& [key, value] : configs) {
    const ConfigDef* def = find_topic_config(key);
    if (def == nullptr) return fail(ErrorCode::kInvalidConfig, "Unknown topic config name: " + key);
    if (std::string err = validate_config_value(*def, value); !err.empty()) {
      return fail(ErrorCode::kInvalidConfig, err);
    }
  }
  if (std::string err = budget.take(partitions); !err.empty()) {
    return fail(ErrorCode::kInvalidPartitions, err);
  }
  if (validate_only) return done(std::move(result));
  CreateTopic change;
  change.name = std::string(name);
  change.id = id;
  change.partitions = partitions;
  change.replication_factor = replication_factor;
  change.assignments = std::move(assignments);
  change.configs = std::move(configs);
  MetadataLog& log = ctx.metadata();
  std::string topic_name = change.name;
  log.submit(std::move(change),
             [&log, topic_name, done = std::move(done)](ErrorCode e, std::string error) {
               TopicCreation r;
               if (e != ErrorCode::kNone) {
                 // A storage error, or a refusal of the log (the same name being
                 // created by another request).
                 if (e == ErrorCode::kKafkaStorageError) {
                   LOG_ERROR("broker", "creating topic %s: %s", topic_name.c_str(), error.c_str());
                 }
                 r.error = e;
                 r.message = std::move(error);
               } else {
                 r.topic = log.image()->topic(topic_name);
                 LOG_INFO("broker", "created topic %s", topic_name.c_str());
               }
               done(std::move(r));
             });
}

}  // namespace kgw
