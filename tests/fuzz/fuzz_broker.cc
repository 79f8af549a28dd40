// libFuzzer target: the Broker's request dispatch and every handler, over a
// real Store (RocksDB in a temporary directory) and the real group and
// transaction coordinators, wired as main.cc wires them. Each input is one
// request frame (without its 4-byte size prefix) handed to
// Broker::on_frame as if a connection had sent it; the loop then runs
// until the store has written what the request queued, so completions
// (appends, offset commits, topic changes) run too. State carries over
// between inputs (topics created by one are there for the next), as on a
// long-lived broker.
//
// Responses go to a Server that has no connections, which drops them; a
// malformed request "closes" a connection that does not exist. What is
// checked: no crash, no sanitizer report, no leak, and memory within
// libFuzzer's -rss_limit_mb whatever the request asks for (a CreateTopics
// of two billion partitions, say).
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "src/broker/broker.h"
#include "src/broker/broker_config.h"
#include "src/cluster/local_metadata_log.h"
#include "src/group/group_coordinator.h"
#include "src/group/offset_manager.h"
#include "src/net/server.h"
#include "src/txn/producer_state_manager.h"
#include "src/txn/transaction_coordinator.h"
#include "storage/offsets_store.h"
#include "storage/producer_store.h"
#include "storage/store.h"

namespace {

using namespace kgw;

struct World {
  uv_loop_t loop{};
  std::string dir;
  BrokerConfig config;
  std::unique_ptr<Store> store;
  std::unique_ptr<LocalMetadataLog> metadata;
  std::unique_ptr<OffsetsStore> offsets;
  std::unique_ptr<GroupCoordinator> groups;
  std::unique_ptr<OffsetManager> offset_manager;
  std::unique_ptr<ProducerStore> producer_records;
  std::unique_ptr<ProducerStateManager> producers;
  std::unique_ptr<TransactionCoordinator> txns;
  std::unique_ptr<Server> server;
  std::unique_ptr<ServerResponder> responder;
  std::unique_ptr<Broker> broker;
  std::uint64_t sequence = 0;

  World() {
    uv_loop_init(&loop);
    char tmpl[] = "/tmp/kgw-fuzz-broker-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    dir = tmpl;
    set_log_level(LogLevel::kError);
    StoreOptions o;
    o.data_dir = dir;
    std::string error;
    store = Store::open(&loop, o, error);
    if (!store) {
      std::fprintf(stderr, "fuzz_broker: %s\n", error.c_str());
      std::abort();
    }
    metadata = std::make_unique<LocalMetadataLog>(*store, LocalMetadataLogOptions{});
    RegisterBroker self;
    self.broker = {1, "127.0.0.1", 9092, std::nullopt};
    metadata->submit(std::move(self), [](ErrorCode, std::string) {});
    offsets = std::make_unique<OffsetsStore>(*store);
    groups = std::make_unique<GroupCoordinator>(&loop, *offsets, GroupCoordinatorConfig{});
    offset_manager =
        std::make_unique<OffsetManager>(&loop, *offsets, *groups, OffsetManagerConfig{});
    producer_records = std::make_unique<ProducerStore>(*store);
    producers = std::make_unique<ProducerStateManager>(*producer_records);
    txns =
        std::make_unique<TransactionCoordinator>(&loop, *producer_records, *store, *producers,
                                                 *offset_manager, TransactionCoordinatorConfig{});
    server = std::make_unique<Server>(&loop, ServerOptions{},
                                      [this](InboundFrame&& f) { broker->on_frame(std::move(f)); });
    responder = std::make_unique<ServerResponder>(*server);
    BrokerIdentity identity;
    identity.cluster_id = "fuzz";
    broker = std::make_unique<Broker>(
        &loop, *responder, *store,
        BrokerServices{*groups, *offset_manager, *txns, *producers, *metadata}, config, identity);
    txns->start();
  }

  ~World() { std::filesystem::remove_all(dir); }

  // Runs the loop until the store's writer has nothing queued and the
  // completions it posted have run (bounded, so a parked fetch or a
  // long-lived timer cannot hold an input forever).
  void settle() {
    for (int i = 0; i < 200; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      if (store->stats().queued_bytes == 0 && i >= 2) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    uv_run(&loop, UV_RUN_NOWAIT);
  }
};

World& world() {
  // Never destroyed: libFuzzer exits without running destructors in a
  // predictable order, and the store's threads would outlive the loop.
  static World* w = new World();
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  InboundFrame frame;
  frame.connection = 1;  // not a connection the server has: answers are dropped
  frame.sequence = w.sequence++;
  static const std::string peer = "fuzz:0";
  frame.peer = &peer;
  frame.bytes.assign(data, data + size);
  w.broker->on_frame(std::move(frame));
  w.settle();
  return 0;
}
