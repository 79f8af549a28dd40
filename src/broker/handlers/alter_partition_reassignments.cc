// AlterPartitionReassignments (key 45): each partition's new replica set
// (or, null, the cancel of the one in progress) goes to the controller as
// one AlterReassignment through the metadata log, whichever broker is
// asked; reassignment.h has the rules (the target is added, the adding
// replicas catch up, then the removed ones leave). On one node every
// registered broker is this node, so a reassignment to it changes
// nothing and completes at once (as Kafka answers a reassignment to the
// current replicas).
//
// Threads: the loop thread; the answer leaves when every partition's
// change is answered.
//
// The happy path is: topic names are resolved on this broker's image (an
// unknown topic's partitions are UNKNOWN_TOPIC_OR_PARTITION here), every
// partition is submitted, and each answer fills its slot in request
// order.
//
// Failure modes: each partition's own (INVALID_REPLICA_ASSIGNMENT,
// NO_REASSIGNMENT_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION; no controller
// within the request timeout: REQUEST_TIMED_OUT, retriable). The request
// as a whole does not fail: its top-level error stays 0, as Kafka's.
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/cluster/metadata_log.h"

namespace kgw {

namespace {

struct ReassignCall
    : PendingCall<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse> {
  std::deque<std::string> text;  // messages the answer points into
};

}  // namespace

void handle_alter_partition_reassignments(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<ReassignCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  AlterPartitionReassignmentsResponse& resp = call->resp;
  resp.error_message = std::nullopt;
  ImagePtr image = ctx.metadata().image();
  for (const auto& want : call->body.topics) {
    auto& out = resp.responses.emplace_back();
    out.name = want.name;
    out.partitions.resize(want.partitions.size());
  }
  for (std::size_t ti = 0; ti < call->body.topics.size(); ++ti) {
    const auto& want = call->body.topics[ti];
    TopicPtr t = image->topic(want.name);
    for (std::size_t pi = 0; pi < want.partitions.size(); ++pi) {
      const auto& p = want.partitions[pi];
      auto& r = resp.responses[ti].partitions[pi];
      r.partition_index = p.partition_index;
      r.error_message = std::nullopt;
      if (t == nullptr) {
        r.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        r.error_message =
            call->text.emplace_back("Unable to find a topic named " + std::string(want.name) + ".");
        continue;
      }
      AlterReassignment change;
      change.topic = t->id;
      change.partition = p.partition_index;
      if (p.replicas) change.replicas.emplace(p.replicas->begin(), p.replicas->end());
      ++call->pending;
      ctx.metadata().submit(std::move(change),
                            [&ctx, call, ti, pi](ErrorCode e, std::string message) {
                              auto& r = call->resp.responses[ti].partitions[pi];
                              r.error_code = code(e);
                              if (e != ErrorCode::kNone)
                                r.error_message = call->text.emplace_back(std::move(message));
                              finish_one(ctx, *call);
                            });
    }
  }
  finish_one(ctx, *call);
}

}  // namespace kgw
