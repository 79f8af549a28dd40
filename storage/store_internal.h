// Helpers shared by the files of Store (store.cc: opening, loading and
// stopping; store_catalogue.cc: topics; store_append.cc: appends and
// writes; store_read.cc: reads; store_maintenance.cc: retention and
// compaction); not part of the store's interface.
#pragma once

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "protocol/records/record_batch.h"
#include "protocol/wire/types.h"
#include "storage/meta_codec.h"
#include "storage/store.h"

namespace rocksdb {
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace kgw {

class Database;

namespace store_detail {

inline constexpr const char* kStopped = "storage is stopped";

Bytes bytes_of(const rocksdb::Slice& s);
// Wall clock, ms since the epoch.
// The header fields the store relies on. `batch` must be exactly one v2
// batch: the broker validated it (on append) or we stored it (on read), so
// a failure here means a caller bug or damage, never a client's mistake.
bool parse_batch(Bytes batch, RecordBatchHeader& h, std::string& why);
std::string where(const Uuid& topic, std::int32_t partition, std::int64_t offset);
// Writer thread: persists the partition record and deletes what lies
// wholly below its log start (batches, time index entries) and the
// segment records below `first_segment`.
// Writer thread: adds the puts and deletes of `writes` to the batch.
rocksdb::Status put_records(rocksdb::ColumnFamilyHandle* cf, const std::vector<RecordWrite>& writes,
                            rocksdb::WriteBatch& b);
rocksdb::Status delete_below(Database& d, const Uuid& topic, std::int32_t partition,
                             const PartitionRecord& record, std::int64_t first_segment,
                             rocksdb::WriteBatch& b);

}  // namespace store_detail
}  // namespace kgw
