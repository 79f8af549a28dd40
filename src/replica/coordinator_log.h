// CoordinatorLog: a cluster's coordinator state kept in the replicated
// partitions of an internal topic, so a coordinator moves with its
// partition's leader and keeps its state (DESIGN: "the coordinators' state
// lives in replicated internal partitions"). Two instances run in a
// cluster: the group coordinator's in `__consumer_offsets`
// (GroupCoordinatorState: committed offsets, group generations and
// members) and the transaction coordinator's in `__transaction_state`
// (TxnCoordinatorState: producer id and epoch, state, partitions, groups,
// timeout and last update of each transactional id), both in
// src/replica/coordinator_states.h.
//
// Record format (kgw's, not Kafka's schemas): every change a coordinator
// would write to this node's column family (`offsets` for groups,
// `producers` for transactional ids) is appended instead, as one record,
// to the partition its key (group id, transactional id) hashes to
// (coordinator_placement.h): the record key is the column family's key
// ('G' group, 'O' committed offset, 'Q' offset of an open transaction:
// storage/offsets_store.h; 'T' transactional id: storage/producer_store.h),
// the value its value, a deletion a tombstone (null value). One write is
// one record batch per partition it touches. The topics are compacted:
// the latest record of each key is the state.
//
// The happy path: a coordinator writes a batch -> it is appended to the
// key's partition, led here, with acks=all (ReplicaManager::append) ->
// once the high watermark passed it (every ISR member has it) the caller
// hears "" and changes its memory -> the client is answered. When this
// broker becomes the leader of a partition it drops what it held for the
// partition's keys, reads the partition's log to its end and loads the
// latest record of each key, answering the keys' requests
// COORDINATOR_LOAD_IN_PROGRESS meanwhile (the transaction coordinator then
// resumes the transactions left in PrepareCommit/PrepareAbort: markers,
// then Complete*, and re-arms the timeouts of ongoing ones); when it
// stops leading it drops them (the handlers answer NOT_COORDINATOR from
// the image).
// Possible failure modes: the append is refused or times out (no leader
// here any more, NOT_ENOUGH_REPLICAS, a failed write): the caller hears an
// error, answers COORDINATOR_NOT_AVAILABLE and leaves its memory as it
// was; a read of the log fails while loading: the load starts again a
// second later; a record that cannot be decoded is skipped with a WARN
// line (the rest of the partition's state still loads).
//
// Without the topic (one node; a cluster before the first FindCoordinator
// created it) batches go to the local column family as before, so one node
// behaves exactly as it always has.
//
// A single node turned into a cluster's first node keeps that state in its
// column family; the cluster imports it so no committed offset or
// transactional id is lost: at start the log reads what the column family
// holds for this coordinator, and while the topic does not exist it asks
// for it (options.create_topic) with this node leading every partition.
// When a partition led here has loaded, the column family's keys of that
// partition that the log lacks (a key in the log, tombstone included, is
// newer) are appended to it (acks=all, in batches) before the partition
// serves; then every column family key of the partition is deleted, so a
// restart imports nothing twice. A failed append loads the partition again
// a second later (what was appended is in the log then). Keys of
// partitions led elsewhere wait in the column family until this node leads
// them.
//
// Threads: the loop thread only (store reads complete on it).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace kgw {

class MetadataImage;
class MetadataLog;
class PartitionResolver;
class ReplicaManager;

// What one coordinator keeps in its internal topic.
class CoordinatorState {
 public:
  using Which = std::function<bool(const std::string& key)>;
  virtual ~CoordinatorState() = default;
  // The coordinator key (group id, transactional id) of a record key;
  // nullopt: not a key this coordinator writes.
  virtual std::optional<std::string> key_of(std::string_view record_key) const = 0;
  // Drops what memory holds for the keys `which` selects; how many went.
  virtual std::size_t drop(const Which& which) = 0;
  // A partition read to its end: the latest value of each record key, in
  // key order. `name` is the partition's, for log lines.
  virtual void load(const std::string& name,
                    const std::map<std::string, std::optional<std::string>>& state) = 0;
  // Without the topic: the local column family, as on one node.
  virtual void write_local(std::vector<RecordWrite> writes, Store::Done done) = 0;
  // Start-up only (blocks on disk): every record of the local column
  // family this coordinator writes. Returns "" or the first error.
  virtual std::string scan_local(
      const std::function<void(std::string_view key, std::string_view value)>& fn) = 0;
};

struct CoordinatorLogOptions {
  std::int32_t node_id = -1;
  // The internal topic (coordinator_placement.h).
  std::string topic;
  // Who appends, for log lines (a literal: appends may outlive the log).
  const char* peer = "coordinator";
  // Kafka's offsets.commit.timeout.ms (transaction.state.log's: the
  // request timeout): how long an append waits for the ISR before the
  // write fails. Default: 5000.
  std::int32_t commit_timeout_ms = 5000;
  // Asks for the topic with this node leading every partition
  // (coordinator_topics.h); called, every few seconds until the topic
  // exists, while the column family holds state to import. Unset: never.
  std::function<void()> create_topic;
};

class CoordinatorLog {
 public:
  CoordinatorLog(MetadataLog& metadata, const PartitionResolver& resolver, ReplicaManager& replicas,
                 Store& store, CoordinatorState& state, CoordinatorLogOptions options);
  ~CoordinatorLog();
  CoordinatorLog(const CoordinatorLog&) = delete;
  CoordinatorLog& operator=(const CoordinatorLog&) = delete;

  // Applies the current image (loads the partitions led here, drops every
  // other key from memory) and follows the image's changes. Call after
  // follow_leadership(), before serving.
  void start();
  // No load completes and no change is followed from now on.
  void stop();

  // While its partition is being loaded here (the groups' guard).
  bool loading(std::string_view key) const;
  // The key's state is here: no topic, or its partition led and loaded.
  bool serving(std::string_view key) const;
  // Appends `writes` to their keys' partitions (acks=all), or writes them
  // locally without the topic; `done` hears "" or the first error, always
  // from a later loop turn.
  void replicate(std::vector<RecordWrite> writes, Store::Done done);

 private:
  struct PartitionLoad {
    bool leading = false;
    bool loaded = false;
    std::uint64_t load_id = 0;  // tells a stale read's completion apart
    std::int64_t next_offset = 0;
    // The latest value of each key read so far (nullopt: deleted).
    std::map<std::string, std::optional<std::string>> state;
  };

  // Drops the keys of `partition` from memory; how many went.
  std::size_t drop_partition(std::int32_t partition);
  // Starts or stops leading each partition as the image and the replica
  // manager say.
  void follow(const MetadataImage& image, bool initial);
  void begin_load(std::int32_t partition);
  void read_next(std::int32_t partition, std::uint64_t load_id);
  void on_read(std::int32_t partition, std::uint64_t load_id, ReadResult result);
  // The log read: imports the column family's keys of the partition, then
  // complete_load().
  void finish_load(std::int32_t partition, PartitionLoad& p);
  struct Import;
  void import_next(std::int32_t partition, std::shared_ptr<Import> import);
  void complete_load(std::int32_t partition, PartitionLoad& p);
  void unload(std::int32_t partition);
  // Asks for the topic while there is state to import and no topic.
  void ask_for_topic();
  // Appends `writes` to `index`, which this node leads, as one batch.
  void append_batch(std::int32_t index, const std::vector<RecordWrite>& writes,
                    std::function<void(const std::string& error)> done);

  MetadataLog& metadata_;
  const PartitionResolver& resolver_;
  ReplicaManager& replicas_;
  Store& store_;
  CoordinatorState& state_;
  CoordinatorLogOptions options_;
  std::map<std::int32_t, PartitionLoad> partitions_;
  std::int32_t partition_count_ = 0;
  std::uint64_t next_load_id_ = 1;
  // The column family's state not imported yet: record key -> value.
  std::map<std::string, std::string> local_;
  bool asking_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kgw
