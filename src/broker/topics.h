// Topic helpers shared by the handlers that create or look up topics.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "protocol/wire/error_code.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

class HandlerContext;
struct RequestContext;

// "" if `name` is a legal Kafka topic name, else why not.
std::string topic_name_error(std::string_view name);

struct TopicCreation {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  TopicPtr topic;  // as the image has it once created; null for validate_only
};

// The partitions one request may still add: kgw.max.partitions.per.request
// for the request, kgw.max.partitions for the whole broker (Kafka has no
// such broker configs; its controller would try and run out of memory).
// Checked before anything is created or allocated, so a request for 2^31
// partitions costs nothing. Make one per request, on the loop thread: the
// broker's count is read at the first take() (Metadata makes one for every
// request, most never create anything), and partitions this request adds
// are counted as it goes.
class PartitionBudget {
 public:
  PartitionBudget(HandlerContext& ctx, const RequestContext& req);
  // "" if `count` more partitions fit (and takes them), else the error
  // message, naming the limit and how to raise it. The first refusal of a
  // request is logged.
  std::string take(std::int64_t count);

 private:
  HandlerContext& ctx_;
  const RequestContext& req_;
  std::int64_t per_request_ = 0;  // kgw.max.partitions.per.request
  std::int64_t per_broker_ = 0;   // kgw.max.partitions
  std::int64_t taken_ = 0;        // by this request so far
  std::int64_t existing_ = -1;    // on the broker at the first take()
  bool logged_ = false;
};

// Validates and (unless validate_only) creates a topic through the
// metadata log; `done` runs on the loop thread, once the topic is in the
// metadata image (or at once for a refusal). partitions/replication -1 mean the broker defaults.
// Its partitions are taken from `budget` (validate_only too), after every other check.
// `assignments` (checked by the caller, one entry per partition): the
// replicas of each partition; empty: the metadata log places them.
void create_topic(HandlerContext& ctx, std::string_view name, std::int32_t partitions,
                  std::int32_t replication_factor, ReplicaAssignment assignments,
                  std::map<std::string, std::string> configs, bool validate_only,
                  PartitionBudget& budget, std::function<void(TopicCreation)> done);

}  // namespace kgw
