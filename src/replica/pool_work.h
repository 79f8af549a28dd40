// Runs CPU work a handler must not do on the loop thread (decompressing
// and recompressing records) on the libuv threadpool, then its completion
// on the loop thread. The pending request keeps uv_run() from returning,
// so the broker outlives every completion.
#pragma once

#include <uv.h>

#include <functional>

namespace kgw {

// `work` runs on a threadpool thread and must not touch loop-side state;
// `done` runs on the loop thread afterwards. Neither may throw.
void run_on_pool(uv_loop_t* loop, std::function<void()> work, std::function<void()> done);

}  // namespace kgw
