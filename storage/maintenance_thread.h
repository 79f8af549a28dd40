// The store's background thread for log maintenance: log cleaner passes
// and RocksDB compactions of ranges retention deleted. Jobs run one at a
// time, in the order queued, so two of them never work on the same
// partition at once; they report back to the loop thread themselves
// (through the store's LoopPoster).
//
// The happy path is: the loop thread queues a job -> the thread runs it ->
// the job posts its result to the loop. Possible failure modes: a job
// fails (it reports its own error); stop() is called while a job runs (the
// job sees stopping() and returns early; queued jobs are dropped).
// Anything with background work has a stop() that waits for it: this one
// joins the thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace kgw {

class MaintenanceThread {
 public:
  using Job = std::function<void(const std::atomic<bool>& stopping)>;

  MaintenanceThread() = default;
  ~MaintenanceThread() { stop(); }
  MaintenanceThread(const MaintenanceThread&) = delete;
  MaintenanceThread& operator=(const MaintenanceThread&) = delete;

  void start();
  // Queues a job; false (the job is dropped) after stop().
  bool post(Job job);
  // Jobs queued or running.
  std::size_t pending() const;
  // Tells the running job to stop, drops queued ones and joins.
  void stop();
  bool stopping() const { return stopping_.load(); }

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;    // guarded by mu_
  std::size_t running_ = 0;  // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kgw
