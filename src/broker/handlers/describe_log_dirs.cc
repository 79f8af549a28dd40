// DescribeLogDirs (key 35): kgw has one "log dir", its data dir, and
// reports each partition's size as Kafka does (the bytes of its segments,
// storage/segment_list.h), with offset lag 0 and no future replicas.
// total_bytes / usable_bytes (v4+) are the volume's, from statvfs. With
// several brokers, only the partitions this broker is a replica of.
#include <sys/statvfs.h>

#include <algorithm>
#include <deque>
#include <filesystem>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"
#include "src/replica/partition_resolver.h"
#include "storage/store.h"

namespace kgw {

void handle_describe_log_dirs(HandlerContext& ctx, RequestPtr req) {
  DescribeLogDirsRequest body;
  if (!ctx.decode(*req, body)) return;
  Store& store = ctx.store();
  DescribeLogDirsResponse resp;
  std::error_code ec;
  const std::string dir =
      std::filesystem::absolute(store.data_dir(), ec).lexically_normal().string();
  auto& result = resp.results.emplace_back();
  result.log_dir = dir;
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) == 0) {
    result.total_bytes =
        static_cast<std::int64_t>(vfs.f_blocks) * static_cast<std::int64_t>(vfs.f_frsize);
    result.usable_bytes =
        static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
  }
  std::deque<std::string> names;
  const ImagePtr image = ctx.metadata().image();
  const std::int32_t self = ctx.identity().node_id;
  auto add = [&](const TopicInfo& t, const std::vector<std::int32_t>* wanted) {
    DescribeLogDirsResponse::DescribeLogDirsTopic out;
    out.name = names.emplace_back(t.name);
    const TopicPtr topic = image->topic(t.id);
    auto one = [&](std::int32_t p) {
      // With several brokers, only the partitions this broker is a replica
      // of are its to describe (on one node, all of them).
      const PartitionImage* pi = topic != nullptr ? topic->partition(p) : nullptr;
      if (pi == nullptr ||
          std::find(pi->replicas.begin(), pi->replicas.end(), self) == pi->replicas.end()) {
        return;
      }
      auto info = store.log_info(t.id, p);
      if (!info) return;  // Kafka leaves out partitions it does not host
      auto& po = out.partitions.emplace_back();
      po.partition_index = p;
      po.partition_size = info->size_bytes;
      po.offset_lag = 0;
      po.is_future_key = false;
    };
    if (wanted == nullptr) {
      for (std::int32_t p = 0; p < t.partitions; ++p) one(p);
    } else {
      for (std::int32_t p : *wanted) one(p);
    }
    if (!out.partitions.empty()) result.topics.push_back(std::move(out));
  };
  if (!body.topics) {
    // The catalogue is the metadata image (sorted by name, as the store's
    // was); the sizes come from the store's logs.
    for (const TopicPtr& listed : image->topics()) {
      const TopicInfo* t = ctx.resolver().topic(TopicKey::by_id(listed->id));
      if (t != nullptr) add(*t, nullptr);
    }
  } else {
    for (const auto& want : *body.topics) {
      const TopicInfo* t = ctx.resolver().topic(TopicKey::by_name(want.topic));
      if (t != nullptr) add(*t, &want.partitions);
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
