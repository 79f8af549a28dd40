// BrokerConnection against a fake broker on a loopback libuv socket, both
// on the test's loop: ApiVersions negotiation and the version a call is
// sent at, pipelined calls matched to their answers, a peer without the
// API, a connection dropped by the peer (calls in flight fail, the next
// call reconnects), a closed port, a call never answered, and close().
#include "src/interbroker/broker_connection.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "protocol/schema/api_versions.h"
#include "protocol/schema/write_txn_markers.h"
#include "tests/interbroker/loopback_server.h"

namespace kgw {
namespace {

// How the fake answers.
struct FakeBehaviour {
  // WriteTxnMarkers versions advertised; nullopt: the API is not listed.
  std::optional<std::pair<std::int16_t, std::int16_t>> markers{{0, 1}};
  bool answer_markers = true;    // false: never answers WriteTxnMarkers
  int close_after_markers = -1;  // closes the connection on the Nth request (0-based)
  // The newest ApiVersions the fake speaks; a newer request is answered
  // UNSUPPORTED_VERSION in the v0 layout (KIP-511), naming the fake's
  // ApiVersions range unless `name_range` is false.
  std::int16_t api_versions_max = 3;
  bool name_range = true;
};

// A fake broker on a loopback listener of the test's loop: every request
// answered at once.
class FakeBroker {
 public:
  explicit FakeBroker(uv_loop_t* loop)
      : server_(loop, [this](test::LoopbackServer::Request& r) { return on_request(r); }) {}

  std::int32_t port() const { return server_.port(); }
  FakeBehaviour behaviour;
  int connections() const { return server_.connections; }
  std::vector<std::int16_t> marker_versions;        // each WriteTxnMarkers' version
  std::vector<std::int16_t> api_versions_versions;  // each ApiVersions' version
  std::vector<std::int64_t> marker_producers;

 private:
  // False: close the connection.
  bool on_request(test::LoopbackServer::Request& q) {
    const auto answer = [&](const auto& resp) {
      server_.answer(q.client, q.key, q.version, q.correlation_id, resp);
    };
    if (q.key == ApiVersionsRequest::api_key) {
      ApiVersionsRequest req;
      REQUIRE(req.decode(q.body, q.version));
      api_versions_versions.push_back(q.version);
      ApiVersionsResponse resp;
      if (q.version > behaviour.api_versions_max) {
        resp.error_code = 35;
        if (behaviour.name_range) {
          resp.api_keys.push_back({ApiVersionsRequest::api_key, 0, behaviour.api_versions_max, {}});
        }
        server_.answer(q.client, q.key, 0, q.correlation_id, resp);
        return true;
      }
      resp.api_keys.push_back({ApiVersionsRequest::api_key, 0, behaviour.api_versions_max, {}});
      if (behaviour.markers) {
        resp.api_keys.push_back({WriteTxnMarkersRequest::api_key,
                                 behaviour.markers->first,
                                 behaviour.markers->second,
                                 {}});
      }
      answer(resp);
      return true;
    }
    REQUIRE(q.key == WriteTxnMarkersRequest::api_key);
    WriteTxnMarkersRequest req;
    REQUIRE(req.decode(q.body, q.version));
    const int n = static_cast<int>(marker_versions.size());
    marker_versions.push_back(q.version);
    marker_producers.push_back(req.markers.at(0).producer_id);
    if (n == behaviour.close_after_markers) return false;
    if (!behaviour.answer_markers) return true;
    WriteTxnMarkersResponse resp;
    for (const auto& m : req.markers) {
      WriteTxnMarkersResponse::WritableTxnMarkerResult mr;
      mr.producer_id = m.producer_id;
      for (const auto& t : m.topics) {
        WriteTxnMarkersResponse::WritableTxnMarkerTopicResult tr;
        tr.name = t.name;
        for (std::int32_t p : t.partition_indexes) tr.partitions.push_back({p, 6, {}});
        mr.topics.push_back(std::move(tr));
      }
      resp.markers.push_back(std::move(mr));
    }
    answer(resp);
    return true;
  }

  test::LoopbackServer server_;
};

class Loop {
 public:
  Loop() { uv_loop_init(&loop_); }
  ~Loop() {
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&loop_);
  }
  uv_loop_t* get() { return &loop_; }
  // Runs the loop until `done` holds; false if it stops having work or
  // 10 s of loop time pass first.
  template <typename Pred>
  bool run_until(Pred done) {
    const std::uint64_t until = uv_now(&loop_) + 10000;
    while (!done()) {
      if (uv_now(&loop_) > until) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

 private:
  uv_loop_t loop_{};
};

struct Answer {
  bool done = false;
  CallError error = CallError::kNone;
  std::int64_t producer_id = -1;
  std::int16_t first_error = -1;
};

void call_markers(BrokerConnection& c, std::int64_t producer_id, Answer& a) {
  WriteTxnMarkersRequest req;
  WriteTxnMarkersRequest::WritableTxnMarker m;
  m.producer_id = producer_id;
  m.transaction_result = true;
  m.topics.push_back({"t", {0, 1}, {}});
  req.markers.push_back(m);
  c.call<WriteTxnMarkersRequest, WriteTxnMarkersResponse>(
      req, [&a](CallError e, const WriteTxnMarkersResponse& r) {
        a.done = true;
        a.error = e;
        if (e == CallError::kNone && !r.markers.empty()) {
          a.producer_id = r.markers[0].producer_id;
          a.first_error = r.markers[0].topics.at(0).partitions.at(0).error_code;
        }
      });
}

BrokerConnectionOptions quick() {
  BrokerConnectionOptions o;
  o.connect_timeout_ms = 2000;
  o.request_timeout_ms = 2000;
  o.reconnect_backoff_ms = 10;
  o.reconnect_backoff_max_ms = 20;
  return o;
}

TEST_CASE("pipelined calls are negotiated, sent at the highest common version and matched") {
  Loop loop;
  FakeBroker fake(loop.get());
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
  std::vector<Answer> answers(5);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    call_markers(c, static_cast<std::int64_t>(100 + i), answers[i]);
  }
  CHECK_FALSE(answers[0].done);  // never answered inside call()
  REQUIRE(loop.run_until([&] { return answers.back().done; }));
  for (std::size_t i = 0; i < answers.size(); ++i) {
    CHECK(answers[i].error == CallError::kNone);
    CHECK(answers[i].producer_id == static_cast<std::int64_t>(100 + i));
    CHECK(answers[i].first_error == 6);
  }
  CHECK(fake.connections() == 1);
  CHECK(fake.marker_versions == std::vector<std::int16_t>(5, 1));
  CHECK(c.ready());
  CHECK(c.pending() == 0);
}

TEST_CASE("a peer that speaks only v0 gets v0; one without the API: unsupported version") {
  Loop loop;
  FakeBroker fake(loop.get());
  fake.behaviour.markers = std::make_pair(std::int16_t{0}, std::int16_t{0});
  {
    BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
    Answer a;
    call_markers(c, 7, a);
    REQUIRE(loop.run_until([&] { return a.done; }));
    CHECK(a.error == CallError::kNone);
    CHECK(fake.marker_versions == std::vector<std::int16_t>{0});
  }
  fake.behaviour.markers.reset();
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
  Answer a;
  call_markers(c, 8, a);
  REQUIRE(loop.run_until([&] { return a.done; }));
  CHECK(a.error == CallError::kUnsupportedVersion);
  CHECK(fake.marker_versions.size() == 1);  // nothing sent
}

TEST_CASE("a peer older than our ApiVersions: asked again at the version it names (KIP-511)") {
  Loop loop;
  FakeBroker fake(loop.get());
  fake.behaviour.api_versions_max = 2;
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
  Answer a;
  call_markers(c, 5, a);
  REQUIRE(loop.run_until([&] { return a.done; }));
  CHECK(a.error == CallError::kNone);
  CHECK(a.producer_id == 5);
  CHECK(fake.api_versions_versions == std::vector<std::int16_t>{3, 2});
  CHECK(fake.connections() == 1);  // on the same connection
  CHECK(c.ready());
}

TEST_CASE("a peer older than our ApiVersions that names no range: asked again at v0") {
  Loop loop;
  FakeBroker fake(loop.get());
  fake.behaviour.api_versions_max = 1;
  fake.behaviour.name_range = false;
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
  Answer a;
  call_markers(c, 6, a);
  REQUIRE(loop.run_until([&] { return a.done; }));
  CHECK(a.error == CallError::kNone);
  CHECK(fake.api_versions_versions == std::vector<std::int16_t>{3, 0});
  CHECK(fake.connections() == 1);
}

TEST_CASE("a dropped connection fails the call in flight; the next call reconnects") {
  Loop loop;
  FakeBroker fake(loop.get());
  fake.behaviour.close_after_markers = 0;
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
  Answer first;
  call_markers(c, 1, first);
  REQUIRE(loop.run_until([&] { return first.done; }));
  CHECK(first.error == CallError::kDisconnected);
  Answer second;
  call_markers(c, 2, second);
  REQUIRE(loop.run_until([&] { return second.done; }));
  CHECK(second.error == CallError::kNone);
  CHECK(second.producer_id == 2);
  CHECK(fake.connections() == 2);
}

TEST_CASE("a closed port fails with kConnectFailed, again after the backoff") {
  Loop loop;
  std::int32_t port = 0;
  {
    FakeBroker gone(loop.get());
    port = gone.port();
  }
  loop.run_until([] { return true; });
  BrokerConnection c(loop.get(), "127.0.0.1", port, quick());
  for (int i = 0; i < 2; ++i) {
    Answer a;
    call_markers(c, i, a);
    REQUIRE(loop.run_until([&] { return a.done; }));
    CHECK(a.error == CallError::kConnectFailed);
  }
  CHECK_FALSE(c.ready());
}

TEST_CASE("a call never answered times out and drops the connection") {
  Loop loop;
  FakeBroker fake(loop.get());
  fake.behaviour.answer_markers = false;
  BrokerConnectionOptions o = quick();
  o.request_timeout_ms = 100;
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), o);
  Answer a, b;
  call_markers(c, 1, a);
  call_markers(c, 2, b);
  REQUIRE(loop.run_until([&] { return a.done && b.done; }));
  CHECK(a.error == CallError::kTimedOut);
  // b was in flight behind it: timed out too, or failed by the drop.
  CHECK((b.error == CallError::kTimedOut || b.error == CallError::kDisconnected));
  CHECK(c.pending() == 0);
}

TEST_CASE("close() fails every call once, and later calls on a later loop turn") {
  Loop loop;
  FakeBroker fake(loop.get());
  fake.behaviour.answer_markers = false;
  BrokerConnection c(loop.get(), "127.0.0.1", fake.port(), quick());
  Answer in_flight, queued;
  call_markers(c, 1, in_flight);
  REQUIRE(loop.run_until([&] { return fake.marker_versions.size() == 1; }));
  call_markers(c, 2, queued);
  c.close();
  CHECK(in_flight.done);
  CHECK(in_flight.error == CallError::kClosed);
  CHECK(queued.error == CallError::kClosed);
  Answer later;
  call_markers(c, 3, later);
  CHECK_FALSE(later.done);
  REQUIRE(loop.run_until([&] { return later.done; }));
  CHECK(later.error == CallError::kClosed);
}

}  // namespace
}  // namespace kgw
