// TimerQueue: many deadlines on one uv_timer_t. Group coordinators (session
// and rebalance timeouts) and transaction coordinators keep one entry per
// member or transaction here instead of a libuv handle each, so thousands
// of groups cost a map node per deadline, not a handle and a close
// callback per member.
//
// Ownership, libuv style:
//  1. Every method runs on the loop thread.
//  2. Callbacks run on the loop thread, never inside schedule() or
//     cancel(), in deadline order (ties in scheduling order). A callback
//     may schedule and cancel freely, itself included.
//  3. The uv_timer_t lives in a heap block freed by its close callback, so
//     the TimerQueue may be destroyed right after stop(); the loop must run
//     once more for that memory to be released. After stop() nothing fires
//     and schedule() returns 0.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

namespace kgw {

class TimerQueue {
 public:
  using Id = std::uint64_t;  // 0 is never a timer: "no timer"

  explicit TimerQueue(uv_loop_t* loop);
  ~TimerQueue() { stop(); }
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `fn` once, `delay_ms` from now (the loop's monotonic clock).
  Id schedule(std::uint64_t delay_ms, std::function<void()> fn);
  // No effect for 0, an id that fired, or one already cancelled.
  void cancel(Id id);
  // Cancels `id` (if any) and returns 0, for `timer_ = queue.reset(timer_)`.
  Id reset(Id id) {
    cancel(id);
    return 0;
  }
  void stop();

  std::size_t size() const { return entries_.size(); }
  std::uint64_t now() const { return uv_now(loop_); }

 private:
  struct Handle {
    uv_timer_t timer;
    TimerQueue* owner;
  };
  using Key = std::pair<std::uint64_t, Id>;  // (deadline, id)

  static void on_timer(uv_timer_t* t);
  void fire_due();
  void arm();

  uv_loop_t* loop_;
  Handle* handle_ = nullptr;
  Id next_id_ = 1;
  std::map<Key, std::function<void()>> entries_;
  std::unordered_map<Id, std::uint64_t> deadlines_;
  std::uint64_t armed_for_ = 0;  // deadline the uv timer is set to; 0: none
};

}  // namespace kgw
