// Test helpers of the group layer's unit tests: a temp dir, a real libuv
// loop with a real Store and OffsetsStore in it (reopenable, for restarts),
// and JoinGroup arguments of a consumer subscribed to topic "t".
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/wire/writer.h"
#include "src/group/group_coordinator.h"
#include "storage/offsets_store.h"
#include "storage/store.h"

namespace kgw::test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/kgw-group-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A loop, a store and an offsets store; run() turns the loop until `done`.
struct Fixture {
  TempDir dir;
  uv_loop_t loop{};
  std::unique_ptr<Store> store;
  std::unique_ptr<OffsetsStore> offsets;

  Fixture() {
    uv_loop_init(&loop);
    open();
  }
  ~Fixture() {
    close();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void open() {
    StoreOptions o;
    o.data_dir = dir.path.string();
    std::string error;
    store = Store::open(&loop, o, error);
    REQUIRE_MESSAGE(store != nullptr, error);
    offsets = std::make_unique<OffsetsStore>(*store);
  }
  void close() {
    if (store) CHECK(store->stop() == "");
    offsets.reset();
    store.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  // Turns the loop until pred() or ~10 s. UV_RUN_NOWAIT, not ONCE: ONCE
  // may block in the poll phase until the next timer and run it in the
  // same call, past the moment pred() became true.
  void run_until(const std::function<bool()>& pred) {
    uv_update_time(&loop);
    const std::uint64_t start = uv_now(&loop);
    while (!pred() && uv_now(&loop) - start < 10000) {
      uv_run(&loop, UV_RUN_NOWAIT);
      if (!pred()) uv_sleep(1);
      uv_update_time(&loop);
    }
    REQUIRE(pred());
  }
};

inline std::string subscription(const std::vector<std::string>& topics) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.i16(1);
  w.i32(static_cast<std::int32_t>(topics.size()));
  for (const auto& t : topics) w.string(t, false);
  w.nullable_bytes(std::nullopt, false);
  w.i32(0);  // owned partitions (v1)
  return std::string(out.begin(), out.end());
}

inline JoinArgs join_args(const std::string& group, const std::string& member_id = "") {
  // Built, not assigned: GCC 12 at -O3 warns (-Wrestrict, a false
  // positive) on assigning string literals here.
  return JoinArgs{.group_id = group,
                  .member_id = member_id,
                  .group_instance_id = std::nullopt,
                  .client_id = std::string("c"),
                  .client_host = std::string("/127.0.0.1"),
                  .session_timeout_ms = 10000,
                  .rebalance_timeout_ms = 200,
                  .protocol_type = std::string("consumer"),
                  .protocols = {{"range", subscription({"t"})}},
                  .require_known_member_id = false,
                  .reason = std::string()};
}

}  // namespace kgw::test
