// CreatePartitions (key 37): grow a topic to a new total partition count.
// In proxy mode a topic only the legacy cluster has grows there, by its
// controller, which places the new partitions (src/proxy/admin_forward.h).
#include <deque>
#include <memory>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/broker/topics.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/admin_forward.h"

namespace kgw {

namespace {
struct PartitionsCall : PendingAnswer<CreatePartitionsResponse> {
  std::deque<std::string> strings;
};
// The legacy topics at `indexes` grown by the legacy controller: their
// answers are its answers.
void grow_on_legacy(HandlerContext& ctx, const std::shared_ptr<PartitionsCall>& call,
                    CreatePartitionsRequest fwd, std::vector<std::size_t> indexes) {
  Upstream& upstream = *ctx.upstream();
  ++call->pending;
  forward_admin<CreatePartitionsRequest, CreatePartitionsResponse>(
      upstream, AdminTarget::kController, std::move(fwd), call->req->version(),
      [&ctx, &upstream, call, indexes](ErrorCode e, const CreatePartitionsResponse& r) {
        for (std::size_t i : indexes) {
          auto& out = call->resp.results[i];
          const CreatePartitionsResponse::CreatePartitionsTopicResult* got = nullptr;
          for (const auto& t : r.results) {
            if (t.name == out.name) got = &t;
          }
          if (!take_legacy_error(e, got, out, call->strings)) continue;
        }
        upstream.refresh_soon();
        finish_one(ctx, *call);
      });
}

}  // namespace

void handle_create_partitions(HandlerContext& ctx, RequestPtr req) {
  CreatePartitionsRequest body;
  if (!ctx.decode(*req, body)) return;
  auto call = std::make_shared<PartitionsCall>();
  call->req = req;
  auto done = [&ctx, call] { finish_one(ctx, *call); };
  PartitionBudget budget(ctx, *req);
  const ImagePtr image = ctx.metadata().image();
  call->resp.results.resize(body.topics.size());
  CreatePartitionsRequest legacy;
  legacy.timeout_ms = body.timeout_ms;
  legacy.validate_only = body.validate_only;
  std::vector<std::size_t> legacy_indexes;
  for (std::size_t i = 0; i < body.topics.size(); ++i) {
    const auto& t = body.topics[i];
    auto& out = call->resp.results[i];
    out.name = t.name;
    auto fail = [&](ErrorCode e, std::string message) {
      out.error_code = code(e);
      out.error_message = call->strings.emplace_back(std::move(message));
    };
    const TopicPtr topic = image->topic(t.name);
    if (topic == nullptr && legacy_only_topic(ctx.upstream(), *image, t.name) != nullptr) {
      if (t.assignments && !t.assignments->empty()) {
        // The client knows kgw's broker ids only.
        fail(ErrorCode::kInvalidReplicaAssignment,
             "Topic '" + std::string(t.name) +
                 "' lives on the legacy cluster, which places its new partitions: leave the "
                 "assignment out");
        continue;
      }
      legacy.topics.push_back(t);
      legacy_indexes.push_back(i);
      continue;
    }
    if (topic == nullptr) {
      fail(ErrorCode::kUnknownTopicOrPartition,
           "The topic '" + std::string(t.name) + "' does not exist.");
      continue;
    }
    if (std::string why; migrating_topic_error(ctx.upstream(), *topic, why) != ErrorCode::kNone) {
      fail(ErrorCode::kPolicyViolation, std::move(why));
      continue;
    }
    const std::int32_t current = topic->partition_count();
    if (t.count <= current) {
      fail(ErrorCode::kInvalidPartitions, "Topic currently has " + std::to_string(current) +
                                              " partitions, which is higher than the requested " +
                                              std::to_string(t.count) + ".");
      continue;
    }
    ReplicaAssignment assignments;
    if (t.assignments && image->brokers().size() > 1) {
      // Several brokers: the image checks the replicas when the change is
      // submitted (known brokers, one count for every partition).
      if (t.assignments->size() != static_cast<std::size_t>(t.count - current)) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             "Increasing the number of partitions by " + std::to_string(t.count - current) +
                 " but " + std::to_string(t.assignments->size()) + " assignments provided.");
        continue;
      }
      for (const auto& a : *t.assignments) assignments.push_back(a.broker_ids);
    } else if (t.assignments) {
      bool bad = t.assignments->size() != static_cast<std::size_t>(t.count - current);
      for (const auto& a : *t.assignments) {
        bad = bad || a.broker_ids.size() != 1 || a.broker_ids[0] != ctx.identity().node_id;
      }
      if (bad) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             "Each new partition needs one replica, on broker " +
                 std::to_string(ctx.identity().node_id) + " (the only broker)");
        continue;
      }
    }
    // Before anything is allocated for them (the count may be 2^31 - 1).
    if (std::string err = budget.take(std::int64_t{t.count} - current); !err.empty()) {
      fail(ErrorCode::kInvalidPartitions, err);
      continue;
    }
    if (body.validate_only) continue;
    ++call->pending;
    std::string name(t.name);
    ctx.metadata().submit(CreatePartitions{topic->id, t.count, std::move(assignments)},
                          [call, i, name, done](ErrorCode e, std::string error) {
                            if (e == ErrorCode::kUnknownTopicId) {
                              // Another request is deleting it.
                              e = ErrorCode::kUnknownTopicOrPartition;
                              error = "The topic '" + name + "' does not exist.";
                            }
                            if (e != ErrorCode::kNone) {
                              call->resp.results[i].error_code = code(e);
                              call->resp.results[i].error_message =
                                  call->strings.emplace_back(error);
                            }
                            done();
                          });
  }
  if (!legacy_indexes.empty()) {
    grow_on_legacy(ctx, call, std::move(legacy), std::move(legacy_indexes));
  }
  done();
}

}  // namespace kgw
