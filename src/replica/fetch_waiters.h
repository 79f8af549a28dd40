// FetchWaiters: fetches that could not yet be satisfied (fewer than
// min_bytes available) wait here until a produce to one of their partitions
// advances its high watermark, or until their max_wait_ms timer fires.
//
// The happy path is: a fetch registers (partitions, callback, timeout) ->
// an append to one of its partitions calls notify() -> the callback runs
// once on the loop thread and the fetch reads again. Possible failure
// modes: the timer fires first (the callback runs with timed_out=true), or
// the broker stops (every waiter's callback runs once, timed_out=true).
// A waiter's callback runs exactly once; its timer handle is freed in the
// close callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "protocol/wire/types.h"

namespace kgw {

class FetchWaiters {
 public:
  using Wake = std::function<void(bool timed_out)>;
  using PartitionKey = std::pair<Uuid, std::int32_t>;

  explicit FetchWaiters(uv_loop_t* loop) : loop_(loop) {}
  ~FetchWaiters();

  // `connection` identifies the client; forget_connection() drops its waits.
  void wait(std::uint64_t connection, const std::vector<PartitionKey>& partitions,
            std::uint32_t timeout_ms, Wake wake);
  void notify(const Uuid& topic, std::int32_t partition);
  // The client is gone: drop its waits without waking them, releasing the
  // requests they hold (nobody is left to answer).
  void forget_connection(std::uint64_t connection);
  // Wakes every waiter (timed_out=true): the broker is stopping.
  void stop();
  std::size_t size() const { return waiters_.size(); }

 private:
  struct Waiter;
  static void on_timer(uv_timer_t* t);
  // Removes waiter `id`; runs its callback unless `wake` is false.
  void fire(std::uint64_t id, bool timed_out, bool wake = true);

  uv_loop_t* loop_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Waiter*> waiters_;
  std::multimap<PartitionKey, std::uint64_t> by_partition_;
};

}  // namespace kgw
