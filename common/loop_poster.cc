#include "common/loop_poster.h"

namespace kgw {

int LoopPoster::init(uv_loop_t* loop) {
  auto* h = new Handle{};
  h->owner = this;
  h->async.data = h;
  int rc = uv_async_init(loop, &h->async, &LoopPoster::on_async);
  if (rc != 0) {
    delete h;  // never initialised, so no close callback will come
    return rc;
  }
  handle_ = h;
  return 0;
}

void LoopPoster::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  // Rule 1 makes handle_ stable here: close() runs on the loop thread only
  // after every other poster has stopped.
  if (handle_ != nullptr) uv_async_send(&handle_->async);
}

void LoopPoster::run_pending() {
  std::vector<std::function<void()>> batch;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return;
      batch.swap(queue_);
    }
    for (auto& fn : batch) fn();
    batch.clear();
  }
}

void LoopPoster::on_async(uv_async_t* async) {
  auto* h = static_cast<Handle*>(async->data);
  if (h->owner != nullptr) h->owner->run_pending();
}

void LoopPoster::close() {
  if (handle_ == nullptr) return;
  handle_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->async),
           [](uv_handle_t* handle) { delete static_cast<Handle*>(handle->data); });
  handle_ = nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
}

}  // namespace kgw
