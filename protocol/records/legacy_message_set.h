// Legacy message sets (magic 0 and 1), the record format of Produce v0-v2
// (Kafka before 0.11; librdkafka with api.version.request=false and
// broker.version.fallback below 0.10.2 still sends them).
//
// kgw stores only record batch v2, so, as Kafka does when such a request
// reaches a v2 log, a legacy message set is up-converted on produce into
// one v2 batch: each message becomes a record with its key and value, no
// headers; magic 1 messages keep their timestamp, magic 0 ones have none
// (-1). A compressed wrapper message (attributes bits 0..2: gzip, snappy,
// lz4) holds an inner message set; its records go into the batch, which is
// compressed with the same codec.
//
// Wire layout of one entry: offset i64 | message_size i32 | crc u32 (CRC-32,
// IEEE, over magic..end) | magic i8 | attributes i8 | [timestamp i64, magic
// 1 only] | key bytes (i32 length, -1 null) | value bytes (same).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/records/record_error.h"
#include "protocol/wire/types.h"

namespace kgw {

// The bytes the compressed wrappers of one Produce request may inflate to,
// all together: every inner message set is kept until its batch is built,
// so a cap per wrapper alone would let a request of many small gzip
// wrappers (a few KiB each, inflating to 60 MB of zeros each) demand
// ~1000x its own size. Shared by the request's partitions, which convert
// on several threadpool threads at once. Each inner record also costs its
// bookkeeping (about 40 bytes).
class DecompressionBudget {
 public:
  explicit DecompressionBudget(std::size_t bytes) : left_(bytes) {}
  std::size_t left() const { return left_.load(std::memory_order_relaxed); }
  // Takes `n` bytes; false (taking nothing) if fewer are left.
  bool take(std::size_t n);

 private:
  std::atomic<std::size_t> left_;
};

// Appends one record batch v2 holding every message of `message_set` to
// `out`. Each wrapper may inflate to what `budget` has left, and takes what
// it used; two message sets converting at once may each inflate to what
// was left before the other took its share, then one of them fails.
// Errors: kTruncated (an entry cut short, or no message at all), kBadCrc,
// kBadMagic (not 0 or 1, or an inner magic different from the wrapper's),
// kBadRecord (a bad length, or a compressed message inside a compressed
// one), kUnsupportedCodec, kDecompressFailed / kDecompressTooLarge (the
// wrapper's value, or the budget is spent), kCompressFailed. On error
// `out` is unchanged.
RecordError convert_legacy_message_set(Bytes message_set, DecompressionBudget& budget,
                                       std::vector<std::uint8_t>& out);

}  // namespace kgw
