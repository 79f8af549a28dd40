// CoordinatorLog: a cluster's group coordinator state kept in the
// replicated internal partitions of `__consumer_offsets`, so a coordinator
// moves with its partition's leader and keeps committed offsets, group
// generations and members (DESIGN: "the coordinators' state lives in
// replicated internal partitions").
//
// Record format (kgw's, not Kafka's __consumer_offsets schemas): every
// change the OffsetsStore would write to this node's `offsets` column
// family is appended instead, as one record, to the partition its group
// hashes to (coordinator_placement.h): the record key is the column
// family's key ('G' group, 'O' committed offset, 'Q' offset of an open
// transaction; storage/offsets_store.h), the value its value, a deletion a
// tombstone (null value). One OffsetsStore batch is one record batch per
// partition it touches. The topic is compacted: the latest record of each
// key is the state.
//
// The happy path: the group coordinator or offset manager writes a batch
// -> it is appended to the group's partition, led here, with acks=all
// (ReplicaManager::append) -> once the high watermark passed it (every ISR
// member has it) the caller hears "" and changes its memory -> the client
// is answered. When this broker becomes the leader of a partition it drops
// what it held for the partition's groups, reads the partition's log to
// its end and loads the latest record of each key (the group coordinator's
// groups, then the offset manager's offsets), answering the groups'
// requests COORDINATOR_LOAD_IN_PROGRESS meanwhile; when it stops leading
// it drops them (the handlers answer NOT_COORDINATOR from the image).
// Possible failure modes: the append is refused or times out (no leader
// here any more, NOT_ENOUGH_REPLICAS, a failed write): the caller hears an
// error, answers COORDINATOR_NOT_AVAILABLE (OffsetManager's mapping) and
// leaves its memory as it was; a read of the log fails while loading: the
// load starts again a second later; a record that cannot be decoded is
// skipped with a WARN line (the rest of the group's state still loads).
//
// Without the topic (one node; a cluster before the first FindCoordinator
// created it) batches go to the local column family as before, so one node
// behaves exactly as it always has.
//
// Threads: the loop thread only (store reads complete on it).
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/offsets_store.h"
#include "storage/store.h"

namespace kgw {

class GroupCoordinator;
class MetadataImage;
class MetadataLog;
class OffsetManager;
class PartitionResolver;
class ReplicaManager;

struct CoordinatorLogOptions {
  std::int32_t node_id = -1;
  // Kafka's offsets.commit.timeout.ms: how long an append waits for the
  // ISR before the commit fails. Default: 5000.
  std::int32_t commit_timeout_ms = 5000;
};

class CoordinatorLog {
 public:
  CoordinatorLog(MetadataLog& metadata, const PartitionResolver& resolver, ReplicaManager& replicas,
                 Store& store, OffsetsStore& offsets_store, GroupCoordinator& groups,
                 OffsetManager& offsets, CoordinatorLogOptions options);
  ~CoordinatorLog();
  CoordinatorLog(const CoordinatorLog&) = delete;
  CoordinatorLog& operator=(const CoordinatorLog&) = delete;

  // Takes over the OffsetsStore's writes and the groups' loading check,
  // applies the current image (loads the partitions led here, drops every
  // other group from memory) and follows the image's changes. Call after
  // follow_leadership(), before serving.
  void start();
  // No load completes and no change is followed from now on.
  void stop();

  // While its partition is being loaded here (tests, the groups' guard).
  bool loading(std::string_view group_id) const;

 private:
  struct PartitionLoad {
    bool leading = false;
    bool loaded = false;
    std::uint64_t load_id = 0;  // tells a stale read's completion apart
    std::int64_t next_offset = 0;
    // The latest value of each key read so far (nullopt: deleted).
    std::map<std::string, std::optional<std::string>> state;
  };

  // The group's partition of the internal topic; -1 when it does not exist.
  std::int32_t partition_of(const MetadataImage& image, std::string_view group_id) const;
  // Starts or stops leading each partition as the image and the replica
  // manager say.
  void follow(const MetadataImage& image, bool initial);
  void begin_load(std::int32_t partition);
  void read_next(std::int32_t partition, std::uint64_t load_id);
  void on_read(std::int32_t partition, std::uint64_t load_id, ReadResult result);
  void finish_load(std::int32_t partition, PartitionLoad& p);
  void unload(std::int32_t partition);
  void replicate(std::vector<RecordWrite> writes, Store::Done done);

  MetadataLog& metadata_;
  const PartitionResolver& resolver_;
  ReplicaManager& replicas_;
  Store& store_;
  OffsetsStore& offsets_store_;
  GroupCoordinator& groups_;
  OffsetManager& offsets_;
  CoordinatorLogOptions options_;
  std::map<std::int32_t, PartitionLoad> partitions_;
  std::int32_t partition_count_ = 0;
  std::uint64_t next_load_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kgw
