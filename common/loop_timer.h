// A repeating libuv timer whose callback is a std::function, for the
// store's background schedules (retention checks, the cleaner, segment
// checkpoints).
//
// Ownership, libuv style:
//  1. init(), start(), stop() and close() run on the loop thread.
//  2. The uv_timer_t lives in a heap block freed by its close callback, so
//     the LoopTimer may be destroyed right after close(); the loop must run
//     once more for that memory to be released.
//  3. The timer does not keep the loop alive (uv_unref).
#pragma once

#include <cstdint>
#include <functional>

#include <uv.h>

namespace kgw {

class LoopTimer {
 public:
  LoopTimer() = default;
  ~LoopTimer() { close(); }
  LoopTimer(const LoopTimer&) = delete;
  LoopTimer& operator=(const LoopTimer&) = delete;

  // 0 or a libuv error code.
  int init(uv_loop_t* loop);
  // Runs `fn` every `interval_ms` (first after one interval); restarts the
  // schedule if already running.
  void start(std::uint64_t interval_ms, std::function<void()> fn);
  void stop();
  void close();

 private:
  struct Handle {
    uv_timer_t timer;
    LoopTimer* owner;
  };
  static void on_timer(uv_timer_t* timer);

  Handle* handle_ = nullptr;
  std::function<void()> fn_;
};

}  // namespace kgw
