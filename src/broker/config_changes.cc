#include "src/broker/config_changes.h"

#include "common/log.h"
#include "src/broker/broker.h"
#include "src/cluster/metadata_log.h"
#include "storage/store.h"

namespace kgw {

std::optional<DynamicLayer> broker_layer(const Broker& broker, std::string_view name,
                                         std::string& error) {
  if (name.empty()) return DynamicLayer::kDefault;
  const std::string node = std::to_string(broker.identity().node_id);
  if (name == node) return DynamicLayer::kBroker;
  error = "Unexpected broker id, expected " + node + " or empty string, but received " +
          std::string(name);
  return std::nullopt;
}

namespace {

void use_dynamic_broker_configs(Broker& broker, const MetadataImage& image) {
  broker.config().set_dynamic(DynamicLayer::kBroker,
                              image.broker_configs(broker.identity().node_id));
  broker.config().set_dynamic(DynamicLayer::kDefault, image.broker_configs(std::nullopt));
}

}  // namespace

void commit_topic_configs(Broker& broker, const TopicImage& topic,
                          std::map<std::string, std::string> configs, CommitDone done) {
  const std::string name = topic.name;
  broker.metadata().submit(SetTopicConfigs{topic.id, std::move(configs)},
                           [name, done = std::move(done)](ErrorCode e, std::string error) {
                             if (e == ErrorCode::kUnknownTopicId) {
                               // Another request is deleting it.
                               e = ErrorCode::kUnknownTopicOrPartition;
                               error = "Topic '" + name + "' does not exist.";
                             }
                             if (e == ErrorCode::kNone) {
                               LOG_INFO("configs", "changed the configs of topic %s", name.c_str());
                             } else {
                               LOG_ERROR("configs", "changing the configs of topic %s: %s",
                                         name.c_str(), error.c_str());
                             }
                             done(e, std::move(error));
                           });
}

void commit_broker_configs(Broker& broker, DynamicLayer layer,
                           std::map<std::string, std::string> configs, CommitDone done) {
  SetBrokerConfigs change;
  if (layer == DynamicLayer::kBroker) change.broker = broker.identity().node_id;
  change.configs = std::move(configs);
  const char* which = layer == DynamicLayer::kBroker ? "this broker" : "the cluster default";
  broker.metadata().submit(
      std::move(change), [which, done = std::move(done)](ErrorCode e, std::string error) {
        if (e == ErrorCode::kNone) {
          LOG_INFO("configs", "changed the dynamic broker configs of %s", which);
        } else {
          LOG_ERROR("configs", "saving dynamic broker configs: %s", error.c_str());
        }
        done(e, std::move(error));
      });
}

void follow_dynamic_broker_configs(Broker& broker) {
  use_dynamic_broker_configs(broker, *broker.metadata().image());
  broker.metadata().add_listener(
      [&broker](const MetadataImage&, const MetadataImage& after, const MetadataChange& change) {
        if (!std::holds_alternative<SetBrokerConfigs>(change)) return;
        use_dynamic_broker_configs(broker, after);
        broker.store().refresh_policies();
        broker.store().set_maintenance(broker.config().maintenance());
      });
}

}  // namespace kgw
