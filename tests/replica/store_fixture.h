// A Store in a temp dir on its own libuv loop, for the replica tests: the
// loop runs only inside run_until(), so a test drives it step by step.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "src/cluster/local_metadata_log.h"
#include "storage/store.h"

namespace kgw::test {

class StoreFixture {
 public:
  StoreFixture() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kgw-replica-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    REQUIRE(uv_loop_init(&loop_) == 0);
    // Wakes UV_RUN_ONCE now and then so run_until() can give up instead of
    // hanging a broken test; unref'd so it never keeps the loop alive.
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    REQUIRE(uv_timer_start(
                &tick_, [](uv_timer_t*) {}, 50, 50) == 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
    StoreOptions o;
    o.data_dir = dir_;
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
  }
  ~StoreFixture() {
    if (store) close_store();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  StoreFixture(const StoreFixture&) = delete;
  StoreFixture& operator=(const StoreFixture&) = delete;

  uv_loop_t* loop() { return &loop_; }

  // Call before anything else the test built on the loop is destroyed.
  void close_store() {
    metadata.reset();
    CHECK(store->stop() == "");
    store.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  void run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  // Runs the loop for about `ms` (timers due meanwhile fire).
  void run_for(int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    run_until([&] { return std::chrono::steady_clock::now() >= until; });
  }

  Uuid create(const std::string& name, std::int32_t partitions,
              std::map<std::string, std::string> configs = {}) {
    // Through the metadata log, as CreateTopics does: the image (which the
    // resolver reads) and the store both get it.
    CreateTopic change;
    change.name = name;
    change.partitions = partitions;
    change.configs = std::move(configs);
    std::optional<std::string> result;
    metadata->submit(std::move(change), [&](ErrorCode e, std::string message) {
      result = e == ErrorCode::kNone ? "" : message;
    });
    run_until([&] { return result.has_value(); });
    REQUIRE(*result == "");
    return store->find_topic(name)->id;
  }

  // This node's id: the leader of every partition the metadata log creates.
  static constexpr std::int32_t kNode = 1;

  std::unique_ptr<Store> store;
  std::unique_ptr<LocalMetadataLog> metadata;

 private:
  std::string dir_;
  uv_loop_t loop_;
  uv_timer_t tick_;
};

}  // namespace kgw::test
