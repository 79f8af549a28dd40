#include "src/proxy/upstream_txns.h"

#include <iterator>

namespace kgw {

void UpstreamTxns::timeout(std::string_view txn_id, std::int32_t timeout_ms) {
  if (timeout_ms <= 0) return;
  auto it = timeouts_.find(txn_id);
  if (it == timeouts_.end()) it = timeouts_.emplace(std::string(txn_id), 0).first;
  it->second = static_cast<std::uint64_t>(timeout_ms);
}

void UpstreamTxns::added(std::string_view txn_id, std::int64_t producer_id,
                         const std::vector<std::string>& topics) {
  prune();
  const std::uint64_t now = now_ms_();
  auto it = txns_.find(txn_id);
  if (it == txns_.end()) it = txns_.emplace(std::string(txn_id), Txn{}).first;
  Txn& t = it->second;
  if (t.ended_at != 0 || t.producer_id != producer_id) {
    // The previous transaction ended (or another producer took the id):
    // this one starts afresh.
    t = Txn{};
    t.producer_id = producer_id;
    t.since = now;
  }
  if (t.since == 0) t.since = now;
  auto timeout = timeouts_.find(txn_id);
  if (timeout != timeouts_.end()) t.timeout_ms = timeout->second;
  for (const auto& topic : topics) t.topics.insert(topic);
}

void UpstreamTxns::added_here(std::string_view txn_id, std::int64_t producer_id,
                              std::int16_t epoch) {
  auto it = here_.find(txn_id);
  if (it == here_.end()) it = here_.emplace(std::string(txn_id), Here{}).first;
  Here& h = it->second;
  if (h.producer_id != producer_id || h.epoch != epoch || h.since == 0) {
    h = Here{};
    h.producer_id = producer_id;
    h.epoch = epoch;
    h.since = now_ms_();
    if (h.since == 0) h.since = 1;
  }
}

bool UpstreamTxns::has_here(std::string_view txn_id, std::int64_t producer_id) const {
  auto it = here_.find(txn_id);
  return it != here_.end() && it->second.producer_id == producer_id;
}

std::vector<UpstreamTxns::Overdue> UpstreamTxns::overdue_here() const {
  const std::uint64_t now = now_ms_();
  std::vector<Overdue> out;
  for (const auto& [id, h] : here_) {
    auto t = timeouts_.find(id);
    const std::uint64_t timeout = t != timeouts_.end() ? t->second : kDefaultTimeoutMs;
    if (!h.checking && now >= h.since + timeout + kOrphanGraceMs) {
      out.push_back(Overdue{id, h.producer_id, h.epoch});
    }
  }
  return out;
}

void UpstreamTxns::checking(std::string_view txn_id, bool on) {
  auto it = here_.find(txn_id);
  if (it != here_.end()) it->second.checking = on;
}

void UpstreamTxns::held_back(std::string_view txn_id, std::int64_t producer_id) {
  auto it = held_back_.find(txn_id);
  if (it == held_back_.end()) it = held_back_.emplace(std::string(txn_id), producer_id).first;
  it->second = producer_id;
}

bool UpstreamTxns::was_held_back(std::string_view txn_id, std::int64_t producer_id) const {
  auto it = held_back_.find(txn_id);
  return it != held_back_.end() && it->second == producer_id;
}

void UpstreamTxns::ended(std::string_view txn_id) {
  if (auto h = here_.find(txn_id); h != here_.end()) here_.erase(h);
  if (auto h = held_back_.find(txn_id); h != held_back_.end()) held_back_.erase(h);
  auto it = txns_.find(txn_id);
  if (it == txns_.end() || it->second.ended_at != 0) return;
  it->second.ended_at = now_ms_();
  if (it->second.ended_at == 0) it->second.ended_at = 1;
}

bool UpstreamTxns::counts(const Txn& t, std::uint64_t now) const {
  if (t.ended_at != 0) return now < t.ended_at + kMarkerGraceMs;
  return now < t.since + t.timeout_ms + kMarkerGraceMs;
}

void UpstreamTxns::prune() {
  const std::uint64_t now = now_ms_();
  for (auto it = txns_.begin(); it != txns_.end();) {
    it = counts(it->second, now) ? std::next(it) : txns_.erase(it);
  }
}

bool UpstreamTxns::open_on(std::string_view topic, std::string* who) const {
  const std::uint64_t now = now_ms_();
  for (const auto& [id, t] : txns_) {
    if (counts(t, now) && t.topics.contains(topic)) {
      if (who != nullptr) *who = id;
      return true;
    }
  }
  return false;
}

bool UpstreamTxns::producer_open_on(std::int64_t producer_id, std::string_view topic) const {
  const std::uint64_t now = now_ms_();
  for (const auto& [id, t] : txns_) {
    // Not once ended: its next transaction must add the topic again.
    if (t.producer_id == producer_id && t.ended_at == 0 && counts(t, now) &&
        t.topics.contains(topic)) {
      return true;
    }
  }
  return false;
}

}  // namespace kgw
