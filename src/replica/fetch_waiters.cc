#include "src/replica/fetch_waiters.h"

namespace kgw {

struct FetchWaiters::Waiter {
  uv_timer_t timer{};
  FetchWaiters* owner = nullptr;
  std::uint64_t id = 0;
  std::uint64_t connection = 0;
  std::vector<PartitionKey> partitions;
  Wake wake;
};

FetchWaiters::~FetchWaiters() {
  stop();
}

void FetchWaiters::wait(std::uint64_t connection, const std::vector<PartitionKey>& partitions,
                        std::uint32_t timeout_ms, Wake wake) {
  auto* w = new Waiter;
  w->owner = this;
  w->id = next_id_++;
  w->connection = connection;
  w->partitions = partitions;
  w->wake = std::move(wake);
  w->timer.data = w;
  uv_timer_init(loop_, &w->timer);
  uv_timer_start(&w->timer, &FetchWaiters::on_timer, timeout_ms, 0);
  waiters_.emplace(w->id, w);
  for (const auto& p : partitions) by_partition_.emplace(p, w->id);
}

void FetchWaiters::on_timer(uv_timer_t* t) {
  auto* w = static_cast<Waiter*>(t->data);
  w->owner->fire(w->id, true);
}

void FetchWaiters::notify(const Uuid& topic, std::int32_t partition) {
  auto range = by_partition_.equal_range({topic, partition});
  std::vector<std::uint64_t> ids;
  for (auto it = range.first; it != range.second; ++it) ids.push_back(it->second);
  for (auto id : ids) fire(id, false);
}

void FetchWaiters::forget_connection(std::uint64_t connection) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, w] : waiters_) {
    if (w->connection == connection) ids.push_back(id);
  }
  for (auto id : ids) fire(id, true, false);
}

void FetchWaiters::fire(std::uint64_t id, bool timed_out, bool wake) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Waiter* w = it->second;
  waiters_.erase(it);
  for (const auto& p : w->partitions) {
    auto range = by_partition_.equal_range(p);
    for (auto pit = range.first; pit != range.second;) {
      pit = pit->second == id ? by_partition_.erase(pit) : std::next(pit);
    }
  }
  uv_timer_stop(&w->timer);
  Wake callback = std::move(w->wake);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->timer),
           [](uv_handle_t* h) { delete static_cast<Waiter*>(h->data); });
  if (wake) callback(timed_out);
}

void FetchWaiters::stop() {
  while (!waiters_.empty()) fire(waiters_.begin()->first, true);
}

}  // namespace kgw
