// TimerQueue: timers fire in deadline order, a cancelled one never runs,
// and a queue left with nothing scheduled holds the loop open no longer
// (a stopping kgw in proxy mode used to wait out a closed connection's
// cancelled call timeouts, about 8 s).
#include "common/timer_queue.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <vector>

namespace kgw {
namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
};

TEST_CASE("timers fire in deadline order; a cancelled one never runs") {
  Loop l;
  TimerQueue q(&l.loop);
  std::vector<int> fired;
  q.schedule(20, [&] { fired.push_back(2); });
  q.schedule(5, [&] { fired.push_back(1); });
  const TimerQueue::Id gone = q.schedule(10, [&] { fired.push_back(99); });
  q.cancel(gone);
  q.schedule(30, [&] {
    fired.push_back(3);
    q.stop();
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(fired == std::vector<int>{1, 2, 3});
}

TEST_CASE("an emptied queue does not keep the loop running until the cancelled deadline") {
  Loop l;
  TimerQueue q(&l.loop);
  const TimerQueue::Id long_one = q.schedule(5000, [] {});
  CHECK(uv_loop_alive(&l.loop) != 0);
  q.cancel(long_one);
  // Nothing armed: no active handle, uv_run would return at once.
  CHECK(uv_loop_alive(&l.loop) == 0);
  q.stop();
}

}  // namespace
}  // namespace kgw
