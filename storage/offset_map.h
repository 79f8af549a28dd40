// The log cleaner's map from record key to the offset of its latest
// record, in a fixed memory budget (Kafka's SkimpyOffsetMap).
//
// Keys are not stored: each entry is a 128-bit hash of the key and an
// offset (24 bytes), in an open-addressing table with linear probing. Two
// keys sharing a 128-bit hash would be taken for one (Kafka takes the same
// risk with MD5); with 2^128 values that does not happen in practice. The
// table starts small and doubles up to the budget; when it is at the budget
// and 3/4 full, put() refuses, and the cleaner cleans only up to the offset
// it had reached (the rest waits for the next pass), which is what bounds
// the cleaner's memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/wire/types.h"

namespace kgw {

class OffsetMap {
 public:
  // max_bytes: the budget for the table (log.cleaner.dedupe.buffer.size).
  explicit OffsetMap(std::size_t max_bytes);

  // Records `offset` as the latest for `key`. False (nothing changed) when
  // the key is new and the map is full.
  bool put(Bytes key, std::int64_t offset);
  // The latest offset recorded for `key`, or -1.
  std::int64_t get(Bytes key) const;
  void clear();

  std::size_t size() const { return size_; }
  // Memory the table uses now.
  std::size_t memory_bytes() const { return table_.size() * sizeof(Entry); }
  // Entries / the most the budget allows.
  double utilization() const;

 private:
  struct Entry {
    std::uint64_t h1 = 0;
    std::uint64_t h2 = 0;
    std::int64_t offset = -1;  // -1: empty slot
  };
  static void hash(Bytes key, std::uint64_t& h1, std::uint64_t& h2);
  std::size_t slot(std::uint64_t h1, std::uint64_t h2) const;
  bool grow();

  std::size_t max_entries_;  // table size the budget allows
  std::vector<Entry> table_;
  std::size_t size_ = 0;
};

}  // namespace kgw
