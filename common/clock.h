// Clocks every floor reads. wall_ms() is the time Kafka stamps and
// compares with record timestamps and expiry deadlines (epoch ms, may
// jump with the system clock); timers that only measure intervals use
// libuv's monotonic loop time instead (common/loop_timer.h).
#pragma once

#include <chrono>
#include <cstdint>

namespace kgw {

inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kgw
