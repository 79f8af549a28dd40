// Unit tests of RecordBatchOptions::from_header(), the one conversion from
// a batch header to the options that rebuild it (recompression on produce,
// the log cleaner's rewrites): every header field is carried over, the
// rewrite-specific ones are left unset, and the same records through the
// options give back the same bytes.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"

namespace kgw {
namespace {

// Three records at offset deltas 0, 1 and 5 (a compacted gap).
std::vector<std::uint8_t> build(const RecordBatchOptions& o) {
  RecordBatchBuilder b(o);
  const std::string key = "k", value = "v";
  REQUIRE(b.add_with_offset_delta(0, 1'700'000'000'000, Bytes(key), Bytes(value)) ==
          RecordError::kNone);
  REQUIRE(b.add_with_offset_delta(1, 1'700'000'000'005, Bytes(key), std::nullopt) ==
          RecordError::kNone);
  REQUIRE(b.add_with_offset_delta(5, 1'700'000'000'002, std::nullopt, Bytes(value)) ==
          RecordError::kNone);
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

TEST_CASE("options from a header carry every header field and rebuild the same batch") {
  RecordBatchOptions o;
  o.base_offset = 1234;
  o.partition_leader_epoch = 7;
  o.transactional = true;
  o.producer_id = 99;
  o.producer_epoch = 3;
  o.base_sequence = 40;
  o.last_offset_delta = 8;
  const std::vector<std::uint8_t> batch = build(o);
  RecordBatchHeader h;
  REQUIRE(validate_record_batch(Bytes(batch), h) == RecordError::kNone);

  const RecordBatchOptions from = RecordBatchOptions::from_header(h);
  CHECK(from.base_offset == 1234);
  CHECK(from.partition_leader_epoch == 7);
  CHECK(from.codec == CompressionCodec::kNone);
  CHECK(from.timestamp_type == TimestampType::kCreateTime);
  CHECK(from.transactional);
  CHECK_FALSE(from.control);
  CHECK(from.producer_id == 99);
  CHECK(from.producer_epoch == 3);
  CHECK(from.base_sequence == 40);
  CHECK(from.last_offset_delta == 8);
  // Each rewrite decides these.
  CHECK_FALSE(from.delete_horizon_ms.has_value());
  CHECK_FALSE(from.max_timestamp.has_value());
  CHECK(build(from) == batch);
}

TEST_CASE("options from a control batch's header keep it a control batch, codec included") {
  RecordBatchOptions o;
  o.control = true;
  o.transactional = true;
  o.codec = CompressionCodec::kGzip;
  o.producer_id = 5;
  const std::vector<std::uint8_t> batch = build(o);
  RecordBatchHeader h;
  REQUIRE(validate_record_batch(Bytes(batch), h) == RecordError::kNone);
  const RecordBatchOptions from = RecordBatchOptions::from_header(h);
  CHECK(from.control);
  CHECK(from.transactional);
  CHECK(from.codec == CompressionCodec::kGzip);
  CHECK(from.producer_id == 5);
  CHECK(from.last_offset_delta == 5);
}

}  // namespace
}  // namespace kgw
