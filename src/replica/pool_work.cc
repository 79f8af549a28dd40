#include "src/replica/pool_work.h"

namespace kgw {

namespace {

struct PoolWork {
  uv_work_t req{};
  std::function<void()> work;
  std::function<void()> done;
};

}  // namespace

void run_on_pool(uv_loop_t* loop, std::function<void()> work, std::function<void()> done) {
  auto* job = new PoolWork{};
  job->req.data = job;
  job->work = std::move(work);
  job->done = std::move(done);
  int rc = uv_queue_work(
      loop, &job->req, [](uv_work_t* req) { static_cast<PoolWork*>(req->data)->work(); },
      [](uv_work_t* req, int) {
        auto* j = static_cast<PoolWork*>(req->data);
        j->done();
        delete j;
      });
  if (rc != 0) {
    // Only for invalid arguments, which these are not; still, never lose
    // the completion.
    job->work();
    job->done();
    delete job;
  }
}

}  // namespace kgw
