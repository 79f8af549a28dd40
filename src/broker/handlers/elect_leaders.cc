// ElectLeaders (key 43, v0-v2): a preferred (0) or unclean (1) leader
// election, decided by the controller through the metadata log
// (MetadataLog::elect_leaders; leader_election.h has the rules) whichever
// broker is asked; on one node every partition is led by its only replica,
// so the answer is ELECTION_NOT_NEEDED.
//
// Threads: the loop thread; the answer leaves when the log answers.
//
// The happy path is: topics named are resolved to ids on this broker's
// image (an unknown topic's partitions are UNKNOWN_TOPIC_OR_PARTITION
// here), the rest go to the controller in one request, and each
// partition's outcome comes back in request order. With no partitions
// named (null), every partition is considered and, as Kafka, every topic
// is listed with only the partitions elected or that failed.
//
// Failure modes: an unknown election type (v1+) is INVALID_REQUEST; the
// request failing as a whole (no controller within the request timeout:
// REQUEST_TIMED_OUT, retriable) sets that code at the top (v1+) and on
// every partition that went to the controller.
#include <deque>
#include <map>
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

struct ElectCall : PendingCall<ElectLeadersRequest, ElectLeadersResponse> {
  std::deque<std::string> text;  // names and messages the answer points into
  // Where each asked partition's answer goes: (topic id, partition) ->
  // (result index, partition result index).
  std::map<std::pair<Uuid, std::int32_t>, std::vector<std::pair<std::size_t, std::size_t>>> slots;
  std::map<Uuid, std::size_t> topic_slot;  // all: topic id -> result index

  std::string_view keep(std::string s) { return text.emplace_back(std::move(s)); }
};

void set(ElectCall& call, ElectLeadersResponse::PartitionResult& r, ErrorCode e,
         std::string message) {
  r.error_code = code(e);
  r.error_message = call.keep(std::move(message));
}

}  // namespace

void handle_elect_leaders(HandlerContext& ctx, RequestPtr req) {
  auto call = std::make_shared<ElectCall>();
  call->req = req;
  if (!ctx.decode(*req, call->body)) return;
  const ElectLeadersRequest& body = call->body;
  ElectLeadersResponse& resp = call->resp;
  resp.error_code = 0;
  ElectLeaders election;
  election.election_type = req->version() == 0 ? ElectLeaders::kPreferred : body.election_type;
  if (election.election_type != ElectLeaders::kPreferred &&
      election.election_type != ElectLeaders::kUnclean) {
    resp.error_code = code(ErrorCode::kInvalidRequest);
    ctx.respond(*req, resp);
    return;
  }
  ImagePtr image = ctx.metadata().image();
  if (!body.topic_partitions) {
    election.all = true;
    for (const TopicPtr& t : image->topics()) {
      call->topic_slot[t->id] = resp.replica_election_results.size();
      resp.replica_election_results.emplace_back().topic = call->keep(t->name);
    }
  } else {
    for (const auto& want : *body.topic_partitions) {
      const std::size_t at = resp.replica_election_results.size();
      auto& out = resp.replica_election_results.emplace_back();
      out.topic = want.topic;
      TopicPtr t = image->topic(want.topic);
      for (std::int32_t p : want.partitions) {
        auto& r = out.partition_result.emplace_back();
        r.partition_id = p;
        if (t == nullptr) {
          set(*call, r, ErrorCode::kUnknownTopicOrPartition, "The partition does not exist.");
          continue;
        }
        auto& slots = call->slots[{t->id, p}];
        if (slots.empty()) election.partitions.emplace_back(t->id, p);
        slots.emplace_back(at, out.partition_result.size() - 1);
      }
    }
    if (election.partitions.empty()) {
      ctx.respond(*req, resp);
      return;
    }
  }
  ctx.metadata().elect_leaders(
      std::move(election),
      [&ctx, call](ErrorCode e, std::string message, std::vector<ElectionOutcome> outcomes) {
        ElectLeadersResponse& resp = call->resp;
        if (e != ErrorCode::kNone) {
          resp.error_code = code(e);
          for (auto& [key, slots] : call->slots) {
            for (auto [t, p] : slots) {
              set(*call, resp.replica_election_results[t].partition_result[p], e, message);
            }
          }
        }
        for (ElectionOutcome& o : outcomes) {
          if (auto it = call->slots.find({o.topic, o.partition}); it != call->slots.end()) {
            for (auto [t, p] : it->second) {
              set(*call, resp.replica_election_results[t].partition_result[p], o.error, o.message);
            }
          } else if (auto ts = call->topic_slot.find(o.topic); ts != call->topic_slot.end()) {
            auto& r = resp.replica_election_results[ts->second].partition_result.emplace_back();
            r.partition_id = o.partition;
            set(*call, r, o.error, std::move(o.message));
          }
        }
        finish_one(ctx, *call);
      });
}

}  // namespace kgw
