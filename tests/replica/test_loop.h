// A libuv loop for tests that drive it step by step: run_until() runs it
// until a condition holds, and fails the test (REQUIRE) if 30 s pass
// first; a tick wakes it so that a broken test gives up instead of
// hanging.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <functional>

namespace kgw::test {

class TestLoop {
 public:
  TestLoop() {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &tick_) == 0);
    REQUIRE(uv_timer_start(
                &tick_, [](uv_timer_t*) {}, 20, 20) == 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
  }
  ~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;
  uv_loop_t* get() { return &loop_; }
  void run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

 private:
  uv_loop_t loop_{};
  uv_timer_t tick_{};
};

}  // namespace kgw::test
