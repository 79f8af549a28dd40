// CreateTopics (key 19): create topics with partitions, replication factor 1
// on one node, and configs; validate_only checks without creating.
#include <deque>
#include <memory>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/topics.h"

namespace kgw {

namespace {

struct CreateCall {
  RequestPtr req;
  CreateTopicsRequest body;
  CreateTopicsResponse resp;
  std::deque<std::string> strings;  // backing storage for answered strings
  int pending = 1;
};

void describe_new_topic(HandlerContext& ctx, CreateCall& call,
                        CreateTopicsResponse::CreatableTopicResult& out,
                        const std::map<std::string, std::string>& overrides) {
  auto& configs = out.configs.emplace();
  for (const ConfigValue& v : ctx.config().describe_topic(overrides)) {
    auto& c = configs.emplace_back();
    c.name = call.strings.emplace_back(v.name);
    if (v.value) c.value = call.strings.emplace_back(*v.value);
    c.read_only = v.read_only;
    c.config_source = static_cast<std::int8_t>(v.source);
  }
}

void done_one(HandlerContext& ctx, const std::shared_ptr<CreateCall>& call) {
  if (--call->pending == 0) ctx.respond(*call->req, call->resp);
}

}  // namespace

void handle_create_topics(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<CreateCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  const bool validate_only = call->body.validate_only;
  // A topic named twice in one request is an error for each mention.
  std::map<std::string_view, int> mentions;
  for (const auto& t : call->body.topics) mentions[t.name]++;

  PartitionBudget budget(ctx, *req);
  call->resp.topics.resize(call->body.topics.size());
  for (std::size_t i = 0; i < call->body.topics.size(); ++i) {
    const auto& t = call->body.topics[i];
    auto& out = call->resp.topics[i];
    out.name = t.name;
    auto fail = [&](ErrorCode e, std::string message) {
      out.error_code = code(e);
      out.error_message = call->strings.emplace_back(std::move(message));
    };
    if (mentions[t.name] > 1) {
      fail(ErrorCode::kInvalidRequest,
           "Create topics request from client `" + std::string(req->header.client_id.value_or("")) +
               "` contains multiple entries for the following topics: " + std::string(t.name));
      continue;
    }
    std::int32_t partitions = t.num_partitions;
    std::int32_t replication = t.replication_factor;
    if (!t.assignments.empty()) {
      if (partitions != -1 || replication != -1) {
        fail(ErrorCode::kInvalidRequest,
             "Both numPartitions or replicationFactor and replicasAssignments were set. Both "
             "cannot be used at the same time.");
        continue;
      }
      partitions = static_cast<std::int32_t>(t.assignments.size());
      replication = static_cast<std::int32_t>(t.assignments.front().broker_ids.size());
      bool bad = false;
      for (std::size_t p = 0; p < t.assignments.size() && !bad; ++p) {
        const auto& a = t.assignments[p];
        bad = a.partition_index != static_cast<std::int32_t>(p) || a.broker_ids.size() != 1 ||
              a.broker_ids[0] != ctx.identity().node_id;
      }
      if (bad) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             "Replica assignments must name partitions 0..N-1, each on broker " +
                 std::to_string(ctx.identity().node_id) + " (the only broker)");
        continue;
      }
    }
    std::map<std::string, std::string> configs;
    bool null_config = false;
    for (const auto& c : t.configs) {
      if (!c.value) {
        null_config = true;
        break;
      }
      configs[std::string(c.name)] = std::string(*c.value);
    }
    if (null_config) {
      fail(ErrorCode::kInvalidConfig, "Null value not supported for topic configs");
      continue;
    }
    ++call->pending;
    create_topic(ctx, t.name, partitions, replication, configs, validate_only, budget,
                 [&ctx, call, i, configs, validate_only, partitions, replication](TopicCreation r) {
                   auto& out = call->resp.topics[i];
                   if (r.error != ErrorCode::kNone) {
                     out.error_code = code(r.error);
                     out.error_message = call->strings.emplace_back(std::move(r.message));
                   } else {
                     if (r.topic != nullptr) {
                       out.topic_id = r.topic->id;
                       out.num_partitions = r.topic->partition_count();
                     } else if (validate_only) {
                       out.num_partitions =
                           partitions == -1
                               ? static_cast<std::int32_t>(ctx.config().get_long("num.partitions"))
                               : partitions;
                     }
                     out.replication_factor =
                         static_cast<std::int16_t>(replication == -1 ? 1 : replication);
                     describe_new_topic(ctx, *call, out, configs);
                   }
                   done_one(ctx, call);
                 });
  }
  done_one(ctx, call);
}

}  // namespace kgw
