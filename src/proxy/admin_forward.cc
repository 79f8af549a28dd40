#include "src/proxy/admin_forward.h"

#include "src/cluster/metadata_image.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

const UpstreamTopic* legacy_only_topic(const Upstream* upstream, const MetadataImage& image,
                                       std::string_view name) {
  if (upstream == nullptr || image.topic(name) != nullptr) return nullptr;
  const UpstreamTopic* u = upstream->topic(name);
  return u != nullptr && !u->internal ? u : nullptr;
}

const UpstreamTopic* legacy_only_topic(const Upstream* upstream, const MetadataImage& image,
                                       const Uuid& id) {
  if (upstream == nullptr || id == Uuid{} || image.topic(id) != nullptr) return nullptr;
  for (const auto& [name, t] : upstream->topics()) {
    if (t.id == id) return t.internal ? nullptr : &t;
  }
  return nullptr;
}

ErrorCode migrating_topic_error(const Upstream* upstream, const TopicImage& topic,
                                std::string& message) {
  if (upstream == nullptr) return ErrorCode::kNone;
  const std::string_view state = PartitionResolver::migration_state(topic.configs);
  if (PartitionResolver::served_here(state)) return ErrorCode::kNone;
  message = "Topic '" + topic.name + "' is being migrated off the legacy cluster (" +
            std::string(PartitionResolver::kMigrationState) + "=" + std::string(state) +
            "): finish the migration (kgw-admin migrate cutover) or roll it back (kgw-admin " +
            "migrate rollback) first";
  return ErrorCode::kPolicyViolation;
}

}  // namespace kgw
