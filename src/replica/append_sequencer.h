// Keeps a partition's appends in the order their produce requests arrived
// although each first goes to the threadpool (its records are checked
// there, record_validator.h), as Kafka appends one connection's requests
// in order: a request takes a ticket when it arrives and appends when
// every earlier ticket of the partition has.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "protocol/wire/types.h"

namespace kgw {

class AppendSequencer {
 public:
  using Key = std::pair<Uuid, std::int32_t>;

  // A place in the partition's line.
  std::uint64_t enter(const Key& key);
  // The ticket's work is done: `append` runs now if every earlier ticket
  // has run, else as soon as they have.
  void ready(const Key& key, std::uint64_t ticket, std::function<void()> append);

 private:
  struct Line {
    std::uint64_t next_ticket = 0;
    std::uint64_t next_to_run = 0;
    std::map<std::uint64_t, std::function<void()>> waiting;
  };
  std::map<Key, Line> partitions_;
};

}  // namespace kgw
