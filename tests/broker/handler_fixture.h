// Handler unit tests without sockets, on a real libuv loop with an
// in-memory Store. ServicesFixture builds what main.cc builds for a
// handler (the Store, the LocalMetadataLog with this node registered, the
// group and offset managers, producer state, the transaction coordinator,
// the default BrokerConfig). On top of it, HandlerFixture is a whole
// Broker with a FakeResponder in place of the net Server: a test encodes a
// request with the generated types, hands the frame to Broker::on_frame
// as a connection would, runs the loop until the answer is recorded and
// decodes it with the generated response type; a test can also build a
// HandlerContext from a ServicesFixture and call a handler itself
// (handler_context_test.cc).
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/wire/headers.h"
#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"
#include "src/broker/broker.h"
#include "src/broker/broker_config.h"
#include "src/broker/responder.h"
#include "src/cluster/local_metadata_log.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/replica/leadership.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/offsets_store.h"
#include "storage/producer_store.h"
#include "storage/store.h"

namespace kgw::test {

// Records what the Broker asks of its transport instead of doing it.
class FakeResponder final : public Responder {
 public:
  void respond(ConnectionId, std::uint64_t sequence, std::vector<std::uint8_t> frame) override {
    responses[sequence] = std::move(frame);
  }
  void skip(ConnectionId, std::uint64_t sequence) override { skipped.insert(sequence); }
  void reserve_response(ConnectionId, std::uint64_t sequence, std::size_t bytes) override {
    reserved[sequence] = bytes;
  }
  void close_connection(ConnectionId connection, const std::string& reason) override {
    closed.emplace_back(connection, reason);
  }
  void hold(ConnectionId connection) override { held.push_back(connection); }
  void release_held() override { held.clear(); }
  std::size_t held_count() const override { return held.size(); }
  void set_closed_handler(ClosedHandler handler) override { on_closed = std::move(handler); }

  // Response frames (size prefix included) by request sequence; a map, so
  // the views a decoded response holds into a frame stay valid.
  std::map<std::uint64_t, std::vector<std::uint8_t>> responses;
  std::set<std::uint64_t> skipped;
  std::map<std::uint64_t, std::size_t> reserved;
  std::vector<std::pair<ConnectionId, std::string>> closed;
  std::vector<ConnectionId> held;
  ClosedHandler on_closed;
};

// Decodes response frame `frame` (size prefix included) to request
// `sequence` (also its correlation id) as `Response` at `version`; its
// strings and bytes point into the frame.
template <typename Response>
Response decode_answer(const std::vector<std::uint8_t>& frame, std::uint64_t sequence,
                       std::int16_t version) {
  REQUIRE(frame.size() >= 4);
  Reader r{Bytes(frame)};
  CHECK(static_cast<std::size_t>(r.i32()) == frame.size() - 4);
  ResponseHeader header;
  REQUIRE(header.decode(r, response_header_version(Response::api_key, version)));
  CHECK(header.correlation_id == static_cast<std::int32_t>(sequence));
  Response body;
  REQUIRE(body.decode(r, version));
  CHECK(r.remaining() == 0);
  return body;
}

class ServicesFixture {
 public:
  ServicesFixture() {
    REQUIRE(uv_loop_init(&loop_) == 0);
    // Wakes UV_RUN_ONCE now and then so run_until() can give up instead of
    // hanging a broken test; unref'd so it never keeps the loop alive.
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    REQUIRE(uv_timer_start(
                &tick_, [](uv_timer_t*) {}, 50, 50) == 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
    StoreOptions o;
    o.data_dir = "handler-test";
    o.in_memory = true;
    std::string error;
    store = Store::open(&loop_, o, error);
    INFO(error);
    REQUIRE(store != nullptr);
    metadata = std::make_unique<LocalMetadataLog>(*store, LocalMetadataLogOptions{kNode, nullptr});
    // This node, as main.cc registers it before serving.
    RegisterBroker self;
    self.broker.id = kNode;
    self.broker.host = "127.0.0.1";
    self.broker.port = 9092;
    bool registered = false;
    metadata->submit(std::move(self),
                     [&](ErrorCode e, std::string) { registered = e == ErrorCode::kNone; });
    run_until([&] { return registered; });
    offsets = std::make_unique<OffsetsStore>(*store);
    groups = std::make_unique<GroupCoordinator>(&loop_, *offsets, GroupCoordinatorConfig{});
    offset_manager =
        std::make_unique<OffsetManager>(&loop_, *offsets, *groups, OffsetManagerConfig{});
    producer_records = std::make_unique<ProducerStore>(*store);
    producers = std::make_unique<ProducerStateManager>(*producer_records);
    txns =
        std::make_unique<TransactionCoordinator>(&loop_, *producer_records, *store, *producers,
                                                 *offset_manager, TransactionCoordinatorConfig{});
    identity.node_id = kNode;
    identity.cluster_id = "handler-test";
  }

  ~ServicesFixture() {
    txns.reset();
    producers.reset();
    producer_records.reset();
    offset_manager.reset();
    groups.reset();
    offsets.reset();
    metadata.reset();
    CHECK(store->stop() == "");
    store.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }
  ServicesFixture(const ServicesFixture&) = delete;
  ServicesFixture& operator=(const ServicesFixture&) = delete;

  uv_loop_t* loop() { return &loop_; }

  void run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  BrokerServices services() {
    return BrokerServices{*groups, *offset_manager, *txns, *producers, *metadata};
  }

  static constexpr std::int32_t kNode = 1;

  BrokerConfig config;
  BrokerIdentity identity;
  std::unique_ptr<Store> store;
  std::unique_ptr<LocalMetadataLog> metadata;
  std::unique_ptr<OffsetsStore> offsets;
  std::unique_ptr<GroupCoordinator> groups;
  std::unique_ptr<OffsetManager> offset_manager;
  std::unique_ptr<ProducerStore> producer_records;
  std::unique_ptr<ProducerStateManager> producers;
  std::unique_ptr<TransactionCoordinator> txns;

 private:
  uv_loop_t loop_;
  uv_timer_t tick_;
};

class HandlerFixture : public ServicesFixture {
 public:
  HandlerFixture() {
    broker = std::make_unique<Broker>(loop(), responder, *store, services(), config, identity);
    follow_leadership(*metadata, broker->replicas(), kNode);
    txns->start();
  }

  ~HandlerFixture() {
    broker->stop();
    broker.reset();
  }

  // Hands `body` at `version` to the Broker as the next request on
  // connection 1; returns its sequence (also its correlation id).
  template <typename Request>
  std::uint64_t send(const Request& body, std::int16_t version) {
    const std::uint64_t sequence = next_sequence_++;
    RequestHeader header;
    header.api_key = Request::api_key;
    header.api_version = version;
    header.correlation_id = static_cast<std::int32_t>(sequence);
    header.client_id = "handler-test";
    InboundFrame frame;
    frame.connection = kConnection;
    frame.sequence = sequence;
    frame.peer = &peer_;
    Writer w(frame.bytes);
    header.encode(w, request_header_version(Request::api_key, version));
    body.encode(w, version);
    broker->on_frame(std::move(frame));
    return sequence;
  }

  // Runs the loop until request `sequence` is answered and decodes the
  // answer; its strings and bytes point into the recorded frame.
  template <typename Response>
  Response answer(std::uint64_t sequence, std::int16_t version) {
    run_until(
        [&] { return responder.responses.count(sequence) != 0 || !responder.closed.empty(); });
    REQUIRE(responder.closed.empty());
    return decode_answer<Response>(responder.responses.at(sequence), sequence, version);
  }

  // Sends `body` and returns the decoded answer.
  template <typename Response, typename Request>
  Response call(const Request& body, std::int16_t version) {
    return answer<Response>(send(body, version), version);
  }

  static constexpr ConnectionId kConnection = 1;

  FakeResponder responder;
  std::unique_ptr<Broker> broker;

 private:
  std::uint64_t next_sequence_ = 0;
  const std::string peer_ = "127.0.0.1:50000";
};

}  // namespace kgw::test
