// Metadata (key 3): brokers, topics, partitions and leaders, as the
// metadata image has them (on one node this broker leads every partition). Asking for a topic that
// does not exist creates it when auto.create.topics.enable is true and the client allows it.
//
// With several brokers, as Kafka's KRaft brokers answer: the brokers listed
// are the unfenced ones; the controller is the image's (-1: none elected);
// a partition's offline replicas are its replicas that are fenced or not
// registered; a partition without a reachable leader (none, or one that is
// fenced or unknown) is LEADER_NOT_AVAILABLE with leader -1, which clients
// retry after refreshing their metadata.
//
// In proxy mode (issue 17) the legacy cluster's topics that this node does
// not have are listed as this node's: every partition led by this node,
// replicas and ISR this node, the legacy leader's epoch (never below the
// epoch floor of a topic rolled back after its cutover); no legacy address
// or node id is ever named. Until the legacy cluster's metadata first came
// in, an asked-for unknown topic is LEADER_NOT_AVAILABLE (retriable), not
// auto-created.
#include <algorithm>
#include <deque>
#include <memory>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/topics.h"
#include "src/cluster/coordinator_placement.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/upstream.h"

namespace kgw {

namespace {

struct MetadataCall {
  RequestPtr req;
  // One version for the whole answer; it also keeps the broker hosts the
  // answer points into alive.
  ImagePtr image;
  MetadataResponse resp;
  // Backing storage for the names in the answer: a topic may be deleted by
  // another request before an answer that waits for a creation is encoded.
  std::deque<std::string> names;
  // One for the request loop itself: create_topic() may call back at once
  // (an illegal name), which must not answer before every topic is in.
  int pending = 1;
  // A cluster's coordinator topics are internal, as Kafka marks them (on
  // one node a topic of that name is a user's own, as it always was).
  bool clustered = false;
};

bool alive(const MetadataImage& image, std::int32_t node) {
  const BrokerImage* b = image.broker(node);
  return b != nullptr && !b->fenced;
}

void add_topic(MetadataCall& call, MetadataResponse::MetadataResponseTopic& out,
               const TopicImage& t) {
  const MetadataImage& image = *call.image;
  out.name = call.names.emplace_back(t.name);
  out.topic_id = t.id;
  out.is_internal =
      call.clustered && (t.name == kGroupStateTopic || t.name == kTransactionStateTopic);
  out.partitions.reserve(t.partitions.size());
  for (const PartitionImage& p : t.partitions) {
    auto& part = out.partitions.emplace_back();
    part.partition_index = p.index;
    part.leader_epoch = p.leader_epoch;
    part.replica_nodes = p.replicas;
    part.isr_nodes = p.isr;
    for (std::int32_t r : p.replicas) {
      if (!alive(image, r)) part.offline_replicas.push_back(r);
    }
    if (alive(image, p.leader)) {
      part.leader_id = p.leader;
    } else {
      part.leader_id = -1;
      part.error_code = code(ErrorCode::kLeaderNotAvailable);
    }
  }
}

// Proxy mode: a legacy cluster's topic as this node's own. Every partition
// is led by this node (clients never see a legacy address), at the legacy
// leader's epoch; a partition without a legacy leader is
// LEADER_NOT_AVAILABLE, which clients retry.
void add_upstream_topic(MetadataCall& call, MetadataResponse::MetadataResponseTopic& out,
                        const UpstreamTopic& t, std::int32_t self, const Upstream& upstream) {
  // A topic rolled back after its cutover: clients hold kgw's epoch.
  const std::int32_t floor = upstream.epoch_floor(t.name);
  out.name = call.names.emplace_back(t.name);
  out.topic_id = t.id;
  out.is_internal = false;
  out.partitions.reserve(t.leaders.size());
  for (std::size_t i = 0; i < t.leaders.size(); ++i) {
    auto& part = out.partitions.emplace_back();
    part.partition_index = static_cast<std::int32_t>(i);
    part.leader_epoch = std::max(t.leader_epochs[i], floor);
    part.replica_nodes = {self};
    part.isr_nodes = {self};
    if (t.leaders[i] >= 0) {
      part.leader_id = self;
    } else {
      part.leader_id = -1;
      part.error_code = code(ErrorCode::kLeaderNotAvailable);
    }
  }
}

void finish(HandlerContext& ctx, MetadataCall& call) {
  const auto& id = ctx.identity();
  for (const auto& [node, broker_image] : call.image->brokers()) {
    if (broker_image.fenced) continue;
    auto& b = call.resp.brokers.emplace_back();
    b.node_id = node;
    // The address of the listener the client asked on, as Kafka.
    auto endpoint = advertised_endpoint(ctx, *call.req, broker_image);
    b.host = endpoint.host;
    b.port = endpoint.port;
    if (broker_image.rack) b.rack = *broker_image.rack;
  }
  call.resp.cluster_id = id.cluster_id;
  call.resp.controller_id = call.image->controller_id();
  if (call.resp.controller_id < 0 && call.clustered) {
    // Between two controllers: clients send admin requests to the broker
    // named here, and any broker of a cluster takes them (they reach the
    // controller through etcd), so name this one, as KRaft brokers name
    // a live broker. -1 made librdkafka wait out its whole timeout.
    call.resp.controller_id = id.node_id;
  }
  ctx.respond(*call.req, call.resp);
}

void done_one(HandlerContext& ctx, const std::shared_ptr<MetadataCall>& call) {
  if (--call->pending == 0) finish(ctx, *call);
}

}  // namespace

void handle_metadata(HandlerContext& ctx, RequestPtr req) {
  MetadataRequest body;
  if (!ctx.decode(*req, body)) return;
  auto call = std::make_shared<MetadataCall>();
  call->req = req;
  call->image = ctx.metadata().image();
  call->clustered = ctx.identity().clustered;
  const MetadataImage& image = *call->image;
  const bool all = req->version() == 0 ? body.topics && body.topics->empty() : !body.topics;
  Upstream* upstream = ctx.upstream();
  const std::int32_t self = ctx.identity().node_id;
  // A topic being migrated is still the legacy cluster's for clients
  // until its cutover switches it (issue 17): its leaders' epochs are the
  // legacy ones, which the clients' requests carry there.
  auto still_upstream = [upstream](const TopicImage& t) -> const UpstreamTopic* {
    if (upstream == nullptr ||
        PartitionResolver::served_here(PartitionResolver::migration_state(t.configs))) {
      return nullptr;
    }
    return upstream->topic(t.name);
  };
  if (all) {
    for (const TopicPtr& t : image.topics()) {
      if (const UpstreamTopic* u = still_upstream(*t)) {
        add_upstream_topic(*call, call->resp.topics.emplace_back(), *u, self, *upstream);
        continue;
      }
      add_topic(*call, call->resp.topics.emplace_back(), *t);
    }
    // Proxy mode: the legacy cluster's topics this node does not have
    // (its internal ones stay its own).
    if (upstream != nullptr) {
      for (const auto& [name, t] : upstream->topics()) {
        if (t.internal || image.topic(name) != nullptr) continue;
        add_upstream_topic(*call, call->resp.topics.emplace_back(), t, self, *upstream);
      }
    }
    finish(ctx, *call);
    return;
  }
  const bool may_create = ctx.config().get_bool("auto.create.topics.enable") &&
                          (req->version() < 4 || body.allow_auto_topic_creation);
  const bool create_upstream =
      upstream != nullptr && ctx.config().get("upstream.auto.create.topics") == "upstream";
  // Topics auto-created by this request share the partition limits: a
  // request naming 100,000 unknown topics creates what fits, and the rest
  // are INVALID_PARTITIONS (the first refusal is logged with the limit).
  PartitionBudget budget(ctx, *req);
  for (const auto& want : *body.topics) {
    const TopicPtr t = want.name ? image.topic(*want.name) : image.topic(want.topic_id);
    if (t != nullptr) {
      if (const UpstreamTopic* u = still_upstream(*t)) {
        add_upstream_topic(*call, call->resp.topics.emplace_back(), *u, self, *upstream);
        continue;
      }
      add_topic(*call, call->resp.topics.emplace_back(), *t);
      continue;
    }
    if (upstream != nullptr) {
      const UpstreamTopic* u = nullptr;
      if (want.name) {
        u = upstream->topic(*want.name);
      } else {
        for (const auto& [name, t] : upstream->topics()) {
          if (t.id == want.topic_id) u = &t;
        }
      }
      if (u != nullptr && !u->internal) {
        add_upstream_topic(*call, call->resp.topics.emplace_back(), *u, self, *upstream);
        continue;
      }
      if (!upstream->ready() && want.name) {
        // Not known yet whether the legacy cluster has it: nothing is
        // created here before it answered; clients retry this.
        auto& out = call->resp.topics.emplace_back();
        out.error_code = code(ErrorCode::kLeaderNotAvailable);
        out.name = call->names.emplace_back(*want.name);
        continue;
      }
      if (u == nullptr && want.name && may_create && create_upstream) {
        // The legacy cluster creates it; LEADER_NOT_AVAILABLE meanwhile,
        // as Kafka answers for a topic it is creating: the client asks
        // again and finds it proxied once the catalogue has it.
        upstream->auto_create(std::string(*want.name));
        auto& out = call->resp.topics.emplace_back();
        out.error_code = code(ErrorCode::kLeaderNotAvailable);
        out.name = call->names.emplace_back(*want.name);
        continue;
      }
    }
    if (!want.name) {
      auto& out = call->resp.topics.emplace_back();
      out.error_code = code(ErrorCode::kUnknownTopicId);
      out.topic_id = want.topic_id;
      out.name = std::nullopt;
      continue;
    }
    const std::string& name = call->names.emplace_back(*want.name);
    if (!may_create) {
      auto& out = call->resp.topics.emplace_back();
      out.error_code = code(ErrorCode::kUnknownTopicOrPartition);
      out.name = name;
      continue;
    }
    // Reserve the answer's slot now so topics keep the order they were asked in.
    const std::size_t slot = call->resp.topics.size();
    call->resp.topics.emplace_back().name = name;
    ++call->pending;
    create_topic(ctx, name, -1, -1, {}, {}, false, budget, [&ctx, call, slot](TopicCreation r) {
      auto& out = call->resp.topics[slot];
      if (r.error == ErrorCode::kTopicAlreadyExists) {
        // Another request is creating it: Kafka's answer for a topic whose
        // creation is under way, which clients retry.
        out.error_code = code(ErrorCode::kLeaderNotAvailable);
      } else if (r.error != ErrorCode::kNone || r.topic == nullptr) {
        out.error_code =
            code(r.error == ErrorCode::kNone ? ErrorCode::kUnknownServerError : r.error);
      } else {
        add_topic(*call, out, *r.topic);
      }
      done_one(ctx, call);
    });
  }
  done_one(ctx, call);
}

}  // namespace kgw
