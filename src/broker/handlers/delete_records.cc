// DeleteRecords (key 21): move partitions' log start offsets forward;
// batches wholly below go (storage/store.h, set_log_start_offset).
//
// Guards, per partition, as Kafka answers them: unknown topic or partition
// (UNKNOWN_TOPIC_OR_PARTITION), a topic whose cleanup.policy lacks delete
// (POLICY_VIOLATION: compacted data is not deleted by offset), an offset
// below 0 other than -1 (the high watermark) or above the high watermark
// (OFFSET_OUT_OF_RANGE). An offset at or below the current log start
// changes nothing and answers the current log start.
#include <memory>
#include <set>

#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "src/txn/producer_state_manager.h"
#include "storage/store.h"

namespace kgw {

namespace {
using DeleteCall = PendingCall<DeleteRecordsRequest, DeleteRecordsResponse>;

// The request's and response's field names for for_each_partition(): the
// common ones, and no low watermark until one is known.
struct DeleteRecordsShape : NamedTopicsShape {
  void start(const auto& in, auto& out) const {
    out.partition_index = in.partition_index;
    out.low_watermark = -1;
  }
};
}  // namespace

void handle_delete_records(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<DeleteCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  Store& store = ctx.store();
  std::set<std::pair<std::string_view, std::int32_t>> seen;
  for_each_partition(
      ctx.resolver(), DeleteRecordsShape{}, call->body.topics, call->resp.topics, NoGuard{},
      [&](std::size_t ti, std::size_t pi, const auto& p, auto&,
          const LocalPartition& local) -> ErrorCode {
        const TopicInfo* topic = local.topic;
        if (!seen.insert({call->body.topics[ti].name, p.partition_index}).second) {
          return ErrorCode::kInvalidRequest;  // named twice
        }
        if (!ctx.config().log_policy(topic->configs).delete_enabled) {
          return ErrorCode::kPolicyViolation;
        }
        // Up to the high watermark (over the ISR), as Kafka: -1 means it;
        // followers learn the new log start from their fetches.
        const std::int64_t hw = ctx.replicas().high_watermark(topic->id, p.partition_index);
        const std::int64_t offset = p.offset == -1 ? hw : p.offset;
        if (offset < 0 || offset > hw) return ErrorCode::kOffsetOutOfRange;
        ++call->pending;
        const Uuid id = topic->id;
        const std::int32_t partition = p.partition_index;
        store.set_log_start_offset(
            id, partition, offset,
            [&ctx, call, ti, pi, id, partition, name = topic->name, offset](std::string error) {
              auto& o = call->resp.topics[ti].partitions[pi];
              if (!error.empty()) {
                LOG_ERROR("broker", "DeleteRecords on %s-%d: %s", name.c_str(), partition,
                          error.c_str());
                o.error_code = code(ErrorCode::kKafkaStorageError);
              } else {
                const PartitionState* now = ctx.store().partition(id, partition);
                o.low_watermark = now != nullptr ? now->log_start_offset : offset;
                // Aborted transactions wholly below it concern no fetch now.
                ctx.producers().on_log_start(id, partition, o.low_watermark);
                LOG_INFO("broker", "DeleteRecords: %s-%d log start offset now %lld", name.c_str(),
                         partition, static_cast<long long>(o.low_watermark));
              }
              finish_one(ctx, *call);
            });
        return ErrorCode::kNone;
      });
  finish_one(ctx, *call);
}

}  // namespace kgw
