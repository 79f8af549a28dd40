// Key layout of the store's column families. All integers are big-endian so
// that RocksDB's bytewise order is numeric order:
//
//   log        topic id (16) | partition (u32) | base offset (i64)  -> batch
//   timeindex  topic id (16) | partition (u32) | max timestamp (i64, sign
//              bit flipped so negative timestamps sort first)        -> base offset (i64)
//   meta       'V'                                  -> {"format": N}
//              'T' | topic id                       -> topic JSON
//              'P' | topic id | partition (u32)     -> partition JSON (log start
//                                                      offset, cleaner checkpoint)
//              'S' | topic id | partition (u32) | base offset (i64)
//                                                   -> segment JSON (end offset,
//                                                      bytes, max timestamp, ...)
//              'E' | topic id | partition (u32) | leader epoch (u32)
//                                                   -> start offset (i64): the
//                                                      partition's leader-epoch
//                                                      cache (Kafka's
//                                                      leader-epoch-checkpoint)
//              'X' | name                           -> cluster-wide JSON records
//                                                      (dynamic broker configs,
//                                                      client quotas)
//
// Segments are kgw's version of Kafka's log segments: consecutive ranges of
// a partition's batches, the unit that retention deletes and the log
// cleaner compacts (see segment_list.h). They are only accounting: the
// batches stay in `log` under their offsets whatever segment they are in.
//
// Partitions are int32 >= 0, so partition + 1 always fits the u32 field and
// the 20-byte key "id | partition + 1" bounds a partition's keys from above
// (a shorter key sorts before every longer key it prefixes), and
// "id | 0x80000000" bounds a whole topic. No key needs a successor
// computation or a special case for an all-0xff id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/wire/types.h"

namespace kgw::keys {

inline constexpr std::size_t kIdSize = 16;
inline constexpr std::size_t kPartitionPrefixSize = kIdSize + 4;
inline constexpr std::size_t kEntryKeySize = kPartitionPrefixSize + 8;

void put_u32(std::string& out, std::uint32_t v);
void put_i64(std::string& out, std::int64_t v);
std::uint32_t get_u32(const void* p);
std::int64_t get_i64(const void* p);
std::string encode_i64(std::int64_t v);

// log and timeindex keys.
std::string partition_begin(const Uuid& topic, std::int32_t partition);
std::string partition_end(const Uuid& topic, std::int32_t partition);
std::string topic_begin(const Uuid& topic);
std::string topic_end(const Uuid& topic);
std::string log_key(const Uuid& topic, std::int32_t partition, std::int64_t offset);
std::string time_key(const Uuid& topic, std::int32_t partition, std::int64_t timestamp);
// True if `key` is a full log/timeindex key of that partition.
bool in_partition(std::string_view key, const Uuid& topic, std::int32_t partition);
// The last 8 bytes of a log / timeindex key (call after in_partition()).
std::int64_t log_key_offset(std::string_view key);
std::int64_t time_key_timestamp(std::string_view key);

// producers family (storage/producer_store.h owns the values):
//   'P' | topic id | partition (u32) | producer id (i64)    -> a partition's producer state
//   'A' | topic id | partition (u32) | last offset (i64) | producer id (i64)
//                                                           -> an aborted transaction
//   'T' | transactional id                                   -> transaction coordinator state
//   'N'                                                      -> next unallocated producer id
inline constexpr char kProducerState = 'P';
inline constexpr char kAbortedTxn = 'A';
inline constexpr char kTransaction = 'T';
inline constexpr char kNextProducerId = 'N';
std::string producer_state_key(const Uuid& topic, std::int32_t partition, std::int64_t producer_id);
std::string aborted_txn_key(const Uuid& topic, std::int32_t partition, std::int64_t last_offset,
                            std::int64_t producer_id);
// Bounds of a whole topic's records of one kind ('P' or 'A').
std::string producers_topic_begin(char kind, const Uuid& topic);
std::string producers_topic_end(char kind, const Uuid& topic);

// meta keys.
inline constexpr char kMetaFormat = 'V';
inline constexpr char kMetaTopic = 'T';
inline constexpr char kMetaPartition = 'P';
inline constexpr char kMetaSegment = 'S';
inline constexpr char kMetaEpoch = 'E';
inline constexpr char kMetaCluster = 'X';
std::string meta_format_key();
std::string meta_topic_key(const Uuid& topic);
std::string meta_partition_key(const Uuid& topic, std::int32_t partition);
std::string meta_partitions_begin(const Uuid& topic);
std::string meta_partitions_end(const Uuid& topic);
std::string meta_segment_key(const Uuid& topic, std::int32_t partition, std::int64_t base);
// Bounds of one partition's segment records, and of a whole topic's.
std::string meta_segments_begin(const Uuid& topic, std::int32_t partition);
std::string meta_segments_end(const Uuid& topic, std::int32_t partition);
std::string meta_topic_segments_begin(const Uuid& topic);
std::string meta_topic_segments_end(const Uuid& topic);
// Leader-epoch entries: one partition's epoch -> start offset, and the
// bounds of a whole topic's.
std::string meta_epoch_key(const Uuid& topic, std::int32_t partition, std::int32_t epoch);
std::string meta_epochs_begin(const Uuid& topic, std::int32_t partition);
std::string meta_epochs_end(const Uuid& topic, std::int32_t partition);
std::string meta_topic_epochs_begin(const Uuid& topic);
std::string meta_topic_epochs_end(const Uuid& topic);
std::string meta_cluster_key(std::string_view name);

// For error messages and the meta JSON: 32 lowercase hex digits.
std::string uuid_hex(const Uuid& id);
bool parse_uuid_hex(std::string_view hex, Uuid& out);

}  // namespace kgw::keys
