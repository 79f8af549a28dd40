#include "src/proxy/admin_forward.h"

#include "src/cluster/metadata_image.h"

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

}  // namespace kgw
