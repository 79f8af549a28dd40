#include "src/replica/replication_quota.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace kgw {

ReplicationQuota::ReplicationQuota(std::uint32_t windows, std::uint64_t window_ms) {
  configure(windows, window_ms);
}

void ReplicationQuota::configure(std::uint32_t windows, std::uint64_t window_ms) {
  windows_ = std::max<std::uint32_t>(windows, 1);
  window_ms_ = std::max<std::uint64_t>(window_ms, 1);
}

void ReplicationQuota::expire(std::uint64_t now_ms) const {
  const std::uint64_t span = static_cast<std::uint64_t>(windows_) * window_ms_;
  while (!samples_.empty() && samples_.front().start_ms + span <= now_ms) samples_.pop_front();
}

void ReplicationQuota::record(std::uint64_t bytes, std::uint64_t now_ms) {
  expire(now_ms);
  if (samples_.empty() || samples_.back().start_ms + window_ms_ <= now_ms) {
    samples_.push_back({now_ms - now_ms % window_ms_, 0});
  }
  samples_.back().bytes += bytes;
}

double ReplicationQuota::rate(std::uint64_t now_ms) const {
  expire(now_ms);
  if (samples_.empty()) return 0;
  std::uint64_t bytes = 0;
  for (const Sample& s : samples_) bytes += s.bytes;
  // Kafka's Rate: the time since the oldest sample began, but never less
  // than all windows but the current one, so that a young measure is not
  // a burst divided by a few milliseconds.
  std::uint64_t elapsed = now_ms - samples_.front().start_ms;
  const std::uint64_t floor = static_cast<std::uint64_t>(windows_ - 1) * window_ms_;
  elapsed = std::max(elapsed, std::max<std::uint64_t>(floor, 1));
  return static_cast<double>(bytes) * 1000.0 / static_cast<double>(elapsed);
}

bool ReplicationQuota::exceeded(std::int64_t bytes_per_s, std::uint64_t now_ms) const {
  if (bytes_per_s < 0 || bytes_per_s == std::numeric_limits<std::int64_t>::max()) return false;
  return rate(now_ms) > static_cast<double>(bytes_per_s);
}

bool throttled_replica(std::string_view list, std::int32_t partition, std::int32_t broker) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  list = trim(list);
  if (list == "*") return true;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const std::size_t colon = entry.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view p = trim(entry.substr(0, colon));
    const std::string_view b = trim(entry.substr(colon + 1));
    std::int32_t pv = -1;
    std::int32_t bv = -1;
    const auto pr = std::from_chars(p.data(), p.data() + p.size(), pv);
    const auto br = std::from_chars(b.data(), b.data() + b.size(), bv);
    if (pr.ec != std::errc() || pr.ptr != p.data() + p.size() || br.ec != std::errc() ||
        br.ptr != b.data() + b.size()) {
      continue;
    }
    if (pv == partition && bv == broker) return true;
  }
  return false;
}

bool throttled_replica(const std::map<std::string, std::string>& topic_configs,
                       const std::string& list_config, std::int32_t partition,
                       std::int32_t broker) {
  auto list = topic_configs.find(list_config);
  return list != topic_configs.end() && throttled_replica(list->second, partition, broker);
}

}  // namespace kgw
