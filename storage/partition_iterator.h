// PartitionIterator: a RocksDB iterator over one partition's keys in the
// log or timeindex column family (keys.h), bounded so it never walks into
// the next partition's keys. The bounds are RocksDB's
// iterate_lower_bound / iterate_upper_bound, whose slices must outlive the
// iterator: the PartitionIterator owns them, so a caller cannot get that
// wrong.
//
// Threads: whichever thread reads the database (the threadpool, the writer
// thread, the maintenance thread, the loop at open); one thread at a time
// per iterator.
//
// The happy path: construct over the whole partition or over its log keys
// below an offset (e.g. the high watermark) -> seek (seek_batch() for the
// batch that holds an offset) -> Valid()/Next() through `->`. Failure
// modes are RocksDB's: !Valid() with a bad status(), which the caller
// reports.
#pragma once

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>

#include <cstdint>
#include <memory>
#include <string>

#include "protocol/wire/types.h"

namespace rocksdb {
class ColumnFamilyHandle;
}

namespace kgw {

class Database;

class PartitionIterator {
 public:
  // Over all of the partition's keys in `cf`. `ro` carries the caller's
  // other read options (fill_cache, readahead_size); its bounds are set
  // here.
  PartitionIterator(Database& d, rocksdb::ColumnFamilyHandle* cf, const Uuid& topic,
                    std::int32_t partition, rocksdb::ReadOptions ro = {});
  // Over the partition's log keys below `upper_offset` (those of batches
  // whose base offset is below it).
  PartitionIterator(Database& d, rocksdb::ColumnFamilyHandle* cf, const Uuid& topic,
                    std::int32_t partition, std::int64_t upper_offset,
                    rocksdb::ReadOptions ro = {});
  // The bounds point into this object: it cannot move.
  PartitionIterator(const PartitionIterator&) = delete;
  PartitionIterator& operator=(const PartitionIterator&) = delete;

  rocksdb::Iterator* operator->() const { return it_.get(); }
  rocksdb::Iterator& operator*() const { return *it_; }

  // Positions the log iterator on the batch containing `offset`, or on the
  // first batch after it when `offset` falls before the first batch or in
  // a gap; !Valid() if there is none.
  void seek_batch(std::int64_t offset);

 private:
  PartitionIterator(Database& d, rocksdb::ColumnFamilyHandle* cf, const Uuid& topic,
                    std::int32_t partition, std::string upper, rocksdb::ReadOptions ro);

  Uuid topic_;
  std::int32_t partition_;
  std::string lower_;
  std::string upper_;
  rocksdb::Slice lower_slice_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace kgw
