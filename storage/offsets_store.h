// The offsets store: consumer groups' committed offsets and group metadata,
// what Kafka keeps in its __consumer_offsets topic, here as records in the
// `offsets` column family (written through the Store's writer, so they are
// group-committed and ordered with appends).
//
// Key layout (big-endian lengths make the keys prefix-free, so a group's
// offsets sort together and apart from every other group's):
//   'G' | group id                                              -> GroupRecord
//   'O' | u16 len | group id | u16 len | topic | u32 partition  -> CommittedOffset
//   'Q' | u16 len | group id | i64 producer id | u16 len | topic | u32 partition
//                                                  -> CommittedOffset of an open transaction
// Values start with a format byte (0 today); a value this version cannot
// read is damage, reported with the key, never skipped silently.
//
// The happy path is: the coordinator loads everything at start-up (load()),
// keeps it in memory, and writes each change (a commit, a new generation,
// a deleted group) as one atomic batch whose completion tells it the change
// is durable. Possible failure modes: a write fails (the store's failure is
// sticky, see group_writer.h; the coordinator answers with an error and
// does not change its memory), or load() finds a record it cannot decode
// (start-up stops with one line naming the data dir and the record).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace kgw {

struct CommittedOffset {
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  // Wall-clock ms of the commit; offsets expire relative to it (or to the
  // time the group became empty).
  std::int64_t commit_timestamp = -1;
  // Only from OffsetCommit v2-v4 with an explicit retention time: the
  // wall-clock ms after which this offset expires. -1: none.
  std::int64_t expire_timestamp = -1;

  friend bool operator==(const CommittedOffset&, const CommittedOffset&) = default;
};

struct GroupMemberRecord {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t rebalance_timeout_ms = 0;
  std::int32_t session_timeout_ms = 0;
  // The member's metadata for the group's chosen protocol, and its assignment.
  std::string subscription;
  std::string assignment;

  friend bool operator==(const GroupMemberRecord&, const GroupMemberRecord&) = default;
};

// A classic group as of its last completed generation (or its becoming empty).
struct GroupRecord {
  std::string group_id;
  std::string protocol_type;  // "" for groups that only store offsets
  std::int32_t generation_id = 0;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::int64_t state_timestamp = -1;  // wall-clock ms of the last state change
  std::vector<GroupMemberRecord> members;

  friend bool operator==(const GroupRecord&, const GroupRecord&) = default;
};

class OffsetsStore {
 public:
  // Changes applied together, atomically, in the order added.
  class Batch {
   public:
    void put_group(const GroupRecord& group);
    void delete_group(const std::string& group_id);
    void put_offset(const std::string& group_id, const std::string& topic, std::int32_t partition,
                    const CommittedOffset& offset);
    void delete_offset(const std::string& group_id, const std::string& topic,
                       std::int32_t partition);
    // Offsets committed in a transaction, visible once it commits.
    void put_txn_offset(const std::string& group_id, std::int64_t producer_id,
                        const std::string& topic, std::int32_t partition,
                        const CommittedOffset& offset);
    void delete_txn_offset(const std::string& group_id, std::int64_t producer_id,
                           const std::string& topic, std::int32_t partition);
    bool empty() const { return writes_.empty(); }

   private:
    friend class OffsetsStore;
    std::vector<RecordWrite> writes_;
  };

  using OnGroup = std::function<void(GroupRecord)>;
  using OnOffset = std::function<void(const std::string& group_id, const std::string& topic,
                                      std::int32_t partition, CommittedOffset)>;

  using OnTxnOffset =
      std::function<void(const std::string& group_id, std::int64_t producer_id,
                         const std::string& topic, std::int32_t partition, CommittedOffset)>;

  explicit OffsetsStore(Store& store) : store_(store) {}

  // Start-up only (blocks on disk): every stored group and offset. Returns
  // "" or one line naming the data dir and the damaged record.
  std::string load(const OnGroup& on_group, const OnOffset& on_offset,
                   const OnTxnOffset& on_txn_offset = nullptr);
  // `done` runs on the loop thread once the batch is written ("" or why not).
  void write(Batch batch, Store::Done done);

  // A cluster's coordinators keep their state in a replicated internal
  // partition (src/replica/coordinator_log.h): while set, write() hands
  // every batch's changes to `replicator` instead of this node's
  // `offsets` column family; `done` as for write(). Unset: one node.
  using Replicator = std::function<void(std::vector<RecordWrite> writes, Store::Done done)>;
  void set_replicator(Replicator replicator) { replicator_ = std::move(replicator); }

 private:
  Store& store_;
  Replicator replicator_;
};

// One record of the `offsets` family (or of its replicated changelog, the
// same key and value) handed to the callback of its kind (a null callback
// skips it). "" or one line naming the damage; keys of unknown kinds are
// skipped.
std::string visit_offsets_record(std::string_view key, std::string_view value,
                                 const OffsetsStore::OnGroup& on_group,
                                 const OffsetsStore::OnOffset& on_offset,
                                 const OffsetsStore::OnTxnOffset& on_txn_offset);
// The group id a record's key belongs to; nullopt for a malformed key or
// an unknown kind.
std::optional<std::string> offsets_record_group(std::string_view key);

// Exposed for tests: the value codecs.
std::string encode_committed_offset(const CommittedOffset& o);
bool decode_committed_offset(std::string_view value, CommittedOffset& out);
std::string encode_group_record(const GroupRecord& g);
bool decode_group_record(std::string_view value, GroupRecord& out);

}  // namespace kgw
