#include "storage/segment_list.h"

#include <algorithm>

namespace kgw {

void SegmentList::reset(std::int64_t base, std::int64_t now_ms) {
  segs_.clear();
  Segment s;
  s.base = base;
  s.end = base;
  s.created_ms = now_ms;
  s.last_append_ms = now_ms;
  segs_.push_back(s);
  bytes_ = 0;
}

void SegmentList::assign(std::deque<Segment> segments) {
  segs_ = std::move(segments);
  bytes_ = 0;
  for (const auto& s : segs_) bytes_ += s.bytes;
}

bool SegmentList::should_roll(std::int64_t size, std::int64_t now_ms,
                              const LogPolicy& policy) const {
  const Segment& a = segs_.back();
  if (a.empty()) return false;
  if (a.bytes > policy.segment_bytes - size) return true;
  return now_ms - a.created_ms >= policy.segment_ms;
}

Segment SegmentList::roll(std::int64_t base, std::int64_t now_ms) {
  Segment closed = segs_.back();
  Segment s;
  s.base = std::max(base, closed.end);
  s.end = s.base;
  s.created_ms = now_ms;
  s.last_append_ms = now_ms;
  segs_.push_back(s);
  return closed;
}

void SegmentList::on_append(std::int64_t end, std::int64_t size, std::int64_t max_timestamp,
                            std::int64_t now_ms) {
  Segment& a = segs_.back();
  a.end = std::max(a.end, end);
  a.bytes += size;
  a.max_timestamp = std::max(a.max_timestamp, max_timestamp);
  a.last_append_ms = now_ms;
  bytes_ += size;
}

RetentionPlan SegmentList::plan_retention(const LogPolicy& policy, std::int64_t now_ms,
                                          std::int64_t high_watermark) const {
  RetentionPlan plan;
  if (!policy.delete_enabled) return plan;
  // Kafka: a segment may go only when all of it is below the high
  // watermark, and never the last one when it is empty.
  auto eligible = [&](std::size_t i) {
    const Segment& s = segs_[i];
    const bool last = i + 1 == segs_.size();
    return s.end <= high_watermark && !(last && s.empty());
  };
  std::size_t i = 0;
  if (policy.retention_ms >= 0) {
    while (i < segs_.size() && eligible(i) &&
           now_ms - segs_[i].retention_time() > policy.retention_ms) {
      plan.bytes += segs_[i].bytes;
      ++i;
      plan.by_time = true;
    }
  }
  if (policy.retention_bytes >= 0) {
    std::int64_t diff = bytes_ - plan.bytes - policy.retention_bytes;
    while (i < segs_.size() && eligible(i) && diff - segs_[i].bytes >= 0) {
      diff -= segs_[i].bytes;
      plan.bytes += segs_[i].bytes;
      ++i;
      plan.by_size = true;
    }
  }
  plan.count = i;
  plan.includes_active = i == segs_.size() && i > 0;
  return plan;
}

std::size_t SegmentList::count_below(std::int64_t offset) const {
  std::size_t n = 0;
  while (n < segs_.size() && segs_[n].end <= offset) {
    const bool last_and_empty = n + 1 == segs_.size() && segs_[n].empty();
    if (last_and_empty) break;
    ++n;
  }
  return n;
}

std::int64_t SegmentList::pop_front(std::size_t n, std::int64_t next_base, std::int64_t now_ms) {
  std::int64_t removed = 0;
  n = std::min(n, segs_.size());
  for (std::size_t i = 0; i < n; ++i) {
    removed += segs_.front().bytes;
    segs_.pop_front();
  }
  bytes_ -= removed;
  if (segs_.empty()) reset(next_base, now_ms);
  return removed;
}

std::vector<std::int64_t> SegmentList::truncate(std::int64_t end, std::int64_t removed_bytes,
                                                std::int64_t max_timestamp, std::int64_t max_at,
                                                std::int64_t now_ms) {
  std::vector<std::int64_t> gone;
  while (!segs_.empty() && segs_.back().base >= end && segs_.size() > 1) {
    gone.push_back(segs_.back().base);
    bytes_ -= segs_.back().bytes;
    segs_.pop_back();
  }
  Segment& last = segs_.back();
  if (last.base >= end) {
    if (last.base != end) gone.push_back(last.base);
    reset(end, now_ms);
    return gone;
  }
  removed_bytes = std::min(removed_bytes, last.bytes);
  last.bytes -= removed_bytes;
  bytes_ -= removed_bytes;
  last.end = end;
  last.max_timestamp =
      max_at >= last.base ? max_timestamp : std::min(last.max_timestamp, max_timestamp);
  return gone;
}

Segment* SegmentList::containing(std::int64_t offset) {
  auto it = std::upper_bound(segs_.begin(), segs_.end(), offset,
                             [](std::int64_t o, const Segment& s) { return o < s.base; });
  if (it == segs_.begin()) return nullptr;
  return &*std::prev(it);
}

Segment* SegmentList::find(std::int64_t base) {
  Segment* s = containing(base);
  return s != nullptr && s->base == base ? s : nullptr;
}

void SegmentList::add_bytes(Segment& s, std::int64_t delta) {
  s.bytes += delta;
  bytes_ += delta;
}

std::int64_t SegmentList::bytes_between(std::int64_t from, std::int64_t to) const {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < segs_.size(); ++i) {
    const Segment& s = segs_[i];
    const std::int64_t next = i + 1 < segs_.size() ? segs_[i + 1].base : s.end;
    if (std::max(next, s.end) <= from || s.base >= to) continue;
    n += s.bytes;
  }
  return n;
}

std::vector<std::int64_t> SegmentList::merge_small(std::int64_t from, std::int64_t to,
                                                   std::int64_t max_bytes) {
  std::vector<std::int64_t> gone;
  if (segs_.size() < 2) return gone;
  std::deque<Segment> out;
  std::size_t last_closed = segs_.size() - 1;  // the active segment is never merged
  for (std::size_t i = 0; i < segs_.size(); ++i) {
    Segment s = segs_[i];
    const bool mergeable = i < last_closed && s.base >= from && s.end <= to;
    if (mergeable && !out.empty()) {
      Segment& prev = out.back();
      const bool prev_mergeable = prev.base >= from && prev.end <= to;
      if (prev_mergeable && prev.bytes + s.bytes <= max_bytes) {
        prev.end = std::max(prev.end, s.end);
        prev.bytes += s.bytes;
        prev.max_timestamp = std::max(prev.max_timestamp, s.max_timestamp);
        prev.last_append_ms = std::max(prev.last_append_ms, s.last_append_ms);
        gone.push_back(s.base);
        continue;
      }
    }
    out.push_back(s);
  }
  segs_ = std::move(out);
  return gone;
}

}  // namespace kgw
