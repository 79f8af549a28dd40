#include "src/proxy/upstream.h"

#include <charconv>

#include "all_messages.h"
#include "common/log.h"

namespace kgw {

bool parse_upstream_servers(std::string_view list, std::vector<UpstreamAddress>& out,
                            std::string& error) {
  out.clear();
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const std::size_t colon = item.rfind(':');
    std::int32_t port = 0;
    if (colon == std::string_view::npos || colon == 0) {
      error = "upstream.bootstrap.servers: '" + std::string(item) + "' is not HOST:PORT";
      return false;
    }
    std::string_view digits = item.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || port <= 0 || port > 65535) {
      error = "upstream.bootstrap.servers: '" + std::string(item) + "' is not HOST:PORT";
      return false;
    }
    out.push_back(UpstreamAddress{std::string(item.substr(0, colon)), port});
    start = comma + 1;
  }
  if (out.empty()) {
    error = "upstream.bootstrap.servers: no address";
    return false;
  }
  return true;
}

Upstream::Upstream(uv_loop_t* loop, UpstreamOptions options)
    : loop_(loop),
      options_(std::move(options)),
      timers_(loop),
      txns_([loop] { return static_cast<std::uint64_t>(uv_now(loop)); }) {
  if (options_.connection.client_id == "kgw-interbroker")
    options_.connection.client_id = "kgw-proxy";
  for (const UpstreamAddress& a : options_.bootstrap) {
    bootstrap_.push_back(
        std::make_unique<BrokerConnection>(loop_, a.host, a.port, options_.connection));
  }
}

Upstream::~Upstream() {
  stop();
}

void Upstream::start() {
  refresh();
}

void Upstream::stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_ = timers_.reset(timer_);
  for (auto& c : bootstrap_) c->close();
  for (auto& [node, c] : brokers_) c->close();
  timers_.stop();
}

std::int32_t Upstream::partitions(std::string_view name) const {
  const UpstreamTopic* t = topic(name);
  return t == nullptr ? -1 : static_cast<std::int32_t>(t->leaders.size());
}

std::string_view Upstream::name_of(const Uuid& id) const {
  for (const auto& [name, t] : topics_) {
    if (t.id == id) return name;
  }
  return {};
}

const UpstreamTopic* Upstream::topic(std::string_view name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

std::int32_t Upstream::leader(std::string_view name, std::int32_t partition) const {
  const UpstreamTopic* t = topic(name);
  if (t == nullptr || partition < 0 || static_cast<std::size_t>(partition) >= t->leaders.size()) {
    return -1;
  }
  return t->leaders[static_cast<std::size_t>(partition)];
}

BrokerConnection* Upstream::broker(std::int32_t node, std::int32_t channel) {
  if (stopped_) return nullptr;
  auto a = addresses_.find(node);
  if (a == addresses_.end()) return nullptr;
  auto& c = brokers_[{node, channel}];
  if (c == nullptr) {
    c = std::make_unique<BrokerConnection>(loop_, a->second.host, a->second.port,
                                           options_.connection);
  }
  return c.get();
}

std::vector<std::int32_t> Upstream::nodes() const {
  std::vector<std::int32_t> out;
  for (const auto& [node, a] : addresses_) out.push_back(node);
  return out;
}

void Upstream::refresh_soon() {
  if (stopped_) return;
  if (in_flight_) {
    again_ = true;
    return;
  }
  const std::uint64_t now = timers_.now();
  const std::uint64_t earliest = last_refresh_ + options_.refresh_backoff_ms;
  schedule(now >= earliest ? 0 : earliest - now);
}

void Upstream::schedule(std::uint64_t delay_ms) {
  timers_.cancel(timer_);
  timer_ = timers_.schedule(delay_ms, [this] {
    timer_ = 0;
    refresh();
  });
}

void Upstream::refresh() {
  if (stopped_ || in_flight_) return;
  in_flight_ = true;
  last_refresh_ = timers_.now();
  // The bootstrap addresses in turn: the next one after a failure.
  BrokerConnection* via = bootstrap_[next_bootstrap_ % bootstrap_.size()].get();
  MetadataRequest req;
  req.topics = std::nullopt;  // all topics
  req.allow_auto_topic_creation = false;
  via->call<MetadataRequest, MetadataResponse>(
      req, [this](CallError e, const MetadataResponse& resp) { on_metadata(e, resp); });
}

void Upstream::auto_create(const std::string& topic) {
  if (stopped_ || bootstrap_.empty() || !creating_.insert(topic).second) return;
  BrokerConnection* via = bootstrap_[next_bootstrap_ % bootstrap_.size()].get();
  auto name = std::make_shared<std::string>(topic);
  MetadataRequest req;
  req.topics.emplace().emplace_back().name = *name;
  req.allow_auto_topic_creation = true;
  via->call<MetadataRequest, MetadataResponse>(
      req, [this, name](CallError e, const MetadataResponse& resp) {
        if (stopped_) return;
        creating_.erase(*name);
        std::int16_t err = e == CallError::kNone ? 0 : -1;
        for (const auto& t : resp.topics) {
          if (t.name && *t.name == *name) err = t.error_code;
        }
        // LEADER_NOT_AVAILABLE: created, its leaders not elected yet.
        if (err != 0 && err != code(ErrorCode::kLeaderNotAvailable)) {
          LOG_WARN("proxy", "auto-creating topic %s on the legacy cluster: %s", name->c_str(),
                   e != CallError::kNone ? call_error_name(e) : error_name(ErrorCode(err)));
        }
        refresh_soon();
      });
}

void Upstream::on_metadata(CallError e, const MetadataResponse& resp) {
  in_flight_ = false;
  if (stopped_) return;
  if (e != CallError::kNone) {
    LOG_WARN("proxy", "upstream metadata: %s; trying another broker", call_error_name(e));
    ++next_bootstrap_;
    schedule(again_ ? 0 : options_.refresh_backoff_ms * 10);
    again_ = false;
    return;
  }
  again_ = false;
  std::map<std::int32_t, UpstreamAddress> seen;
  for (const auto& b : resp.brokers) {
    seen[b.node_id] = UpstreamAddress{std::string(b.host), b.port};
  }
  for (auto it = brokers_.begin(); it != brokers_.end();) {
    auto a = seen.find(it->first.first);
    if (a == seen.end()) {
      it->second->close();
      it = brokers_.erase(it);
      continue;
    }
    if (it->second->host() != a->second.host || it->second->port() != a->second.port) {
      it->second->set_address(a->second.host, a->second.port);
    }
    ++it;
  }
  addresses_ = std::move(seen);
  controller_ = resp.controller_id;
  std::map<std::string, UpstreamTopic, std::less<>> topics;
  for (const auto& t : resp.topics) {
    if (!t.name || t.error_code != 0) continue;
    UpstreamTopic& out = topics[std::string(*t.name)];
    out.name = std::string(*t.name);
    out.id = t.topic_id;
    out.internal = t.is_internal;
    std::size_t n = 0;
    for (const auto& p : t.partitions) {
      if (p.partition_index >= 0) n = std::max(n, static_cast<std::size_t>(p.partition_index) + 1);
    }
    out.leaders.assign(n, -1);
    out.leader_epochs.assign(n, -1);
    for (const auto& p : t.partitions) {
      if (p.partition_index < 0) continue;
      out.leaders[static_cast<std::size_t>(p.partition_index)] =
          p.error_code == 0 ? p.leader_id : -1;
      out.leader_epochs[static_cast<std::size_t>(p.partition_index)] = p.leader_epoch;
    }
  }
  if (!ready_) {
    LOG_INFO("proxy", "upstream: %zu brokers, %zu topics", addresses_.size(), topics.size());
  }
  topics_ = std::move(topics);
  ready_ = true;
  schedule(options_.refresh_interval_ms);
}

}  // namespace kgw
