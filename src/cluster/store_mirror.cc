#include "src/cluster/store_mirror.h"

#include <string>
#include <vector>

#include "common/log.h"
#include "storage/store.h"

namespace kgw {

namespace {

Store::Done logged(const char* what, std::string topic) {
  return [what, topic = std::move(topic)](std::string error) {
    if (!error.empty()) {
      LOG_ERROR("cluster", "mirroring the metadata into the store: %s topic %s: %s", what,
                topic.c_str(), error.c_str());
    }
  };
}

}  // namespace

void StoreMirror::reconcile(const MetadataImage& image) {
  std::vector<Uuid> stale;
  for (const TopicInfo* info : store_.topics()) {
    TopicPtr t = image.topic(info->id);
    if (t == nullptr || t->name != info->name) stale.push_back(info->id);
  }
  for (const Uuid& id : stale) {
    const TopicInfo* info = store_.find_topic(id);
    LOG_INFO("cluster", "topic %s is not in the cluster's metadata: deleting it here",
             info->name.c_str());
    store_.delete_topic(id, logged("delete", info->name));
  }
  for (const TopicPtr& t : image.topics()) sync(image, t->id);
}

void StoreMirror::changed(const MetadataImage& after, const MetadataChange& change) {
  if (const auto* c = std::get_if<CreateTopic>(&change)) {
    sync(after, c->id);
  } else if (const auto* c = std::get_if<DeleteTopic>(&change)) {
    sync(after, c->id);
  } else if (const auto* c = std::get_if<CreatePartitions>(&change)) {
    sync(after, c->id);
  } else if (const auto* c = std::get_if<SetTopicConfigs>(&change)) {
    sync(after, c->id);
  }
}

void StoreMirror::sync(const MetadataImage& image, const Uuid& id) {
  TopicPtr t = image.topic(id);
  const TopicInfo* have = store_.find_topic(id);
  if (t == nullptr) {
    if (have != nullptr) store_.delete_topic(id, logged("delete", have->name));
    return;
  }
  if (have != nullptr && have->name != t->name) {
    store_.delete_topic(id, logged("delete", have->name));
    have = nullptr;
  }
  // The name held by another id (deleted and re-created elsewhere while
  // this broker did not see it): the image's id wins.
  if (const TopicInfo* other = store_.find_topic(t->name); other != nullptr && other->id != id) {
    store_.delete_topic(other->id, logged("delete", t->name));
  }
  if (have == nullptr) {
    TopicInfo info;
    info.name = t->name;
    info.id = t->id;
    info.partitions = t->partition_count();
    info.configs = t->configs;
    store_.create_topic(std::move(info), logged("create", t->name));
    return;
  }
  if (have->partitions < t->partition_count()) {
    store_.add_partitions(id, t->partition_count(), logged("grow", t->name));
  } else if (have->partitions > t->partition_count()) {
    LOG_WARN("cluster", "topic %s has %d partitions here and %d in the cluster; keeping them",
             t->name.c_str(), have->partitions, t->partition_count());
  }
  if (have->configs != t->configs) {
    store_.set_topic_configs(id, t->configs, logged("configure", t->name));
  }
}

}  // namespace kgw
