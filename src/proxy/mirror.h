// Mirror: the `mirroring` state of a migration (issue 17). For every
// partition of every topic whose local copy carries the topic config
// kgw.migration.state=mirroring, it fetches from the legacy leader (through
// the Upstream's connections, channel 2, as a consumer with isolation
// READ_UNCOMMITTED, so aborted data and transaction markers come too) and
// appends the answered batches unchanged at their base offsets
// (Store::append_replica, with ProducerStateManager::apply_replicated, as a
// follower appends its leader's batches): same offsets, producer ids,
// epochs, sequences, control batches, timestamps and compaction gaps.
// Clients never see the local copy while it is mirrored: the resolver
// routes the topic upstream (partition_resolver.h).
//
// The happy path of a partition is: the local log is empty at 0 and the
// legacy log starts at S > 0 -> the first Fetch answers OFFSET_OUT_OF_RANGE
// with S -> the local log is reset to start at S (Store::reset_log, Kafka's
// truncateFullyAndStartAt) -> Fetch from the local log end, append, again.
// The legacy log start moving up (retention there) moves the local one
// (within what is written). After a restart the mirror resumes at the
// local log end: what was written is kept, nothing is fetched twice.
//
// One Fetch per legacy leader carries all of that leader's mirrored
// partitions; the next one leaves when the previous answer's appends are
// written (the loop never waits on the disk: the store's asynchronous
// append path calls back).
//
// Possible failure modes, none thrown: no known legacy leader, the broker
// down or slow (the call fails): the Upstream refreshes its metadata and
// the leader is asked again after `backoff_ms`; a partition error from the
// legacy broker (NOT_LEADER_OR_FOLLOWER and friends): the same; a batch
// that does not check or does not follow the local log (a legacy log that
// diverged from ours, e.g. an unclean election there): logged loudly and
// retried after the backoff, the local log is never cut; a failed store
// write: logged, retried after the backoff.
//
// Threads: the loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/timer_queue.h"
#include "protocol/wire/types.h"

namespace kgw {

class MetadataLog;
class ProducerStateManager;
class Store;
class Upstream;
struct FetchResponse;

struct MirrorOptions {
  // Default: 200. How often the image is scanned for mirrored topics (and
  // idle leaders are asked again).
  std::uint64_t scan_interval_ms = 200;
  // Default: 1000. Wait after a failed call or partition error.
  std::uint64_t backoff_ms = 1000;
  // Default: 500. The legacy broker's long poll.
  std::int32_t max_wait_ms = 500;
  // Default: 1048576. Bytes per partition per Fetch.
  std::int32_t partition_max_bytes = 1048576;
  // Default: 10485760. Bytes per Fetch answer.
  std::int32_t max_bytes = 10485760;
};

class Mirror {
 public:
  Mirror(uv_loop_t* loop, Store& store, ProducerStateManager& producers,
         const MetadataLog& metadata, Upstream& upstream, MirrorOptions options = {});
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  void start();
  // Nothing is asked or appended afterwards (store work already queued
  // completes; its callbacks do nothing).
  void stop();

 private:
  using PartitionKey = std::pair<Uuid, std::int32_t>;
  struct Partition {
    std::uint64_t delayed_until = 0;
    int store_ops = 0;
  };
  struct Leader {
    bool in_flight = false;
    std::uint64_t backoff_until = 0;
  };
  // One Fetch's work: the answer itself, then its store operations (and
  // ListOffsets calls); the leader asked is free when all are done.
  struct Request {
    std::int32_t leader = -1;
    int pending = 1;
  };
  using RequestPtr = std::shared_ptr<Request>;

  void scan();
  void fetch_from(std::int32_t leader, const std::map<PartitionKey, std::string>& parts);
  void on_answer(const FetchResponse& resp, const std::map<PartitionKey, std::string>& asked,
                 const RequestPtr& request);
  void append(const PartitionKey& key, const std::string& name,
              std::shared_ptr<std::vector<std::uint8_t>> data, std::int64_t legacy_log_start,
              const RequestPtr& request);
  void reset(const PartitionKey& key, const std::string& name, std::int64_t start,
             const RequestPtr& request);
  void move_log_start(const PartitionKey& key, std::int64_t legacy_log_start);
  void delay(const PartitionKey& key);
  // One piece of a request's work finished; the last one frees the leader.
  void done_one(const RequestPtr& request);

  Store& store_;
  ProducerStateManager& producers_;
  const MetadataLog& metadata_;
  Upstream& upstream_;
  MirrorOptions options_;
  TimerQueue timers_;
  TimerQueue::Id timer_ = 0;
  std::map<PartitionKey, Partition> partitions_;
  std::map<std::int32_t, Leader> leaders_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;
};

}  // namespace kgw
