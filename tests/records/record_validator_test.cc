#include "protocol/records/record_validator.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/wire/writer.h"
#include "tests/records/test_util.h"

using namespace kgw;
using namespace kgw::test;

namespace {

using H = RecordBatchHeader;
constexpr std::int64_t kBase = 1'700'000'000'000;
constexpr CompressionCodec kAllCodecs[] = {CompressionCodec::kNone, CompressionCodec::kGzip,
                                           CompressionCodec::kSnappy, CompressionCodec::kLz4,
                                           CompressionCodec::kZstd};
const std::string kWhere = "t-0";

// One record body as a producer writes it, fields chosen by the test.
struct Fields {
  std::int64_t ts_delta = 0;
  std::int32_t offset_delta = 0;
  std::int32_t key_len = 1;  // -1: null
  std::int32_t value_len = 1;
  std::int32_t header_count = 0;
  int extra = 0;  // bytes after the fields, inside the record
};

std::vector<std::uint8_t> record(const Fields& f) {
  std::vector<std::uint8_t> body;
  Writer w(body);
  w.i8(0);
  w.varlong(f.ts_delta);
  w.varint(f.offset_delta);
  w.varint(f.key_len);
  for (int i = 0; i < f.key_len; ++i) w.i8('k');
  w.varint(f.value_len);
  for (int i = 0; i < f.value_len && i < 8; ++i) w.i8('v');
  w.varint(f.header_count);
  for (int i = 0; i < f.extra; ++i) w.i8(0);
  std::vector<std::uint8_t> out;
  Writer o(out);
  o.varint(static_cast<std::int32_t>(body.size()));
  o.raw(view(body));
  return out;
}

std::vector<std::uint8_t> section_of(int n) {
  std::vector<std::uint8_t> s;
  for (int i = 0; i < n; ++i) {
    auto r = record({.ts_delta = i, .offset_delta = i});
    s.insert(s.end(), r.begin(), r.end());
  }
  return s;
}

// A batch around `section` (compressed with `codec`) with a valid CRC and
// the counts a producer would send for `count` records.
std::vector<std::uint8_t> batch_of(const std::vector<std::uint8_t>& section, std::int32_t count,
                                   CompressionCodec codec = CompressionCodec::kNone,
                                   std::int16_t extra_attributes = 0) {
  RecordBatchOptions o;
  o.codec = CompressionCodec::kNone;
  RecordBatchBuilder b(o);
  REQUIRE(b.add(kBase, std::nullopt, std::nullopt, {}) == RecordError::kNone);
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  out.resize(H::kSize);
  std::vector<std::uint8_t> payload = section;
  if (codec != CompressionCodec::kNone) {
    payload.clear();
    REQUIRE(compress(codec, view(section), payload) == RecordError::kNone);
  }
  out.insert(out.end(), payload.begin(), payload.end());
  put_be32(out, H::kBatchLengthAt, static_cast<std::uint32_t>(out.size() - H::kLogOverhead));
  put_be32(out, H::kRecordCountAt, static_cast<std::uint32_t>(count));
  put_be32(out, H::kLastOffsetDeltaAt, static_cast<std::uint32_t>(count - 1));
  const auto attributes = static_cast<std::uint16_t>(static_cast<int>(codec) | extra_attributes);
  out[H::kAttributesAt] = static_cast<std::uint8_t>(attributes >> 8);
  out[H::kAttributesAt + 1] = static_cast<std::uint8_t>(attributes);
  fix_crc(out);
  return out;
}

BatchCheck check(const std::vector<std::uint8_t>& batch, RecordChecks c = {}) {
  if (c.max_decompressed == 0) c.max_decompressed = 1 << 20;
  H h;
  REQUIRE(validate_record_batch(view(batch), h) == RecordError::kNone);
  std::vector<std::uint8_t> scratch;
  return validate_batch_records(view(batch), h, c, kWhere, scratch);
}

RecordChecks keys_required() {
  RecordChecks c;
  c.require_keys = true;
  return c;
}

std::vector<std::int32_t> indexes(const BatchCheck& c) {
  std::vector<std::int32_t> out;
  for (const auto& f : c.faults) out.push_back(f.batch_index);
  return out;
}

std::vector<std::uint8_t> join(std::vector<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Every malformation, as a records section and the count the header
// declares, with the code and the faulted record Kafka's rules give.
struct Case {
  const char* name;
  std::vector<std::uint8_t> section;
  std::int32_t count;
  ErrorCode error;
  std::vector<std::int32_t> faulted;
};

std::vector<Case> malformed() {
  auto r0 = record({});
  auto r1 = record({.offset_delta = 1});
  auto r2 = record({.offset_delta = 2});
  std::vector<std::uint8_t> never_ends = {0x0A, 0x00};  // length 5, attributes
  for (int i = 0; i < 4; ++i) never_ends.push_back(0xFF);
  std::vector<std::uint8_t> longer = record({.offset_delta = 2});
  longer.push_back(0);  // a byte after the record, counted by nobody
  std::vector<std::uint8_t> long_length = record({.offset_delta = 2});
  long_length[0] = static_cast<std::uint8_t>(long_length[0] + 2);  // length says 1 more
  long_length.push_back(0);
  return {
      {"count above the records", join({r0, r1, r2}), 4, ErrorCode::kInvalidRecord, {3}},
      {"count below the records", join({r0, r1, r2}), 2, ErrorCode::kInvalidRecord, {}},
      {"bytes after the last record",
       longer.size() ? join({r0, r1, longer}) : longer,
       3,
       ErrorCode::kInvalidRecord,
       {}},
      {"offset deltas 0 1 1",
       join({r0, r1, record({.offset_delta = 1})}),
       3,
       ErrorCode::kInvalidRecord,
       {2}},
      {"offset deltas from 1",
       join({record({.offset_delta = 1}), r2, record({.offset_delta = 3})}),
       3,
       ErrorCode::kInvalidRecord,
       {0, 1, 2}},
      {"negative offset delta",
       join({r0, record({.offset_delta = -1}), r2}),
       3,
       ErrorCode::kInvalidRecord,
       {1}},
      {"key length -5",
       join({r0, record({.offset_delta = 1, .key_len = -5}), r2}),
       3,
       ErrorCode::kInvalidRecord,
       {1}},
      {"value length beyond the record",
       join({r0, r1, record({.offset_delta = 2, .value_len = 100})}),
       3,
       ErrorCode::kInvalidRecord,
       {2}},
      {"header count beyond the record",
       join({r0, record({.offset_delta = 1, .header_count = 1'000'000}), r2}),
       3,
       ErrorCode::kInvalidRecord,
       {1}},
      {"record longer than its fields",
       join({r0, r1, long_length}),
       3,
       ErrorCode::kInvalidRecord,
       {2}},
      {"a varint that never ends", join({r0, never_ends}), 2, ErrorCode::kInvalidRecord, {1}},
      {"record length beyond the section",
       join({r0, r1, std::vector<std::uint8_t>{0x7E, 0x00}}),
       3,
       ErrorCode::kInvalidRecord,
       {2}},
      {"no records", {}, 3, ErrorCode::kInvalidRecord, {}},
  };
}

}  // namespace

TEST_CASE("validator: good batches pass with every codec, max timestamp found") {
  for (CompressionCodec c : kAllCodecs) {
    const std::string codec = codec_name(c);
    CAPTURE(codec);
    auto b = batch_of(section_of(50), 50, c);
    BatchCheck r = check(b);
    CHECK(r.error == ErrorCode::kNone);
    CHECK(r.faults.empty());
    CHECK(r.max_timestamp == kBase + 49);
  }
}

TEST_CASE("validator: every malformation, whole, compressed and truncated") {
  for (const Case& m : malformed()) {
    const std::string name = m.name;
    CAPTURE(name);
    for (CompressionCodec c :
         {CompressionCodec::kNone, CompressionCodec::kGzip, CompressionCodec::kZstd}) {
      const std::string codec = codec_name(c);
      CAPTURE(codec);
      if (c != CompressionCodec::kNone && m.section.empty()) continue;
      auto b = batch_of(m.section, m.count, c);
      H h;
      // An uncompressed count the bytes cannot hold stops at the batch check.
      if (validate_record_batch(view(b), h) != RecordError::kNone) continue;
      BatchCheck r = check(b);
      CHECK(r.error == m.error);
      std::string got;
      for (auto i : indexes(r)) got += std::to_string(i) + " ";
      CAPTURE(got);
      CAPTURE(r.message);
      // A count the decompressed bytes cannot hold is refused before any
      // record is decoded: no record to name then.
      if (r.message.find(" declares ") == std::string::npos) CHECK(indexes(r) == m.faulted);
      CHECK(!r.message.empty());
      CHECK(r.message.find(kWhere) != std::string::npos);
    }
    // Every prefix of the records section, the header agreeing: never a
    // crash, never a pass (except where the cut leaves exactly the records
    // declared).
    for (std::size_t cut = 0; cut < m.section.size(); ++cut) {
      std::vector<std::uint8_t> part(m.section.begin(), m.section.begin() + cut);
      auto b = batch_of(part, m.count);
      H h;
      if (validate_record_batch(view(b), h) != RecordError::kNone) continue;
      BatchCheck r = check(b);
      CAPTURE(cut);
      if (name != "count below the records" && name != "bytes after the last record") {
        CHECK(r.error != ErrorCode::kNone);
      }
    }
  }
  // A good section truncated anywhere fails too.
  auto good = section_of(5);
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    CAPTURE(cut);
    std::vector<std::uint8_t> part(good.begin(), good.begin() + cut);
    auto b = batch_of(part, 5);
    H h;
    if (validate_record_batch(view(b), h) != RecordError::kNone) continue;
    CHECK(check(b).error == ErrorCode::kInvalidRecord);
  }
}

TEST_CASE("validator: keys on compacted topics, KIP-467 indexes and Kafka's messages") {
  std::vector<std::uint8_t> s;
  for (int i = 0; i < 10; ++i) {
    auto r = record({.offset_delta = i, .key_len = (i == 2 || i == 7) ? -1 : 1});
    s.insert(s.end(), r.begin(), r.end());
  }
  auto b = batch_of(s, 10);
  CHECK(check(b).error == ErrorCode::kNone);  // keys not required
  BatchCheck r = check(b, keys_required());
  CHECK(r.error == ErrorCode::kInvalidRecord);
  CHECK(indexes(r) == std::vector<std::int32_t>{2, 7});
  CHECK(r.faults[0].message ==
        "Compacted topic cannot accept message without key in topic partition t-0");
  CHECK(r.message.rfind("One or more records have been rejected due to 2 record errors", 0) == 0);
}

TEST_CASE("validator: timestamps") {
  std::vector<std::uint8_t> s =
      join({record({.ts_delta = 0}), record({.ts_delta = -86'400'000, .offset_delta = 1}),
            record({.ts_delta = 5, .offset_delta = 2})});
  RecordChecks limits{.max_timestamp_difference_ms = 60'000, .now_ms = kBase};
  BatchCheck r = check(batch_of(s, 3), limits);
  CHECK(r.error == ErrorCode::kInvalidTimestamp);
  CHECK(indexes(r) == std::vector<std::int32_t>{1});
  CHECK(r.message == "One or more records have been rejected due to invalid timestamp");
  CHECK(r.faults[0].message.find("is out of range") != std::string::npos);
  // Without a limit they pass, and the largest is found.
  r = check(batch_of(s, 3));
  CHECK(r.error == ErrorCode::kNone);
  CHECK(r.max_timestamp == kBase + 5);
  // A producer may not set LogAppendTime: every record is refused.
  r = check(batch_of(section_of(3), 3, CompressionCodec::kNone, H::kTimestampTypeBit));
  CHECK(r.error == ErrorCode::kInvalidTimestamp);
  CHECK(indexes(r) == std::vector<std::int32_t>{0, 1, 2});
  // An absurd delta does not overflow.
  auto far = join({record({.ts_delta = std::numeric_limits<std::int64_t>::min()})});
  CHECK(check(batch_of(far, 1), limits).error == ErrorCode::kInvalidTimestamp);
}

TEST_CASE("validator: decompression failures and the budget") {
  auto b = batch_of(section_of(200), 200, CompressionCodec::kGzip);
  // Junk in the compressed bytes.
  auto junk = b;
  for (std::size_t i = H::kSize + 10; i < junk.size(); ++i) junk[i] ^= 0x5A;
  fix_crc(junk);
  CHECK(check(junk).error == ErrorCode::kCorruptMessage);
  // Over the budget.
  RecordChecks small;
  small.max_decompressed = 100;
  BatchCheck r = check(b, small);
  CHECK(r.error == ErrorCode::kMessageTooLarge);
  CHECK(r.faults.empty());
}

TEST_CASE("validator: the faults list is bounded") {
  std::vector<std::uint8_t> s;
  for (int i = 0; i < 3000; ++i) {
    auto r = record({.offset_delta = i, .key_len = -1});
    s.insert(s.end(), r.begin(), r.end());
  }
  BatchCheck r = check(batch_of(s, 3000), keys_required());
  CHECK(r.error == ErrorCode::kInvalidRecord);
  CHECK(r.faults.size() == kMaxRecordFaults);
  CHECK(r.faults_total == 3000);
  CHECK(r.message.find("due to 3000 record errors") != std::string::npos);
}

TEST_CASE("set_max_timestamp keeps the CRC valid") {
  auto b = batch_of(section_of(3), 3);
  REQUIRE(set_max_timestamp(b, kBase + 2) == RecordError::kNone);
  H h;
  REQUIRE(validate_record_batch(view(b), h) == RecordError::kNone);
  CHECK(h.max_timestamp == kBase + 2);
}
