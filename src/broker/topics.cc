#include "src/broker/topics.h"

#include "src/broker/broker.h"
#include "src/util/log.h"
#include "storage/store.h"

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

void create_topic(Broker& broker, std::string_view name, std::int32_t partitions,
                  std::int32_t replication_factor, std::map<std::string, std::string> configs,
                  bool validate_only, std::function<void(TopicCreation)> done) {
  TopicCreation result;
  auto fail = [&](ErrorCode e, std::string message) {
    result.error = e;
    result.message = std::move(message);
    done(std::move(result));
  };
  if (std::string err = topic_name_error(name); !err.empty()) {
    return fail(ErrorCode::kInvalidTopicException, err);
  }
  if (broker.store().find_topic(name) != nullptr) {
    return fail(ErrorCode::kTopicAlreadyExists, "Topic '" + std::string(name) + "' already exists.");
  }
  if (partitions == -1) partitions = static_cast<std::int32_t>(broker.config().get_long("num.partitions"));
  if (partitions <= 0) {
    return fail(ErrorCode::kInvalidPartitions, "Number of partitions must be larger than 0.");
  }
  if (replication_factor == -1) {
    replication_factor = static_cast<std::int32_t>(broker.config().get_long("default.replication.factor"));
  }
  if (replication_factor <= 0) {
    return fail(ErrorCode::kInvalidReplicationFactor, "Replication factor must be larger than 0.");
  }
  if (replication_factor > 1) {
    return fail(ErrorCode::kInvalidReplicationFactor,
                "Unable to replicate the partition " + std::to_string(replication_factor) +
                    " time(s): The target replication factor of " +
                    std::to_string(replication_factor) +
                    " cannot be reached because only 1 broker(s) are registered.");
  }
  for (const auto& [key, value] : configs) {
    const ConfigDef* def = find_topic_config(key);
    if (def == nullptr) return fail(ErrorCode::kInvalidConfig, "Unknown topic config name: " + key);
    if (std::string err = validate_config_value(*def, value); !err.empty()) {
      return fail(ErrorCode::kInvalidConfig, err);
    }
  }
  if (validate_only) return done(std::move(result));
  TopicInfo info;
  info.name = std::string(name);
  info.partitions = partitions;
  info.configs = std::move(configs);
  Store& store = broker.store();
  std::string topic_name = info.name;
  store.create_topic(std::move(info), [&store, topic_name, done = std::move(done)](std::string error) {
    TopicCreation r;
    if (!error.empty()) {
      LOG_ERROR("broker", "creating topic %s: %s", topic_name.c_str(), error.c_str());
      r.error = ErrorCode::kKafkaStorageError;
      r.message = error;
    } else {
      r.topic = store.find_topic(topic_name);
      LOG_INFO("broker", "created topic %s", topic_name.c_str());
    }
    done(std::move(r));
  });
}

}  // namespace kgw
