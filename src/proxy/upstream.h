// Upstream: the legacy Kafka cluster kgw stands in front of in proxy mode
// (`upstream.bootstrap.servers`, or --upstream). It keeps that cluster's
// metadata (brokers, topics, partition leaders) and one BrokerConnection
// per legacy broker; each connection asks its broker's ApiVersions before
// its first call, so a forwarded request goes out at the highest version
// both sides speak (BrokerConnection).
//
// The happy path is: start() asks a bootstrap broker for the metadata of
// every topic, then again every refresh_interval_ms, and at once (at most
// one request in flight) when a forwarded call saw a stale leader
// (refresh_soon()). Topics a handler may forward to are those of the last
// answer; connections go to the address the answer gave each broker.
//
// Possible failure modes are: no bootstrap broker answers (the topics stay
// as they were, empty at first; the next refresh tries the next bootstrap
// address), a broker disappears from the metadata (its connection is
// closed and its calls fail with kClosed), a call to a broker that is down
// (the BrokerConnection's errors; src/proxy/forward.h turns them into
// retriable Kafka errors). Nothing here throws.
//
// Threads: the loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/types.h"
#include "src/interbroker/broker_connection.h"
#include "src/proxy/group_move.h"
#include "src/proxy/upstream_txns.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

struct MetadataResponse;

struct UpstreamAddress {
  std::string host;
  std::int32_t port = 0;
};

// "host:port,host:port" -> addresses; false (and `error`) if one is not
// HOST:PORT or the list is empty.
bool parse_upstream_servers(std::string_view list, std::vector<UpstreamAddress>& out,
                            std::string& error);

struct UpstreamOptions {
  std::vector<UpstreamAddress> bootstrap;
  // Default: 30000. How often the legacy metadata is asked again.
  std::uint64_t refresh_interval_ms = 30000;
  // Default: 100. The earliest a refresh asked by refresh_soon() goes out
  // after the previous one.
  std::uint64_t refresh_backoff_ms = 100;
  BrokerConnectionOptions connection;
};

struct UpstreamTopic {
  std::string name;
  Uuid id{};
  bool internal = false;
  // By partition index: the legacy leader's node id (-1: none) and epoch.
  std::vector<std::int32_t> leaders;
  std::vector<std::int32_t> leader_epochs;
};

class Upstream final : public UpstreamCatalogue {
 public:
  Upstream(uv_loop_t* loop, UpstreamOptions options);
  ~Upstream() override;
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  void start();
  // Closes every connection; nothing is asked afterwards.
  void stop();

  // UpstreamCatalogue: -1 if the legacy cluster has no such topic.
  std::int32_t partitions(std::string_view topic) const override;
  std::string_view name_of(const Uuid& id) const override;

  const UpstreamTopic* topic(std::string_view name) const;
  const std::map<std::string, UpstreamTopic, std::less<>>& topics() const { return topics_; }
  // The legacy leader of a partition, -1 if none is known.
  std::int32_t leader(std::string_view topic, std::int32_t partition) const;
  // The connection to legacy broker `node` on `channel` (each channel a
  // connection of its own, made on first use), nullptr if the metadata
  // does not name the broker.
  BrokerConnection* broker(std::int32_t node, std::int32_t channel = 0);
  // A forwarded call saw a stale leader or a broker down: ask again soon.
  void refresh_soon();
  // Asks the legacy cluster to auto-create `topic` (a Metadata request for
  // it that allows auto-creation, as a client's), then refreshes the
  // catalogue so that the topic is proxied once the legacy cluster has it.
  // One request per topic at a time: clients retry their Metadata meanwhile.
  void auto_create(const std::string& topic);
  // The first metadata answer came.
  bool ready() const { return ready_; }
  // The legacy broker ids of the last metadata answer, ascending.
  std::vector<std::int32_t> nodes() const;
  // The legacy controller the last metadata answer named (-1: none).
  std::int32_t controller() const { return controller_; }
  // The legacy coordinator of each group forwarded there, by group id
  // (kept by src/proxy/group_forward.cc).
  std::map<std::string, std::int32_t, std::less<>>& group_coordinators() {
    return group_coordinators_;
  }
  // The same for transactional ids.
  std::map<std::string, std::int32_t, std::less<>>& txn_coordinators() { return txn_coordinators_; }
  // Coordinator calls about one key (a group or transactional id, with
  // its type) still out, and the connection they went on: the next call
  // for the key takes the same one, so the legacy coordinator answers a
  // client's pipelined requests (OffsetCommits) in the order it sent
  // them, as a broker does on one connection (kept by group_forward.cc).
  struct KeyChannel {
    std::int32_t node = -1;
    std::int32_t channel = 0;
    int pending = 0;
  };
  std::map<std::string, KeyChannel, std::less<>>& key_channels() { return key_channels_; }
  // Produce requests forwarded to the legacy cluster and not answered
  // yet, by topic (src/proxy/forward.cc counts them; a migration's cutover
  // waits until its topic has none: src/proxy/cutover.h).
  void produce_sent(const std::string& topic) { ++produces_in_flight_[topic]; }
  void produce_answered(const std::string& topic) {
    auto it = produces_in_flight_.find(topic);
    if (it != produces_in_flight_.end() && --it->second <= 0) produces_in_flight_.erase(it);
  }
  int produces_in_flight(std::string_view topic) const {
    auto it = produces_in_flight_.find(topic);
    return it == produces_in_flight_.end() ? 0 : it->second;
  }
  // Consumer groups moving to kgw (src/proxy/group_move.h).
  GroupMoves& group_moves() { return group_moves_; }
  // Transactions the legacy cluster coordinates, as far as they added
  // legacy topics (src/proxy/upstream_txns.h).
  UpstreamTxns& txns() { return txns_; }
  const UpstreamTxns& txns() const { return txns_; }
  // Produce kgw appends to its own copy of a topic being rolled back and
  // has not answered yet (handlers/produce.cc counts them; a rollback's
  // switch waits until its topic has none: src/proxy/copy_back.h).
  void local_write_started(const std::string& topic) { ++local_writes_[topic]; }
  void local_write_answered(const std::string& topic) {
    auto it = local_writes_.find(topic);
    if (it != local_writes_.end() && --it->second <= 0) local_writes_.erase(it);
  }
  int local_writes_in_flight(std::string_view topic) const {
    auto it = local_writes_.find(topic);
    return it == local_writes_.end() ? 0 : it->second;
  }
  // A rollback's switch (src/proxy/copy_back.h) holds the topic's produce
  // while the legacy cluster takes kgw's last records.
  void fence_writes(const std::string& topic, bool fenced) {
    if (fenced) {
      write_fenced_.insert(topic);
    } else {
      write_fenced_.erase(topic);
    }
  }
  bool writes_fenced(std::string_view topic) const override {
    return write_fenced_.find(topic) != write_fenced_.end();
  }
  // A topic rolled back after its cutover: clients hold kgw's leader epoch
  // for it (kgw.migration.leader.epoch), above the legacy one. Metadata
  // never answers an epoch below the floor, and forwarded requests carry
  // none for the topic (the legacy leader would not know it). 0: none.
  void set_epoch_floor(const std::string& topic, std::int32_t epoch) {
    if (epoch > 0) epoch_floors_[topic] = epoch;
  }
  std::int32_t epoch_floor(std::string_view topic) const {
    auto it = epoch_floors_.find(topic);
    return it == epoch_floors_.end() ? 0 : it->second;
  }

 private:
  void refresh();
  void on_metadata(CallError e, const MetadataResponse& resp);
  void schedule(std::uint64_t delay_ms);

  uv_loop_t* loop_;
  UpstreamOptions options_;
  TimerQueue timers_;
  TimerQueue::Id timer_ = 0;
  std::vector<std::unique_ptr<BrokerConnection>> bootstrap_;
  std::size_t next_bootstrap_ = 0;
  std::map<std::int32_t, UpstreamAddress> addresses_;  // by legacy node id
  // By (node, channel).
  std::map<std::pair<std::int32_t, std::int32_t>, std::unique_ptr<BrokerConnection>> brokers_;
  std::map<std::string, UpstreamTopic, std::less<>> topics_;
  bool in_flight_ = false;
  bool again_ = false;
  bool ready_ = false;
  bool stopped_ = false;
  std::uint64_t last_refresh_ = 0;
  std::map<std::string, std::int32_t, std::less<>> group_coordinators_;
  std::map<std::string, std::int32_t, std::less<>> txn_coordinators_;
  std::map<std::string, KeyChannel, std::less<>> key_channels_;
  std::map<std::string, int, std::less<>> produces_in_flight_;
  GroupMoves group_moves_;
  UpstreamTxns txns_;
  std::set<std::string, std::less<>> write_fenced_;
  std::map<std::string, int, std::less<>> local_writes_;
  std::map<std::string, std::int32_t, std::less<>> epoch_floors_;
  std::int32_t controller_ = -1;
  std::set<std::string, std::less<>> creating_;  // auto_create asked, not answered
};

}  // namespace kgw
