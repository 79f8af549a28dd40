// DescribeTopicPartitions (key 75, KIP-966): what Metadata says of a
// partition, plus its eligible leader replicas, paged by a cursor. Kafka
// 3.7+ admin clients (kafka-topics.sh --describe) ask this instead of
// Metadata.
//
// As Kafka's DescribeTopicPartitionsRequestHandler: the named topics, or
// every topic when none is named, in name order from the cursor's topic
// (its partitions from the cursor's index); at most
// min(response_partition_limit, max.request.partition.size.limit)
// partitions (at least 1), with next_cursor at the first one left out. A
// named topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION
// (INVALID_TOPIC_EXCEPTION for an illegal name); a cursor whose topic is
// not among the named ones, or with a negative partition, makes the whole
// request INVALID_REQUEST. A partition without a live leader has leader -1
// and no error (unlike Metadata). The metadata image keeps no last known
// ELR (Kafka's lastKnownElr), so that list is always empty. No authorizer yet: authorized
// operations keep their "not asked" value, as Metadata's do.
#include <algorithm>
#include <set>
#include <string_view>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/topics.h"
#include "src/cluster/coordinator_placement.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {

using Response = DescribeTopicPartitionsResponse;

bool alive(const MetadataImage& image, std::int32_t node) {
  const BrokerImage* b = image.broker(node);
  return b != nullptr && !b->fenced;
}

void fill_partition(const MetadataImage& image,
                    Response::DescribeTopicPartitionsResponsePartition& out,
                    const PartitionImage& p) {
  out.partition_index = p.index;
  out.leader_id = alive(image, p.leader) ? p.leader : -1;
  out.leader_epoch = p.leader_epoch;
  out.replica_nodes = p.replicas;
  out.isr_nodes = p.isr;
  out.eligible_leader_replicas = p.elr;
  out.last_known_elr = std::vector<std::int32_t>{};
  for (std::int32_t r : p.replicas) {
    if (!alive(image, r)) out.offline_replicas.push_back(r);
  }
}

// Built by value and assigned: clang cannot default-construct a nested
// struct with member initialisers inside std::optional::emplace() (the
// generated Cursor is nested in the response), gcc can.
Response::Cursor cursor_at(std::string_view topic, std::int32_t partition) {
  Response::Cursor c;
  c.topic_name = topic;
  c.partition_index = partition;
  return c;
}

}  // namespace

void handle_describe_topic_partitions(HandlerContext& ctx, RequestPtr req) {
  DescribeTopicPartitionsRequest body;
  if (!ctx.decode(*req, body)) return;
  Response resp;
  const bool all = body.topics.empty();
  const std::string_view cursor_topic = body.cursor ? body.cursor->topic_name : std::string_view();
  // The topics to answer, sorted and without duplicates (names point into
  // the request or the image, both kept until the answer is encoded).
  std::set<std::string_view> names;
  const ImagePtr image = ctx.metadata().image();
  std::vector<TopicPtr> topics;
  if (all) {
    topics = image->topics();
    for (const TopicPtr& t : topics) {
      if (t->name >= cursor_topic) names.insert(t->name);
    }
  } else {
    for (const auto& want : body.topics) {
      if (want.name >= cursor_topic) names.insert(want.name);
    }
  }
  const bool bad_cursor =
      body.cursor && ((!all && !names.contains(cursor_topic)) || body.cursor->partition_index < 0);
  if (bad_cursor) {
    // Kafka's error answer: every named topic with the error, no partitions.
    for (const auto& want : body.topics) {
      auto& out = resp.topics.emplace_back();
      out.name = want.name;
      out.error_code = code(ErrorCode::kInvalidRequest);
    }
    ctx.respond(*req, resp);
    return;
  }
  const std::int64_t broker_limit = ctx.config().get_long("max.request.partition.size.limit");
  std::int64_t remaining = std::max<std::int64_t>(
      std::min<std::int64_t>(broker_limit, body.response_partition_limit), 1);
  const bool clustered = ctx.identity().clustered;
  for (std::string_view name : names) {
    if (remaining == 0) {
      // Every partition of the topics before is in: resume at this one.
      resp.next_cursor = cursor_at(name, 0);
      break;
    }
    const TopicPtr t = image->topic(name);
    if (t == nullptr) {
      if (all) continue;
      auto& out = resp.topics.emplace_back();
      out.name = name;
      out.error_code = code(topic_name_error(name).empty() ? ErrorCode::kUnknownTopicOrPartition
                                                           : ErrorCode::kInvalidTopicException);
      continue;
    }
    topics.push_back(t);  // keeps the name alive if it came from the request
    auto& out = resp.topics.emplace_back();
    out.name = t->name;
    out.topic_id = t->id;
    out.is_internal = clustered && (name == kGroupStateTopic || name == kTransactionStateTopic);
    const std::int32_t start =
        name == cursor_topic && body.cursor ? body.cursor->partition_index : 0;
    const auto& parts = t->partitions;
    std::size_t i = static_cast<std::size_t>(start);
    for (; i < parts.size() && remaining > 0; ++i, --remaining) {
      fill_partition(*image, out.partitions.emplace_back(), parts[i]);
    }
    if (i < parts.size()) {
      resp.next_cursor = cursor_at(t->name, static_cast<std::int32_t>(i));
      break;
    }
  }
  ctx.respond(*req, resp);
}

}  // namespace kgw
