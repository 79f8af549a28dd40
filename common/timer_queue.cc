#include "common/timer_queue.h"

namespace kgw {

TimerQueue::TimerQueue(uv_loop_t* loop) : loop_(loop) {
  handle_ = new Handle{};
  handle_->owner = this;
  uv_timer_init(loop, &handle_->timer);
  handle_->timer.data = handle_;
}

TimerQueue::Id TimerQueue::schedule(std::uint64_t delay_ms, std::function<void()> fn) {
  if (handle_ == nullptr) return 0;
  const Id id = next_id_++;
  const std::uint64_t deadline = uv_now(loop_) + delay_ms;
  entries_.emplace(Key{deadline, id}, std::move(fn));
  deadlines_.emplace(id, deadline);
  arm();
  return id;
}

void TimerQueue::cancel(Id id) {
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return;
  entries_.erase(Key{it->second, id});
  deadlines_.erase(it);
  // The uv timer may stay armed for a deadline that is gone: it then
  // fires, finds nothing due and re-arms. Cheaper than re-arming on every
  // cancel (heartbeats cancel and reschedule constantly). With nothing
  // left it stops, so that an idle queue does not hold the loop open (a
  // closed connection's cancelled call timeouts kept a stopping kgw alive
  // for seconds).
  if (entries_.empty()) arm();
}

void TimerQueue::arm() {
  if (handle_ == nullptr) return;
  if (entries_.empty()) {
    uv_timer_stop(&handle_->timer);
    armed_for_ = 0;
    return;
  }
  const std::uint64_t first = entries_.begin()->first.first;
  if (armed_for_ != 0 && armed_for_ <= first) return;
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(&handle_->timer, &TimerQueue::on_timer, first > now ? first - now : 0, 0);
  armed_for_ = first;
}

void TimerQueue::on_timer(uv_timer_t* t) {
  auto* h = static_cast<Handle*>(t->data);
  if (h->owner != nullptr) h->owner->fire_due();
}

void TimerQueue::fire_due() {
  armed_for_ = 0;
  const std::uint64_t now = uv_now(loop_);
  // Take one due entry at a time: a callback may cancel or add others.
  while (handle_ != nullptr && !entries_.empty() && entries_.begin()->first.first <= now) {
    auto node = entries_.extract(entries_.begin());
    deadlines_.erase(node.key().second);
    node.mapped()();
  }
  arm();
}

void TimerQueue::stop() {
  if (handle_ == nullptr) return;
  entries_.clear();
  deadlines_.clear();
  handle_->owner = nullptr;
  uv_timer_stop(&handle_->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->timer),
           [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
  handle_ = nullptr;
}

}  // namespace kgw
