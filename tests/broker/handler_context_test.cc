// A handler called with a HandlerContext built from its parts, no Broker:
// the services from ServicesFixture (handler_fixture.h), a PartitionResolver
// and a ReplicaManager of the test's own, and a FakeResponder that records
// the answer. DescribeCluster is the handler: it reads the metadata image
// and this node's identity, and answers an unsupported endpoint type and a
// malformed body as Kafka does.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "all_messages.h"
#include "protocol/wire/error_code.h"
#include "protocol/wire/writer.h"
#include "src/broker/append_policy.h"
#include "src/broker/handler_context.h"
#include "src/broker/handlers/handlers.h"
#include "src/replica/partition_resolver.h"
#include "src/replica/replica_manager.h"
#include "tests/broker/handler_fixture.h"

namespace kgw {
namespace {

using test::FakeResponder;
using test::ServicesFixture;

constexpr std::int16_t kDescribeClusterVersion = 1;

class ContextFixture : public ServicesFixture {
 public:
  ContextFixture()
      : resolver(*store, *metadata, kNode),
        replicas(loop(), *store, *producers, *txns,
                 [this](const TopicInfo& t) { return append_policy(config, t.configs); }),
        ctx(HandlerServices{loop(), *store, *metadata, resolver, replicas, *groups, *offset_manager,
                            *txns, *producers, config, identity},
            responder, DecodeLimits{}, SIZE_MAX) {
    identity.advertised_host = "broker.example";
    identity.advertised_port = 19092;
  }

  // Request `sequence` on connection 1 with `body` encoded at `version`,
  // as the Broker hands it to a handler once it has read the header.
  template <typename Request>
  RequestPtr request(const Request& body, std::int16_t version, std::uint64_t sequence) {
    auto req = std::make_shared<RequestContext>();
    req->header.api_key = Request::api_key;
    req->header.api_version = version;
    req->header.correlation_id = static_cast<std::int32_t>(sequence);
    req->frame.connection = 1;
    req->frame.sequence = sequence;
    req->frame.session = std::make_shared<Session>();
    req->frame.session->peer = "127.0.0.1:50000";
    Writer w(req->frame.bytes);
    body.encode(w, version);
    return req;
  }

  PartitionResolver resolver;
  ReplicaManager replicas;
  FakeResponder responder;
  HandlerContext ctx;
};

TEST_CASE_FIXTURE(ContextFixture, "DescribeCluster answers from the image and the identity") {
  DescribeClusterRequest body;
  body.endpoint_type = 1;  // brokers
  handle_describe_cluster(ctx, request(body, kDescribeClusterVersion, 7));
  // Answered at once, without the loop: nothing to wait for.
  REQUIRE(responder.responses.count(7) == 1);
  const auto resp = test::decode_answer<DescribeClusterResponse>(responder.responses.at(7), 7,
                                                                 kDescribeClusterVersion);
  CHECK(resp.error_code == code(ErrorCode::kNone));
  CHECK(resp.cluster_id == "handler-test");
  CHECK(resp.controller_id == kNode);
  REQUIRE(resp.brokers.size() == 1);
  CHECK(resp.brokers[0].broker_id == kNode);
  // This node, at the address its identity advertises.
  CHECK(resp.brokers[0].host == "broker.example");
  CHECK(resp.brokers[0].port == 19092);
}

TEST_CASE_FIXTURE(ContextFixture, "DescribeCluster refuses an endpoint type it does not know") {
  DescribeClusterRequest body;
  body.endpoint_type = 3;
  handle_describe_cluster(ctx, request(body, kDescribeClusterVersion, 0));
  REQUIRE(responder.responses.count(0) == 1);
  const auto resp = test::decode_answer<DescribeClusterResponse>(responder.responses.at(0), 0,
                                                                 kDescribeClusterVersion);
  CHECK(resp.error_code == code(ErrorCode::kUnsupportedEndpointType));
  CHECK(resp.endpoint_type == 3);
  CHECK(resp.brokers.empty());
}

TEST_CASE_FIXTURE(ContextFixture, "A body that does not decode closes the connection") {
  auto req = request(DescribeClusterRequest{}, kDescribeClusterVersion, 0);
  req->frame.bytes.resize(1);  // cut short
  handle_describe_cluster(ctx, req);
  CHECK(responder.responses.empty());
  REQUIRE(responder.closed.size() == 1);
  CHECK(responder.closed[0].first == 1);
  CHECK(responder.closed[0].second.find("malformed DescribeCluster v1 request") == 0);
}

}  // namespace
}  // namespace kgw
