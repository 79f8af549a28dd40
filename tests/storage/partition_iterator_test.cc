// PartitionIterator: bounded to one partition's keys, and seek_batch()
// lands on the batch holding an offset. An in-memory database with the
// log keys of two partitions of one topic and of a second topic.
#include "storage/partition_iterator.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/keys.h"

namespace kgw {
namespace {

Uuid id(std::uint8_t b) {
  Uuid u{};
  u.bytes[0] = b;
  return u;
}

struct Fixture {
  Fixture() {
    std::string error;
    db = Database::open("partition-iterator-test", error, /*in_memory=*/true);
    REQUIRE_MESSAGE(db != nullptr, error);
    // Batches based at 0, 10 and 20 in partition 1 of topic a; neighbours
    // on both sides (partitions 0 and 2, topic b) that must never be seen.
    put(a, 0, 5);
    for (std::int64_t base : {0, 10, 20}) put(a, 1, base);
    put(a, 2, 0);
    put(b, 1, 3);
  }
  void put(const Uuid& topic, std::int32_t partition, std::int64_t base) {
    REQUIRE(db->db()
                .Put(rocksdb::WriteOptions(), db->log(), keys::log_key(topic, partition, base),
                     std::to_string(base))
                .ok());
  }
  std::vector<std::int64_t> bases(PartitionIterator& it) {
    std::vector<std::int64_t> out;
    for (; it->Valid(); it->Next()) out.push_back(keys::log_key_offset(it->key().ToStringView()));
    REQUIRE(it->status().ok());
    return out;
  }

  Uuid a = id(1);
  Uuid b = id(2);
  std::unique_ptr<Database> db;
};

TEST_CASE_FIXTURE(Fixture, "a whole partition, and nothing of its neighbours") {
  PartitionIterator it(*db, db->log(), a, 1);
  it->SeekToFirst();
  CHECK(bases(it) == std::vector<std::int64_t>{0, 10, 20});
  PartitionIterator back(*db, db->log(), a, 1);
  back->SeekToLast();
  REQUIRE(back->Valid());
  CHECK(keys::log_key_offset(back->key().ToStringView()) == 20);
}

TEST_CASE_FIXTURE(Fixture, "log keys below an offset") {
  PartitionIterator it(*db, db->log(), a, 1, std::int64_t{20});
  it->SeekToFirst();
  CHECK(bases(it) == std::vector<std::int64_t>{0, 10});
}

TEST_CASE_FIXTURE(Fixture, "seek_batch lands on the batch holding the offset") {
  PartitionIterator in_batch(*db, db->log(), a, 1);
  in_batch.seek_batch(15);
  CHECK(bases(in_batch) == std::vector<std::int64_t>{10, 20});
  PartitionIterator at_base(*db, db->log(), a, 1);
  at_base.seek_batch(20);
  CHECK(bases(at_base) == std::vector<std::int64_t>{20});
  PartitionIterator past_end(*db, db->log(), a, 1);
  past_end.seek_batch(1000);
  CHECK(bases(past_end) == std::vector<std::int64_t>{20});
}

TEST_CASE_FIXTURE(Fixture, "seek_batch before the first batch takes the first one after") {
  // Partition 1 of topic b starts at 3: offset 1 is before it, and the
  // batch before in key order (topic a's) is outside the bounds.
  PartitionIterator it(*db, db->log(), b, 1);
  it.seek_batch(1);
  CHECK(bases(it) == std::vector<std::int64_t>{3});
  PartitionIterator below(*db, db->log(), b, 1, std::int64_t{3});
  below.seek_batch(1);
  CHECK_FALSE(below->Valid());
  CHECK(below->status().ok());
}

}  // namespace
}  // namespace kgw
