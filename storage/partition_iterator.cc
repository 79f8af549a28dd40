#include "storage/partition_iterator.h"

#include <rocksdb/db.h>

#include <utility>

#include "storage/database.h"
#include "storage/keys.h"

namespace kgw {

PartitionIterator::PartitionIterator(Database& d, rocksdb::ColumnFamilyHandle* cf,
                                     const Uuid& topic, std::int32_t partition,
                                     rocksdb::ReadOptions ro)
    : PartitionIterator(d, cf, topic, partition, keys::partition_end(topic, partition), ro) {}

PartitionIterator::PartitionIterator(Database& d, rocksdb::ColumnFamilyHandle* cf,
                                     const Uuid& topic, std::int32_t partition,
                                     std::int64_t upper_offset, rocksdb::ReadOptions ro)
    : PartitionIterator(d, cf, topic, partition, keys::log_key(topic, partition, upper_offset),
                        ro) {}

PartitionIterator::PartitionIterator(Database& d, rocksdb::ColumnFamilyHandle* cf,
                                     const Uuid& topic, std::int32_t partition, std::string upper,
                                     rocksdb::ReadOptions ro)
    : topic_(topic),
      partition_(partition),
      lower_(keys::partition_begin(topic, partition)),
      upper_(std::move(upper)),
      lower_slice_(lower_),
      upper_slice_(upper_) {
  ro.iterate_lower_bound = &lower_slice_;
  ro.iterate_upper_bound = &upper_slice_;
  it_.reset(d.db().NewIterator(ro, cf));
}

void PartitionIterator::seek_batch(std::int64_t offset) {
  // The batch holding `offset` is the last one based at or before it.
  const std::string target = keys::log_key(topic_, partition_, offset);
  it_->SeekForPrev(target);
  if (!it_->Valid() && it_->status().ok()) it_->Seek(target);
}

}  // namespace kgw
