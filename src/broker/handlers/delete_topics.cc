// DeleteTopics (key 20): by name (v0-5) or by name or id (v6+). In proxy
// mode a topic only the legacy cluster has is deleted there, by its
// controller (src/proxy/admin_forward.h).
#include <deque>
#include <memory>

#include "all_messages.h"
#include "common/log.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/cluster/metadata_log.h"
#include "src/group/offset_manager.h"
#include "src/proxy/admin_forward.h"
#include "src/txn/producer_state_manager.h"

namespace kgw {

namespace {
struct DeleteCall : PendingAnswer<DeleteTopicsResponse> {
  std::deque<std::string> strings;
};
// The legacy topics at `indexes` (names in `names`) deleted by the legacy
// controller: their answers are its answers.
void delete_on_legacy(HandlerContext& ctx, const std::shared_ptr<DeleteCall>& call,
                      std::int32_t timeout_ms, std::vector<std::size_t> indexes,
                      std::vector<std::string> names) {
  Upstream& upstream = *ctx.upstream();
  DeleteTopicsRequest fwd;
  fwd.timeout_ms = timeout_ms;
  // Both forms: the version the two sides agree on picks one.
  for (const std::string& n : names) {
    fwd.topic_names.push_back(call->strings.emplace_back(n));
    fwd.topics.push_back({fwd.topic_names.back(), Uuid{}, {}});
  }
  ++call->pending;
  forward_admin<DeleteTopicsRequest, DeleteTopicsResponse>(
      upstream, AdminTarget::kController, std::move(fwd), call->req->version(),
      [&ctx, &upstream, call, indexes, names](ErrorCode e, const DeleteTopicsResponse& r) {
        for (std::size_t k = 0; k < indexes.size(); ++k) {
          auto& out = call->resp.responses[indexes[k]];
          const DeleteTopicsResponse::DeletableTopicResult* got = nullptr;
          for (const auto& t : r.responses) {
            if (t.name && *t.name == names[k]) got = &t;
          }
          if (!take_legacy_error(e, got, out, call->strings)) continue;
        }
        upstream.refresh_soon();
        finish_one(ctx, *call);
      });
}

}  // namespace

void handle_delete_topics(HandlerContext& ctx, RequestPtr req) {
  DeleteTopicsRequest body;
  if (!ctx.decode(*req, body)) return;
  auto call = std::make_shared<DeleteCall>();
  call->req = req;
  struct Want {
    std::optional<std::string_view> name;
    Uuid id;
  };
  std::vector<Want> wants;
  if (req->version() >= 6) {
    for (const auto& t : body.topics) wants.push_back({t.name, t.topic_id});
  } else {
    for (auto n : body.topic_names) wants.push_back({n, Uuid{}});
  }
  auto done = [&ctx, call] { finish_one(ctx, *call); };
  const bool enabled = ctx.config().get_bool("delete.topic.enable");
  const ImagePtr image = ctx.metadata().image();
  call->resp.responses.resize(wants.size());
  std::vector<std::size_t> legacy_indexes;
  std::vector<std::string> legacy_names;
  for (std::size_t i = 0; i < wants.size(); ++i) {
    auto& out = call->resp.responses[i];
    out.name = wants[i].name;
    out.topic_id = wants[i].id;
    const TopicPtr t = wants[i].name ? image->topic(*wants[i].name) : image->topic(wants[i].id);
    if (!enabled) {
      out.error_code = code(ErrorCode::kTopicDeletionDisabled);
      out.error_message = "Topic deletion is disabled.";
      continue;
    }
    if (t == nullptr) {
      const UpstreamTopic* legacy = wants[i].name
                                        ? legacy_only_topic(ctx.upstream(), *image, *wants[i].name)
                                        : legacy_only_topic(ctx.upstream(), *image, wants[i].id);
      if (legacy != nullptr) {
        out.name = call->strings.emplace_back(legacy->name);
        out.topic_id = legacy->id;
        legacy_indexes.push_back(i);
        legacy_names.push_back(legacy->name);
        continue;
      }
      out.error_code =
          code(wants[i].name ? ErrorCode::kUnknownTopicOrPartition : ErrorCode::kUnknownTopicId);
      continue;
    }
    out.name = call->strings.emplace_back(t->name);
    out.topic_id = t->id;
    if (std::string why; migrating_topic_error(ctx.upstream(), *t, why) != ErrorCode::kNone) {
      out.error_code = code(ErrorCode::kPolicyViolation);
      out.error_message = call->strings.emplace_back(std::move(why));
      continue;
    }
    ++call->pending;
    std::string name = t->name;
    const bool by_name = wants[i].name.has_value();
    // Committed offsets of a deleted topic go with it (Kafka's
    // handleDeletedPartitions), so a topic created again starts afresh.
    ctx.offsets().on_topic_deleted(name);
    ctx.producers().on_topic_deleted(t->id);
    ctx.metadata().submit(
        DeleteTopic{t->id}, [call, i, name, by_name, done](ErrorCode e, std::string error) {
          auto& out = call->resp.responses[i];
          if (e == ErrorCode::kKafkaStorageError) {
            LOG_ERROR("broker", "deleting topic %s: %s", name.c_str(), error.c_str());
            out.error_code = code(e);
            out.error_message = call->strings.emplace_back(error);
          } else if (e != ErrorCode::kNone) {
            // Another request is deleting it: gone, as far as this one knows.
            out.error_code =
                code(by_name ? ErrorCode::kUnknownTopicOrPartition : ErrorCode::kUnknownTopicId);
          } else {
            LOG_INFO("broker", "deleted topic %s", name.c_str());
          }
          done();
        });
  }
  if (!legacy_indexes.empty()) {
    delete_on_legacy(ctx, call, body.timeout_ms, std::move(legacy_indexes),
                     std::move(legacy_names));
  }
  done();
}

}  // namespace kgw
