#include "common/loop_timer.h"

namespace kgw {

int LoopTimer::init(uv_loop_t* loop) {
  auto* h = new Handle{};
  h->owner = this;
  h->timer.data = h;
  int rc = uv_timer_init(loop, &h->timer);
  if (rc != 0) {
    delete h;  // never initialised, so no close callback will come
    return rc;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&h->timer));
  handle_ = h;
  return 0;
}

void LoopTimer::start(std::uint64_t interval_ms, std::function<void()> fn) {
  if (handle_ == nullptr) return;
  fn_ = std::move(fn);
  if (interval_ms == 0) interval_ms = 1;
  uv_timer_start(&handle_->timer, &LoopTimer::on_timer, interval_ms, interval_ms);
}

void LoopTimer::stop() {
  if (handle_ != nullptr) uv_timer_stop(&handle_->timer);
}

void LoopTimer::on_timer(uv_timer_t* timer) {
  auto* h = static_cast<Handle*>(timer->data);
  if (h->owner != nullptr && h->owner->fn_) h->owner->fn_();
}

void LoopTimer::close() {
  if (handle_ == nullptr) return;
  handle_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->timer),
           [](uv_handle_t* handle) { delete static_cast<Handle*>(handle->data); });
  handle_ = nullptr;
  fn_ = nullptr;
}

}  // namespace kgw
