// Topic administration in proxy mode (issue 17): the admin requests about
// a topic only the legacy cluster has (kgw holds no copy of it, mirrored
// or migrated) go there, so that a client's admin tools act on the topic
// it produces to and consumes from through kgw. CreateTopics,
// DeleteTopics and CreatePartitions go to the legacy controller;
// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs (topic
// resources) to any legacy broker. A request naming topics of both kinds
// is split, and the answers merged in the request's order (the handlers
// in src/broker/handlers/). CreateTopics of a name neither side has
// creates it on the legacy cluster with
// `upstream.auto.create.topics=upstream`, on kgw otherwise; a name only
// the legacy cluster has is TOPIC_ALREADY_EXISTS, never a second topic
// on kgw that would hide the legacy one. A topic being migrated (kgw has
// a copy it does not serve yet) can be neither deleted nor grown through
// kgw (POLICY_VIOLATION): roll the migration back or finish it first.
//
// The happy path is: the handler picks out the legacy topics, builds the
// same request with those alone, and forward_admin() sends it at the
// highest version both the legacy broker and the client's request allow
// (the answer then fits the client's version); the handler copies each
// topic's answer into its own.
//
// Possible failure modes, each answered per topic as a Kafka error: no
// legacy broker known or reachable, the call timed out (REQUEST_TIMED_OUT,
// retriable, the legacy metadata asked again); no version both sides speak
// (UNSUPPORTED_VERSION); an answer that does not decode
// (UNKNOWN_SERVER_ERROR). The legacy cluster's own errors (NOT_CONTROLLER
// included: the client asks kgw again) pass through with their messages.
//
// Threads: the loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/wire/error_code.h"
#include "protocol/wire/reader.h"
#include "src/proxy/group_forward.h"
#include "src/proxy/upstream.h"

namespace kgw {

class MetadataImage;
struct TopicImage;

// The legacy topic `name` (nullptr when kgw has its own topic of that name,
// the legacy cluster has none, it is internal there, or kgw is no proxy).
const UpstreamTopic* legacy_only_topic(const Upstream* upstream, const MetadataImage& image,
                                       std::string_view name);
// The same by topic id.
const UpstreamTopic* legacy_only_topic(const Upstream* upstream, const MetadataImage& image,
                                       const Uuid& id);

// kgw's copy of a topic being migrated (mirroring, or switching): still
// the legacy cluster's for clients, so deleting it or adding partitions
// through kgw would act on kgw's copy alone. The answer to such a
// request (POLICY_VIOLATION, `message` set), or kNone.
ErrorCode migrating_topic_error(const Upstream* upstream, const TopicImage& topic,
                                std::string& message);

enum class AdminTarget { kController, kAnyBroker };

// The typed call: `req` (its views kept alive by the caller's `done`
// capture) sent to `target`; `done` gets the decoded answer (views valid
// during the callback only) or the error (and a default answer).
template <typename Req, typename Resp>
void forward_admin(Upstream& upstream, AdminTarget target, Req req, std::int16_t client_version,
                   std::function<void(ErrorCode, const Resp&)> done) {
  auto encode = [req = std::move(req)](Writer& w, std::int16_t v) { req.encode(w, v); };
  auto decode = [&upstream, done = std::move(done)](ErrorCode e, std::int16_t version, Bytes body) {
    Resp resp;
    if (e == ErrorCode::kCoordinatorNotAvailable) e = ErrorCode::kRequestTimedOut;
    if (e == ErrorCode::kNone) {
      Reader r(body);
      if (!resp.decode(r, version)) e = ErrorCode::kUnknownServerError;
    }
    if (e != ErrorCode::kNone) upstream.refresh_soon();
    done(e, resp);
  };
  if (target == AdminTarget::kController) {
    send_to_controller(upstream, Req::api_key, Req::min_version, client_version, std::move(encode),
                       std::move(decode));
  } else {
    send_to_any_broker(upstream, Req::api_key, Req::min_version, client_version, std::move(encode),
                       std::move(decode));
  }
}

// What a client is told when the legacy cluster could not be asked.
inline std::string legacy_unanswered(ErrorCode e) {
  return std::string("kgw could not reach the legacy cluster for this topic (") + error_name(e) +
         "); try again";
}

// One topic's (or config resource's) part of a legacy answer: the error
// code and message of `got` into `out` (the message owned by `strings`),
// or, when the call failed (`e`) or the answer left it out (`got` null),
// an error that says so. True when `got` is there to copy more from.
template <typename Out, typename Got>
bool take_legacy_error(ErrorCode e, const Got* got, Out& out, std::deque<std::string>& strings) {
  if (e != ErrorCode::kNone || got == nullptr) {
    out.error_code = code(e != ErrorCode::kNone ? e : ErrorCode::kUnknownServerError);
    out.error_message = strings.emplace_back(
        e != ErrorCode::kNone ? legacy_unanswered(e)
                              : std::string("the legacy cluster's answer left this topic out"));
    return false;
  }
  out.error_code = got->error_code;
  out.error_message = std::nullopt;
  if (got->error_message) out.error_message = strings.emplace_back(*got->error_message);
  return true;
}

}  // namespace kgw
