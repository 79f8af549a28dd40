// Runs functions on a libuv loop thread, posted from any thread: a queue
// under a mutex plus one uv_async_t (the only libuv call that may cross
// threads). uv_async_send coalesces wake-ups, so one callback drains
// everything posted so far, in order.
//
// Ownership, libuv style:
//  1. init() and close() run on the loop thread; post() on any thread,
//     between them.
//  2. The uv_async_t lives in a heap block freed by its close callback, so
//     the LoopPoster itself may be destroyed right after close(); the loop
//     must run once more for that memory to be released.
//  3. Functions still queued at close() are dropped: call run_pending()
//     first if they matter.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include <uv.h>

namespace kgw {

class LoopPoster {
 public:
  LoopPoster() = default;
  ~LoopPoster() { close(); }
  LoopPoster(const LoopPoster&) = delete;
  LoopPoster& operator=(const LoopPoster&) = delete;

  // 0 or a libuv error code.
  int init(uv_loop_t* loop);
  void post(std::function<void()> fn);
  // Runs everything queued (including what those functions post) now, on
  // the calling (loop) thread.
  void run_pending();
  void close();

 private:
  struct Handle {
    uv_async_t async;
    LoopPoster* owner;
  };
  static void on_async(uv_async_t* async);

  Handle* handle_ = nullptr;
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
};

}  // namespace kgw
