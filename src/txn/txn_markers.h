// TxnMarkerChannel: the COMMIT/ABORT control markers of an ending
// transaction, written on every partition's leader (Kafka's
// TransactionMarkerChannelManager).
//
// The happy path is: write() takes the transaction's partitions (and, in
// a cluster, its groups' __consumer_offsets partitions on other brokers),
// appends the marker itself where this broker leads the partition (as on
// one node), groups the others by the leader the latest metadata image
// names and sends each leader one WriteTxnMarkers request through the
// MarkerTransport; once every partition is marked, `done` runs and the
// coordinator completes the transaction.
//
// Possible failure modes are:
//  - a leader answers a retriable error (NOT_LEADER_OR_FOLLOWER,
//    UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT,
//    KAFKA_STORAGE_ERROR, COORDINATOR_LOAD_IN_PROGRESS) or the call fails
//    (no connection, timeout): those partitions are routed again from the
//    latest image after a backoff, until written;
//  - the topic was deleted (or the partition no longer exists): nothing to
//    mark there;
//  - the partition is offline (no leader): retried until it has one;
//  - a leader answers any other error: logged, that partition is given up
//    (Kafka treats it as a bug), the transaction still completes;
//  - a local append fails (the store's failure is sticky): `done` gets the
//    error and the coordinator does not move on;
//  - stop(): pending retries are dropped, their `done` never runs.
// Everything runs on the loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/timer_queue.h"
#include "protocol/wire/error_code.h"
#include "protocol/wire/types.h"

namespace kgw {

class OffsetManager;
class ProducerStateManager;
class Store;

// One WriteTxnMarkers marker: a producer's outcome on some partitions.
struct TxnMarker {
  std::int64_t producer_id = -1;
  std::int16_t epoch = 0;
  bool commit = false;
  std::int32_t coordinator_epoch = 0;
  std::vector<std::pair<std::string, std::int32_t>> partitions;
};

// Sends markers to another broker (src/interbroker implements it; this
// floor does not talk to sockets). `done` gets one error per partition of
// `marker`, in order: a failed call answers every partition with
// NETWORK_EXCEPTION or REQUEST_TIMED_OUT.
class MarkerTransport {
 public:
  virtual ~MarkerTransport() = default;
  virtual void send(std::int32_t node, const TxnMarker& marker,
                    std::function<void(std::vector<ErrorCode>)> done) = 0;
};

// Where a partition's marker goes, from the latest metadata image.
struct MarkerRoute {
  enum class Kind : std::uint8_t { kLocal, kRemote, kGone, kOffline };
  Kind kind = Kind::kLocal;
  std::int32_t node = -1;  // kRemote: the leader
};

struct MarkerCluster {
  // The leader of (topic, partition) in the latest image.
  std::function<MarkerRoute(const std::string& topic, std::int32_t partition)> route;
  // The group's coordinator: its __consumer_offsets partition and where it
  // is led (kLocal on one node and while that topic does not exist).
  std::function<std::pair<MarkerRoute, std::int32_t>(const std::string& group)> group_route;
  MarkerTransport* transport = nullptr;
};

class TxnMarkerChannel {
 public:
  // `clock`: wall-clock ms for the markers' timestamps.
  TxnMarkerChannel(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
                   OffsetManager& offsets, std::function<std::int64_t()> clock);
  ~TxnMarkerChannel();
  TxnMarkerChannel(const TxnMarkerChannel&) = delete;
  TxnMarkerChannel& operator=(const TxnMarkerChannel&) = delete;

  // In a cluster: leaders from the image, remote markers through the transport.
  void set_cluster(MarkerCluster cluster) { cluster_ = std::move(cluster); }

  // Marks every partition of `marker` and completes the transactional
  // offsets of `groups`; `done` gets "" or the local failure. only_open
  // (after a restart): local partitions where the producer has no open
  // transaction are skipped.
  void write(const TxnMarker& marker, const std::vector<std::string>& groups, bool only_open,
             std::function<void(const std::string& error)> done);

  // Appends the marker to a partition this broker holds (`done` gets the
  // store's error or ""), with the ProducerStateManager's bookkeeping (the
  // last stable offset, the aborted-transaction index). The WriteTxnMarkers
  // handler uses it for markers from other coordinators.
  void append_local(const Uuid& topic_id, std::int32_t partition, const TxnMarker& marker,
                    std::function<void(const std::string& error)> done);
  void stop();

 private:
  struct Pending;
  void send_remote(std::uint64_t id, std::int32_t node, TxnMarker marker);
  void retry_later(std::uint64_t id, std::vector<std::pair<std::string, std::int32_t>> parts);
  void route(std::uint64_t id, std::vector<std::pair<std::string, std::int32_t>> parts);
  void one_done(std::uint64_t id, const std::string& error);

  Store& store_;
  ProducerStateManager& producers_;
  OffsetManager& offsets_;
  std::function<std::int64_t()> clock_;
  MarkerCluster cluster_;
  TimerQueue timers_;
  std::map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
};

}  // namespace kgw
