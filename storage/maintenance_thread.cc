#include "storage/maintenance_thread.h"

namespace kgw {

void MaintenanceThread::start() {
  thread_ = std::thread([this] { run(); });
}

bool MaintenanceThread::post(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

std::size_t MaintenanceThread::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + running_;
}

void MaintenanceThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.store(true);
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MaintenanceThread::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_.load(); });
      if (stopping_.load()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    job(stopping_);
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
}

}  // namespace kgw
