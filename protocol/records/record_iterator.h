// Decoding the records of a v2 batch, one at a time.
//
// Record layout (inside the possibly-decompressed records section):
//   length varint (bytes that follow), attributes int8 (unused),
//   timestamp_delta varlong, offset_delta varint,
//   key_length varint (-1 = null), key, value_length varint (-1 = null), value,
//   header_count varint, headers: [key_length varint, key, value_length
//   varint (-1 = null), value].
//
// Every varint length is checked against the bytes left in its record
// before it is used, and the header count against the bytes left before
// the header vector is reserved, so a hostile batch costs no more memory
// than its own size. A record's fields must use exactly `length` bytes (as
// Kafka's DefaultRecord checks).
//
// The happy path is: next() decodes record after record until `count` are
// done and the section is used up exactly. Possible failure modes are: a
// length or count the bytes cannot hold (kTruncated when the section ends
// early, kBadRecord inside a record), a malformed varint, a null header
// key, or bytes left after the last record (kBadRecord). After a failure
// next() keeps returning false and error() keeps the first error.
//
// Decode only: offsets, timestamps and keys are not checked against the
// batch header here; handlers that need those rules (compacted topics need
// keys, produce checks offset deltas) apply them to the decoded Record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/records/record_error.h"
#include "protocol/wire/types.h"

namespace kgw {

struct RecordHeader {
  // Kafka calls header keys strings (UTF-8) but never checks them; neither
  // do we, so a proxy passes through whatever the client sent.
  std::string_view key;
  std::optional<Bytes> value;  // nullopt = null

  friend bool operator==(const RecordHeader&, const RecordHeader&) = default;
};

// Views into the records section; valid while that buffer lives.
struct Record {
  std::int32_t length = 0;  // bytes after the length varint
  std::int8_t attributes = 0;
  std::int64_t timestamp_delta = 0;  // from the batch's base_timestamp
  std::int32_t offset_delta = 0;     // from the batch's base_offset
  std::optional<Bytes> key;          // nullopt = null
  std::optional<Bytes> value;        // nullopt = null (a tombstone)
  std::vector<RecordHeader> headers;
};

// Usage, RocksDB style: loop on next(), then check error():
//   RecordIterator it(records, h.record_count);
//   Record r;
//   while (it.next(r)) { ... }
//   if (it.error() != RecordError::kNone) { ... }
class RecordIterator {
 public:
  // `records` is the uncompressed records section and `count` the batch's
  // record_count (negative counts fail on the first next()).
  RecordIterator(Bytes records, std::int32_t count) : records_(records), left_(count) {}

  // Decodes the next record into `out` (reusing its header vector). False
  // at the end or on error. After the last record, bytes left over are an
  // error (kBadRecord), as are fewer records than `count` (kTruncated).
  bool next(Record& out);

  RecordError error() const { return error_; }
  // Records not yet decoded.
  std::int32_t remaining() const { return left_; }

 private:
  bool fail(RecordError e) {
    error_ = e;
    left_ = 0;
    return false;
  }

  Bytes records_;
  std::size_t pos_ = 0;
  std::int32_t left_;
  RecordError error_ = RecordError::kNone;
};

}  // namespace kgw
