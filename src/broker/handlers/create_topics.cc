// CreateTopics (key 19): create topics with partitions, replication factor 1
// on one node, and configs; validate_only checks without creating. With
// several brokers, a manual replica assignment may name any registered
// brokers, checked as Kafka's controller checks it. In proxy mode a name
// the legacy cluster has is TOPIC_ALREADY_EXISTS, and a new one is
// created there with upstream.auto.create.topics=upstream
// (src/proxy/admin_forward.h); kgw-admin migrate start's CreateTopics of
// kgw's copy of a legacy topic (kgw.migration.* configs) stays here.
#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/topics.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/admin_forward.h"
#include "src/proxy/migration_state.h"

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

// A manual assignment checked as Kafka's controller checks it: each
// partition index once, 0..N-1; each partition's replicas registered
// brokers, none twice, as many as the other partitions'. The replicas by
// partition, or empty with Kafka's message in `message`.
template <typename Assignments>
ReplicaAssignment manual_assignment(const MetadataImage& image, const Assignments& in,
                                    std::string& message) {
  ReplicaAssignment out(in.size());
  std::vector<bool> seen(in.size(), false);
  std::optional<std::size_t> replication;
  for (const auto& a : in) {
    const std::int32_t index = a.partition_index;
    if (index >= 0 && static_cast<std::size_t>(index) < in.size() &&
        seen[static_cast<std::size_t>(index)]) {
      message =
          "Found multiple manual partition assignments for partition " + std::to_string(index);
      return {};
    }
    if (a.broker_ids.empty()) {
      message = "The manual partition assignment includes an empty replica list.";
      return {};
    }
    std::vector<std::int32_t> sorted(a.broker_ids.begin(), a.broker_ids.end());
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (image.broker(sorted[i]) == nullptr) {
        message = "The manual partition assignment includes broker " + std::to_string(sorted[i]) +
                  ", but no such broker is registered.";
        return {};
      }
      if (i > 0 && sorted[i] == sorted[i - 1]) {
        message = "The manual partition assignment includes the broker " +
                  std::to_string(sorted[i]) + " more than once.";
        return {};
      }
    }
    if (replication && *replication != a.broker_ids.size()) {
      message = "The manual partition assignment includes a partition with " +
                std::to_string(a.broker_ids.size()) +
                " replica(s), but this is not consistent with previous partitions, which have " +
                std::to_string(*replication) + " replica(s).";
      return {};
    }
    replication = a.broker_ids.size();
    if (index < 0 || static_cast<std::size_t>(index) >= in.size()) {
      message = "partitions should be a consecutive 0-based integer sequence";
      return {};
    }
    seen[static_cast<std::size_t>(index)] = true;
    out[static_cast<std::size_t>(index)].assign(a.broker_ids.begin(), a.broker_ids.end());
  }
  return out;
}

void done_one(HandlerContext& ctx, const std::shared_ptr<CreateCall>& call) {
  if (--call->pending == 0) ctx.respond(*call->req, call->resp);
}

// The topics at `indexes` created by the legacy cluster (its controller):
// their answers are its answers.
void create_on_legacy(HandlerContext& ctx, const std::shared_ptr<CreateCall>& call,
                      std::vector<std::size_t> indexes) {
  Upstream& upstream = *ctx.upstream();
  CreateTopicsRequest fwd;
  fwd.timeout_ms = call->body.timeout_ms;
  fwd.validate_only = call->body.validate_only;
  for (std::size_t i : indexes) fwd.topics.push_back(call->body.topics[i]);
  ++call->pending;
  forward_admin<CreateTopicsRequest, CreateTopicsResponse>(
      upstream, AdminTarget::kController, std::move(fwd), call->req->version(),
      [&ctx, &upstream, call, indexes](ErrorCode e, const CreateTopicsResponse& r) {
        for (std::size_t i : indexes) {
          auto& out = call->resp.topics[i];
          const CreateTopicsResponse::CreatableTopicResult* got = nullptr;
          for (const auto& t : r.topics) {
            if (t.name == out.name) got = &t;
          }
          if (!take_legacy_error(e, got, out, call->strings)) continue;
          out.topic_id = got->topic_id;
          out.topic_config_error_code = got->topic_config_error_code;
          out.num_partitions = got->num_partitions;
          out.replication_factor = got->replication_factor;
          if (got->configs) {
            auto& configs = out.configs.emplace();
            for (const auto& c : *got->configs) {
              auto& o = configs.emplace_back();
              o.name = call->strings.emplace_back(c.name);
              if (c.value)
                o.value = call->strings.emplace_back(*c.value);
              else
                o.value = std::nullopt;
              o.read_only = c.read_only;
              o.config_source = c.config_source;
              o.is_sensitive = c.is_sensitive;
            }
          } else {
            out.configs = std::nullopt;
          }
        }
        // The catalogue learns the new topics: kgw proxies them.
        upstream.refresh_soon();
        done_one(ctx, call);
      });
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
  Upstream* upstream = ctx.upstream();
  const ImagePtr image = ctx.metadata().image();
  const bool create_upstream =
      upstream != nullptr && ctx.config().get("upstream.auto.create.topics") == "upstream";
  std::vector<std::size_t> to_upstream;
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
    // `kgw-admin migrate start` makes kgw's copy of a legacy topic with a
    // CreateTopics that sets its migration state (create_topic() checks it).
    const bool migration_copy = std::any_of(t.configs.begin(), t.configs.end(), [](const auto& c) {
      return c.name.starts_with(kMigrationConfigPrefix);
    });
    if (upstream != nullptr && !migration_copy && image->topic(t.name) == nullptr) {
      if (!upstream->ready()) {
        // Whether the legacy cluster has it is not known yet.
        fail(ErrorCode::kRequestTimedOut,
             "kgw has not had the legacy cluster's topics yet (it is starting); try again");
        continue;
      }
      if (upstream->topic(t.name) != nullptr) {
        fail(ErrorCode::kTopicAlreadyExists, "Topic '" + std::string(t.name) + "' already exists.");
        continue;
      }
      if (create_upstream) {
        to_upstream.push_back(i);
        continue;
      }
    }
    std::int32_t partitions = t.num_partitions;
    std::int32_t replication = t.replication_factor;
    ReplicaAssignment assignments;
    if (!t.assignments.empty()) {
      if (partitions != -1 || replication != -1) {
        fail(ErrorCode::kInvalidRequest,
             "Both numPartitions or replicationFactor and replicasAssignments were set. Both "
             "cannot be used at the same time.");
        continue;
      }
      partitions = static_cast<std::int32_t>(t.assignments.size());
      replication = static_cast<std::int32_t>(t.assignments.front().broker_ids.size());
      if (ctx.metadata().image()->brokers().size() <= 1) {
        // One node: its own rule (and message), as before the cluster.
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
      std::string message;
      assignments = manual_assignment(*ctx.metadata().image(), t.assignments, message);
      if (assignments.empty()) {
        fail(ErrorCode::kInvalidReplicaAssignment, std::move(message));
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
    create_topic(
        ctx, t.name, partitions, replication, std::move(assignments), configs, validate_only,
        budget, [&ctx, call, i, configs, validate_only, partitions, replication](TopicCreation r) {
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
            out.replication_factor = static_cast<std::int16_t>(replication == -1 ? 1 : replication);
            describe_new_topic(ctx, *call, out, configs);
          }
          done_one(ctx, call);
        });
  }
  if (!to_upstream.empty()) create_on_legacy(ctx, call, std::move(to_upstream));
  done_one(ctx, call);
}

}  // namespace kgw
