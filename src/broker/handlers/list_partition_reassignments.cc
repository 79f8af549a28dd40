// ListPartitionReassignments (key 46): the reassignments in progress, from
// this broker's image (each partition's replicas, adding and removing
// replicas, reassignment.h): all of them (null topics), or those of the
// named partitions; a named partition that is not moving, or does not
// exist, is left out, as Kafka's controller answers. On one node nothing
// is ever in progress.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {

void list_partition(ListPartitionReassignmentsResponse& resp, const TopicImage& t,
                    const PartitionImage& p) {
  if (!p.reassigning()) return;
  if (resp.topics.empty() || resp.topics.back().name != t.name) {
    resp.topics.emplace_back().name = t.name;
  }
  auto& out = resp.topics.back().partitions.emplace_back();
  out.partition_index = p.index;
  out.replicas = p.replicas;
  out.adding_replicas = p.adding;
  out.removing_replicas = p.removing;
}

}  // namespace

void handle_list_partition_reassignments(HandlerContext& ctx, RequestPtr req) {
  ListPartitionReassignmentsRequest body;
  if (!ctx.decode(*req, body)) return;
  ListPartitionReassignmentsResponse resp;
  resp.error_message = std::nullopt;
  // The answer points into the image's topics: keep it until responded.
  ImagePtr image = ctx.metadata().image();
  if (!body.topics) {
    for (const TopicPtr& t : image->topics()) {
      for (const PartitionImage& p : t->partitions) list_partition(resp, *t, p);
    }
  } else {
    for (const auto& want : *body.topics) {
      TopicPtr t = image->topic(want.name);
      if (t == nullptr) continue;
      for (std::int32_t index : want.partition_indexes) {
        if (const PartitionImage* p = t->partition(index)) list_partition(resp, *t, *p);
      }
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
