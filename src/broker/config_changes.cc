#include "src/broker/config_changes.h"

#include <memory>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "src/broker/broker.h"
#include "storage/store.h"

namespace kgw {

namespace {

constexpr const char* kBrokerConfigsRecord = "dynamic-broker-configs";

nlohmann::json to_json(const std::map<std::string, std::string>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

bool from_json(const nlohmann::json& j, std::map<std::string, std::string>& out) {
  if (!j.is_object()) return false;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return false;
    out[k] = v.get<std::string>();
  }
  return true;
}

}  // namespace

std::optional<DynamicLayer> broker_layer(const Broker& broker, std::string_view name,
                                         std::string& error) {
  if (name.empty()) return DynamicLayer::kDefault;
  const std::string node = std::to_string(broker.identity().node_id);
  if (name == node) return DynamicLayer::kBroker;
  error = "Unexpected broker id, expected " + node + " or empty string, but received " +
          std::string(name);
  return std::nullopt;
}

void commit_topic_configs(Broker& broker, const TopicInfo& topic,
                          std::map<std::string, std::string> configs,
                          std::function<void(std::string)> done) {
  const std::string name = topic.name;
  broker.store().set_topic_configs(
      topic.id, std::move(configs), [name, done = std::move(done)](std::string error) {
        if (error.empty()) {
          LOG_INFO("configs", "changed the configs of topic %s", name.c_str());
        } else {
          LOG_ERROR("configs", "changing the configs of topic %s: %s", name.c_str(), error.c_str());
        }
        done(std::move(error));
      });
}

void commit_broker_configs(Broker& broker, DynamicLayer layer,
                           std::map<std::string, std::string> configs,
                           std::function<void(std::string)> done) {
  BrokerConfig& config = broker.config();
  config.set_dynamic(layer, std::move(configs));
  Store& store = broker.store();
  store.refresh_policies();
  store.set_maintenance(config.maintenance());
  nlohmann::json j = {{"broker", to_json(config.dynamic(DynamicLayer::kBroker))},
                      {"default", to_json(config.dynamic(DynamicLayer::kDefault))}};
  const char* which = layer == DynamicLayer::kBroker ? "this broker" : "the cluster default";
  store.put_cluster_record(
      kBrokerConfigsRecord, j.dump(), [which, done = std::move(done)](std::string error) {
        if (error.empty()) {
          LOG_INFO("configs", "changed the dynamic broker configs of %s", which);
        } else {
          LOG_ERROR("configs", "saving dynamic broker configs: %s", error.c_str());
        }
        done(std::move(error));
      });
}

namespace {

struct AlterRun {
  std::vector<ConfigResourceResult> results;
  std::function<void(std::vector<ConfigResourceResult>)> done;
  int pending = 1;
};

void finish_one(const std::shared_ptr<AlterRun>& run) {
  if (--run->pending == 0) run->done(std::move(run->results));
}

}  // namespace

void alter_config_resources(Broker& broker, std::vector<ConfigResourceChange> resources,
                            bool validate_only, std::string logger_message,
                            std::function<void(std::vector<ConfigResourceResult>)> done) {
  auto run = std::make_shared<AlterRun>();
  run->results.resize(resources.size());
  run->done = std::move(done);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const ConfigResourceChange& want = resources[i];
    ConfigResourceResult& out = run->results[i];
    auto fail = [&out](ErrorCode e, std::string message) {
      out.error = e;
      out.message = std::move(message);
    };
    auto committed = [run, i](std::string error) {
      if (!error.empty()) {
        run->results[i].error = ErrorCode::kKafkaStorageError;
        run->results[i].message = std::move(error);
      }
      finish_one(run);
    };
    std::string message;
    if (want.resource_type == kTopicResource) {
      const TopicInfo* t = broker.store().find_topic(want.resource_name);
      if (t == nullptr) {
        fail(ErrorCode::kUnknownTopicOrPartition,
             "Topic '" + std::string(want.resource_name) + "' does not exist.");
        continue;
      }
      std::map<std::string, std::string> configs = t->configs;
      if (ErrorCode e = want.edit(configs, message); e != ErrorCode::kNone) {
        fail(e, std::move(message));
        continue;
      }
      if (std::string err = BrokerConfig::validate_topic_overrides(configs); !err.empty()) {
        fail(ErrorCode::kInvalidConfig, err);
        continue;
      }
      if (validate_only) continue;
      ++run->pending;
      commit_topic_configs(broker, *t, std::move(configs), committed);
    } else if (want.resource_type == kBrokerResource) {
      std::string error;
      auto layer = broker_layer(broker, want.resource_name, error);
      if (!layer) {
        fail(ErrorCode::kInvalidRequest, error);
        continue;
      }
      std::map<std::string, std::string> configs = broker.config().dynamic(*layer);
      if (ErrorCode e = want.edit(configs, message); e != ErrorCode::kNone) {
        fail(e, std::move(message));
        continue;
      }
      if (std::string err = BrokerConfig::validate_dynamic(configs); !err.empty()) {
        fail(ErrorCode::kInvalidConfig, err);
        continue;
      }
      if (validate_only) continue;
      ++run->pending;
      commit_broker_configs(broker, *layer, std::move(configs), committed);
    } else if (want.resource_type == kBrokerLoggerResource) {
      fail(ErrorCode::kInvalidRequest, logger_message);
    } else {
      fail(ErrorCode::kInvalidRequest,
           "Unsupported resource type " + std::to_string(want.resource_type));
    }
  }
  finish_one(run);
}

std::string load_dynamic_broker_configs(const Store& store, BrokerConfig& config) {
  const std::string* value = store.cluster_record(kBrokerConfigsRecord);
  if (value == nullptr) return "";
  nlohmann::json j = nlohmann::json::parse(*value, nullptr, false);
  std::map<std::string, std::string> broker, defaults;
  if (!j.is_object() || !j.contains("broker") || !j.contains("default") ||
      !from_json(j["broker"], broker) || !from_json(j["default"], defaults)) {
    return "the stored dynamic broker configs are not {\"broker\": {...}, \"default\": {...}}";
  }
  // A config a later version no longer knows (or accepts) is dropped with
  // a warning rather than refusing to start.
  for (auto* m : {&broker, &defaults}) {
    for (auto it = m->begin(); it != m->end();) {
      std::string err = BrokerConfig::validate_dynamic({{it->first, it->second}});
      if (!err.empty()) {
        LOG_WARN("configs", "ignoring stored dynamic broker config %s=%s: %s", it->first.c_str(),
                 it->second.c_str(), err.c_str());
        it = m->erase(it);
      } else {
        ++it;
      }
    }
  }
  config.set_dynamic(DynamicLayer::kBroker, std::move(broker));
  config.set_dynamic(DynamicLayer::kDefault, std::move(defaults));
  return "";
}

}  // namespace kgw
