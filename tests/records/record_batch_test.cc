#include "protocol/records/record_batch.h"

#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "protocol/records/control_record.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "protocol/wire/writer.h"
#include "tests/records/test_util.h"

namespace kgw {
namespace {

using test::decode_batch;
using test::DecodedRecord;
using test::fix_crc;
using test::put_be32;
using test::view;
using H = RecordBatchHeader;

constexpr CompressionCodec kAllCodecs[] = {CompressionCodec::kNone, CompressionCodec::kGzip,
                                           CompressionCodec::kSnappy, CompressionCodec::kLz4,
                                           CompressionCodec::kZstd};

// Adds `records` to a builder, keeping the header storage alive per call.
void add_all(RecordBatchBuilder& b, const std::vector<DecodedRecord>& records) {
  for (const DecodedRecord& r : records) {
    std::vector<RecordHeader> headers;
    for (const auto& [k, v] : r.headers) {
      headers.push_back({k, v ? std::optional<Bytes>(view(*v)) : std::nullopt});
    }
    auto key = r.key ? std::optional<Bytes>(view(*r.key)) : std::nullopt;
    auto value = r.value ? std::optional<Bytes>(view(*r.value)) : std::nullopt;
    REQUIRE(b.add_with_offset_delta(r.offset_delta, r.timestamp, key, value, headers) ==
            RecordError::kNone);
  }
}

// GCC 12 warns on designated initializers that skip members
// (-Wmissing-field-initializers), hence these.
RecordBatchOptions with_codec(CompressionCodec c) {
  RecordBatchOptions o;
  o.codec = c;
  return o;
}

RecordBatchOptions with_base_offset(std::int64_t base_offset) {
  RecordBatchOptions o;
  o.base_offset = base_offset;
  return o;
}

std::vector<DecodedRecord> sample_records(int n) {
  std::vector<DecodedRecord> v;
  for (int i = 0; i < n; ++i) {
    DecodedRecord r;
    r.offset_delta = i;
    r.timestamp = 1'700'000'000'000 + i * 3;
    if (i == 4) r.timestamp = 1'600'000'000'000;  // earlier than base: negative delta
    if (i % 10 != 3) r.key = test::numbered("key-", i);
    if (i == 7) r.key = "";  // empty, not null
    if (i % 17 != 5) r.value = test::numbered("value ", i) + std::string(i % 50, 'x');
    if (i == 8) r.value = std::string(100000, 'v');  // bigger than a snappy/lz4 block
    if (i % 3 == 0) {
      r.headers.emplace_back("h", "x");
      r.headers.emplace_back("n", std::nullopt);
    }
    if (i == 9) r.headers.emplace_back("", "");
    v.push_back(std::move(r));
  }
  return v;
}

std::vector<std::uint8_t> build(const RecordBatchOptions& o, const std::vector<DecodedRecord>& rs) {
  RecordBatchBuilder b(o);
  add_all(b, rs);
  std::vector<std::uint8_t> out;
  REQUIRE(b.build(out) == RecordError::kNone);
  return out;
}

TEST_CASE("builder: round trip with every codec") {
  auto records = sample_records(100);
  for (CompressionCodec c : kAllCodecs) {
    std::string codec = codec_name(c);
    CAPTURE(codec);
    RecordBatchOptions o;
    o.codec = c;
    o.producer_id = 77;
    o.producer_epoch = 3;
    o.base_sequence = 1000;
    o.transactional = c == CompressionCodec::kGzip;
    auto batch = build(o, records);

    H h;
    std::vector<DecodedRecord> decoded;
    REQUIRE(decode_batch(view(batch), h, decoded) == RecordError::kNone);
    CHECK(h.magic == 2);
    CHECK(h.compression() == c);
    CHECK(h.is_transactional() == (c == CompressionCodec::kGzip));
    CHECK(!h.is_control());
    CHECK(h.timestamp_type() == TimestampType::kCreateTime);
    CHECK(h.base_offset == 0);
    CHECK(h.partition_leader_epoch == -1);
    CHECK(h.total_size() == batch.size());
    CHECK(h.record_count == 100);
    CHECK(h.last_offset_delta == 99);
    CHECK(h.base_timestamp == records[0].timestamp);
    CHECK(h.max_timestamp == records[99].timestamp);
    CHECK(h.producer_id == 77);
    CHECK(h.producer_epoch == 3);
    CHECK(h.base_sequence == 1000);
    CHECK(check_producer_batch(h) == RecordError::kNone);
    CHECK(decoded == records);
    if (c != CompressionCodec::kNone) CHECK(batch.size() < 100000);
  }
}

TEST_CASE("builder: empty batch, explicit deltas, last_offset_delta override") {
  SUBCASE("empty") {
    std::vector<std::uint8_t> batch;
    REQUIRE(RecordBatchBuilder(RecordBatchOptions{}).build(batch) == RecordError::kNone);
    CHECK(batch.size() == H::kSize);
    H h;
    std::vector<DecodedRecord> decoded;
    REQUIRE(decode_batch(view(batch), h, decoded) == RecordError::kNone);
    CHECK(h.record_count == 0);
    CHECK(decoded.empty());
    CHECK(check_producer_batch(h) == RecordError::kBadRecord);
  }
  SUBCASE("compacted batch keeps offsets") {
    auto records = sample_records(3);
    records[1].offset_delta = 5;
    records[2].offset_delta = 9;
    RecordBatchOptions o;
    o.codec = CompressionCodec::kZstd;
    o.last_offset_delta = 12;
    auto batch = build(o, records);
    H h;
    std::vector<DecodedRecord> decoded;
    REQUIRE(decode_batch(view(batch), h, decoded) == RecordError::kNone);
    CHECK(h.last_offset_delta == 12);
    CHECK(decoded == records);
    // Fine in a log, not from a producer.
    CHECK(check_producer_batch(h) == RecordError::kBadRecord);
  }
  SUBCASE("offset deltas must increase") {
    RecordBatchBuilder b{RecordBatchOptions{}};
    CHECK(b.add_with_offset_delta(-1, 0, std::nullopt, std::nullopt) == RecordError::kBadRecord);
    CHECK(b.add_with_offset_delta(3, 0, std::nullopt, std::nullopt) == RecordError::kNone);
    CHECK(b.add_with_offset_delta(3, 0, std::nullopt, std::nullopt) == RecordError::kBadRecord);
    CHECK(b.add(0, std::nullopt, std::nullopt) == RecordError::kNone);  // delta 4
    CHECK(b.record_count() == 2);
  }
}

TEST_CASE("in-place rewrites: base offset and leader epoch keep the CRC valid") {
  auto batch = build(with_codec(CompressionCodec::kLz4), sample_records(20));
  auto before = batch;
  REQUIRE(set_base_offset(batch, 12'345'678'901) == RecordError::kNone);
  REQUIRE(set_partition_leader_epoch(batch, 42) == RecordError::kNone);
  H h;
  REQUIRE(validate_record_batch(view(batch), h) == RecordError::kNone);
  CHECK(h.base_offset == 12'345'678'901);
  CHECK(h.last_offset() == 12'345'678'901 + 19);
  CHECK(h.partition_leader_epoch == 42);
  // Only those twelve bytes changed.
  CHECK(std::memcmp(batch.data() + H::kMagicAt, before.data() + H::kMagicAt,
                    batch.size() - H::kMagicAt) == 0);
  CHECK(std::memcmp(batch.data() + H::kBatchLengthAt, before.data() + H::kBatchLengthAt, 4) == 0);

  SUBCASE("log append time rewrites the CRC") {
    REQUIRE(set_log_append_time(batch, 1'800'000'000'000) == RecordError::kNone);
    REQUIRE(validate_record_batch(view(batch), h) == RecordError::kNone);
    CHECK(h.timestamp_type() == TimestampType::kLogAppendTime);
    CHECK(h.max_timestamp == 1'800'000'000'000);
    CHECK(h.compression() == CompressionCodec::kLz4);
    auto longer = batch;
    longer.push_back(0);
    CHECK(set_log_append_time(longer, 1) == RecordError::kBadLength);
  }
  SUBCASE("errors") {
    std::vector<std::uint8_t> short_batch(batch.begin(), batch.begin() + 30);
    CHECK(set_base_offset(short_batch, 1) == RecordError::kTruncated);
    auto legacy = batch;
    legacy[H::kMagicAt] = 1;
    CHECK(set_base_offset(legacy, 1) == RecordError::kLegacyMessageFormat);
    CHECK(set_partition_leader_epoch(legacy, 1) == RecordError::kLegacyMessageFormat);
    legacy[H::kMagicAt] = 3;
    CHECK(set_base_offset(legacy, 1) == RecordError::kBadMagic);
  }
}

TEST_CASE("control batch: transaction markers") {
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> value;
  encode_control_record_key(ControlRecordType::kCommit, key);
  encode_end_txn_marker(5, value);
  RecordBatchOptions o;
  o.control = true;
  o.transactional = true;
  o.producer_id = 9;
  o.producer_epoch = 1;
  RecordBatchBuilder b(o);
  REQUIRE(b.add(1234, view(key), view(value)) == RecordError::kNone);
  std::vector<std::uint8_t> batch;
  REQUIRE(b.build(batch) == RecordError::kNone);

  H h;
  REQUIRE(validate_record_batch(view(batch), h) == RecordError::kNone);
  CHECK(h.is_control());
  CHECK(h.is_transactional());
  CHECK(check_producer_batch(h) == RecordError::kBadRecord);  // clients may not write these
  std::vector<std::uint8_t> scratch;
  Bytes records;
  REQUIRE(batch_records(view(batch), h, scratch, records, 1u << 20) == RecordError::kNone);
  RecordIterator it(records, h.record_count);
  Record r;
  REQUIRE(it.next(r));
  ControlRecordKey k;
  REQUIRE(parse_control_record_key(r.key, k) == RecordError::kNone);
  CHECK(k.version == 0);
  CHECK(k.is_commit());
  CHECK(!k.is_abort());
  EndTxnMarker m;
  REQUIRE(parse_end_txn_marker(r.value, m) == RecordError::kNone);
  CHECK(m.coordinator_epoch == 5);
  CHECK(!it.next(r));
  CHECK(it.error() == RecordError::kNone);

  SUBCASE("malformed keys and values") {
    std::vector<std::uint8_t> abort_key;
    encode_control_record_key(ControlRecordType::kAbort, abort_key);
    REQUIRE(parse_control_record_key(view(abort_key), k) == RecordError::kNone);
    CHECK(k.is_abort());
    CHECK(parse_control_record_key(std::nullopt, k) == RecordError::kBadRecord);
    CHECK(parse_control_record_key(Bytes(abort_key.data(), 3), k) == RecordError::kBadRecord);
    std::vector<std::uint8_t> negative = {0xFF, 0xFF, 0, 0};
    CHECK(parse_control_record_key(view(negative), k) == RecordError::kBadRecord);
    // A newer version is read as version 0, like Kafka does.
    std::vector<std::uint8_t> newer = {0, 3, 0, 1, 0xAA};
    REQUIRE(parse_control_record_key(view(newer), k) == RecordError::kNone);
    CHECK(k.version == 3);
    CHECK(k.is_commit());
    CHECK(parse_end_txn_marker(std::nullopt, m) == RecordError::kBadRecord);
    CHECK(parse_end_txn_marker(Bytes(value.data(), 5), m) == RecordError::kBadRecord);
  }
}

// A legacy v0 message: offset, size, crc, magic 0, attributes, null key, "abc".
std::vector<std::uint8_t> legacy_message(std::int8_t magic) {
  std::vector<std::uint8_t> v;
  Writer w(v);
  w.i64(0);
  w.i32(magic == 0 ? 17 : 25);
  w.u32(0x12345678);  // CRC-32 (not checked: the format is refused first)
  w.i8(magic);
  w.i8(0);
  if (magic == 1) w.i64(0);
  w.i32(-1);
  w.i32(3);
  w.raw(Bytes(std::string_view("abc")));
  return v;
}

TEST_CASE("split: several batches, partial tails, legacy and bad entries") {
  std::vector<std::vector<std::uint8_t>> batches;
  for (CompressionCodec c :
       {CompressionCodec::kNone, CompressionCodec::kSnappy, CompressionCodec::kZstd}) {
    batches.push_back(build(with_codec(c), sample_records(5)));
  }
  std::vector<std::uint8_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());

  std::vector<Bytes> views;
  REQUIRE(split_record_batches(view(all), views) == RecordError::kNone);
  REQUIRE(views.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(views[i] == view(batches[i]));

  views.clear();
  REQUIRE(split_record_batches(Bytes(), views) == RecordError::kNone);
  CHECK(views.empty());

  // Every cut inside the last batch: a Fetch response keeps the whole
  // batches and reports the tail; a Produce request is truncated.
  std::size_t first_two = batches[0].size() + batches[1].size();
  for (std::size_t cut = first_two + 1; cut < all.size(); ++cut) {
    CAPTURE(cut);
    views.clear();
    std::size_t tail = 0;
    REQUIRE(split_record_batches(Bytes(all.data(), cut), views, &tail) == RecordError::kNone);
    CHECK(views.size() == 2);
    CHECK(tail == cut - first_two);
    views.clear();
    CHECK(split_record_batches(Bytes(all.data(), cut), views) == RecordError::kTruncated);
  }

  SUBCASE("legacy message sets are recognised") {
    for (std::int8_t magic : {0, 1}) {
      CAPTURE(int{magic});
      auto legacy = legacy_message(magic);
      views.clear();
      CHECK(split_record_batches(view(legacy), views) == RecordError::kLegacyMessageFormat);
      H h;
      CHECK(parse_record_batch_header(view(legacy), h) == RecordError::kLegacyMessageFormat);
      CHECK(validate_record_batch(view(legacy), h) == RecordError::kLegacyMessageFormat);
      // Also after a good batch.
      auto mixed = batches[0];
      mixed.insert(mixed.end(), legacy.begin(), legacy.end());
      views.clear();
      CHECK(split_record_batches(view(mixed), views) == RecordError::kLegacyMessageFormat);
    }
  }
  SUBCASE("bad magic and lengths") {
    auto bad = batches[0];
    for (int magic : {3, 0x7F, -1}) {
      bad[H::kMagicAt] = static_cast<std::uint8_t>(magic);
      views.clear();
      CHECK(split_record_batches(view(bad), views) == RecordError::kBadMagic);
    }
    bad = batches[0];
    put_be32(bad, H::kBatchLengthAt, 0xFFFFFFFFu);
    views.clear();
    CHECK(split_record_batches(view(bad), views) == RecordError::kBadLength);
    put_be32(bad, H::kBatchLengthAt, 10);
    views.clear();
    CHECK(split_record_batches(view(bad), views) == RecordError::kBadLength);
    // Magic not visible yet but the entry would already be complete: too short
    // for any format.
    std::vector<std::uint8_t> tiny(14, 0);
    put_be32(tiny, H::kBatchLengthAt, 2);
    views.clear();
    std::size_t tail = 0;
    CHECK(split_record_batches(view(tiny), views, &tail) == RecordError::kBadLength);
    // ... while a plausible length there is just a partial tail.
    put_be32(tiny, H::kBatchLengthAt, 500);
    CHECK(split_record_batches(view(tiny), views, &tail) == RecordError::kNone);
    CHECK(tail == 14);
  }
}

TEST_CASE("validate: every truncation and every corrupted byte") {
  auto batch = build(with_codec(CompressionCodec::kLz4), sample_records(20));
  H h;
  for (std::size_t n = 0; n < batch.size(); ++n) {
    CAPTURE(n);
    RecordError e = validate_record_batch(Bytes(batch.data(), n), h);
    CHECK(e == RecordError::kTruncated);
  }
  auto longer = batch;
  longer.push_back(0);
  CHECK(validate_record_batch(view(longer), h) == RecordError::kBadLength);

  for (std::size_t i = 0; i < batch.size(); ++i) {
    CAPTURE(i);
    auto bad = batch;
    bad[i] ^= 0x01;
    RecordError e = validate_record_batch(view(bad), h);
    if (i < H::kBatchLengthAt || (i >= H::kLeaderEpochAt && i < H::kMagicAt)) {
      CHECK(e == RecordError::kNone);  // base offset and leader epoch are outside the CRC
    } else if (i < H::kLeaderEpochAt) {
      CHECK((e == RecordError::kTruncated || e == RecordError::kBadLength));
    } else if (i == H::kMagicAt) {
      CHECK(e == RecordError::kBadMagic);
    } else {
      CHECK(e == RecordError::kBadCrc);
    }
  }
}

TEST_CASE("validate: header sanity behind a valid CRC") {
  auto good = build(RecordBatchOptions{}, sample_records(10));
  H h;
  auto edit = [&](std::size_t at, std::uint32_t v) {
    auto b = good;
    put_be32(b, at, v);
    fix_crc(b);
    return b;
  };
  CHECK(validate_record_batch(view(edit(H::kRecordCountAt, 0xFFFFFFFFu)), h) ==
        RecordError::kBadRecord);
  CHECK(validate_record_batch(view(edit(H::kLastOffsetDeltaAt, 0xFFFFFFFFu)), h) ==
        RecordError::kBadRecord);
  // More records than offsets.
  CHECK(validate_record_batch(view(edit(H::kRecordCountAt, 11)), h) == RecordError::kBadRecord);
  // Fewer records than offsets is fine (compaction) ...
  REQUIRE(validate_record_batch(view(edit(H::kRecordCountAt, 9)), h) == RecordError::kNone);
  // ... but iterating then finds bytes left over.
  std::vector<DecodedRecord> decoded;
  CHECK(decode_batch(view(edit(H::kRecordCountAt, 9)), h, decoded) == RecordError::kBadRecord);
  // A record count the bytes cannot hold is refused before anything is reserved.
  auto huge = good;
  put_be32(huge, H::kLastOffsetDeltaAt, 0x7FFFFFFF);
  put_be32(huge, H::kRecordCountAt, 0x7FFFFFFF);
  fix_crc(huge);
  CHECK(validate_record_batch(view(huge), h) == RecordError::kBadRecord);
  for (int codec = 5; codec <= 7; ++codec) {
    auto b = good;
    b[H::kAttributesAt + 1] = static_cast<std::uint8_t>(codec);
    fix_crc(b);
    CHECK(validate_record_batch(view(b), h) == RecordError::kUnsupportedCodec);
  }
}

// Records sections written by hand, to reach every check of the iterator.
struct RawRecord {
  std::vector<std::uint8_t> bytes;
  Writer w{bytes};
};

RecordError iterate(const std::vector<std::uint8_t>& section, std::int32_t count,
                    int* decoded = nullptr) {
  RecordIterator it(view(section), count);
  Record r;
  int n = 0;
  while (it.next(r)) ++n;
  if (decoded) *decoded = n;
  return it.error();
}

// A record body: attributes, ts delta, offset delta, key "k", value "v", no headers.
std::vector<std::uint8_t> body(std::int32_t key_len = 1, std::int32_t value_len = 1,
                               std::int32_t header_count = 0) {
  std::vector<std::uint8_t> b;
  Writer w(b);
  w.i8(0);
  w.varlong(5);
  w.varint(0);
  w.varint(key_len);
  if (key_len > 0) w.raw(Bytes(std::string_view("k")));
  w.varint(value_len);
  if (value_len > 0) w.raw(Bytes(std::string_view("v")));
  w.varint(header_count);
  return b;
}

std::vector<std::uint8_t> framed(const std::vector<std::uint8_t>& b, std::int32_t length) {
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.varint(length);
  w.raw(view(b));
  return out;
}

std::vector<std::uint8_t> framed(const std::vector<std::uint8_t>& b) {
  return framed(b, static_cast<std::int32_t>(b.size()));
}

TEST_CASE("records: malformed records are errors, never crashes") {
  auto good = framed(body());
  int n = 0;
  REQUIRE(iterate(good, 1, &n) == RecordError::kNone);
  CHECK(n == 1);
  CHECK(iterate({}, 0) == RecordError::kNone);

  auto b = body();
  CHECK(iterate(framed(b, -1), 1) == RecordError::kBadRecord);
  CHECK(iterate(framed(b, 1'000'000'000), 1) == RecordError::kTruncated);
  CHECK(iterate(framed(b, static_cast<std::int32_t>(b.size()) + 1), 1) == RecordError::kTruncated);
  // Length shorter than the fields: the fields run out inside the record.
  CHECK(iterate(framed(b, static_cast<std::int32_t>(b.size()) - 1), 1) != RecordError::kNone);
  // Length longer than the fields with padding present: unused bytes.
  auto padded = b;
  padded.push_back(0);
  CHECK(iterate(framed(padded), 1) == RecordError::kBadRecord);

  CHECK(iterate(framed(body(-2)), 1) == RecordError::kBadRecord);
  CHECK(iterate(framed(body(-1, -1)), 1) == RecordError::kNone);  // both null: fine
  CHECK(iterate(framed(body(1, 1'000'000)), 1) == RecordError::kBadRecord);
  CHECK(iterate(framed(body(1, std::numeric_limits<std::int32_t>::max())), 1) ==
        RecordError::kBadRecord);
  CHECK(iterate(framed(body(1, -7)), 1) == RecordError::kBadRecord);
  CHECK(iterate(framed(body(1, 1, -1)), 1) == RecordError::kBadRecord);
  CHECK(iterate(framed(body(1, 1, 1'000'000)), 1) == RecordError::kBadRecord);

  SUBCASE("headers") {
    auto with_header = [](std::int32_t key_len, std::int32_t value_len) {
      auto h = body(1, 1, 1);
      Writer w(h);
      w.varint(key_len);
      if (key_len > 0) w.raw(Bytes(std::string_view("h")));
      w.varint(value_len);
      if (value_len > 0) w.raw(Bytes(std::string_view("x")));
      return framed(h);
    };
    CHECK(iterate(with_header(1, 1), 1) == RecordError::kNone);
    CHECK(iterate(with_header(1, -1), 1) == RecordError::kNone);
    CHECK(iterate(with_header(-1, 1), 1) == RecordError::kBadRecord);  // null key
    CHECK(iterate(with_header(5, 1), 1) == RecordError::kBadRecord);
    CHECK(iterate(with_header(1, -5), 1) == RecordError::kBadRecord);
    CHECK(iterate(with_header(1, 9), 1) == RecordError::kBadRecord);
  }
  SUBCASE("overlong varints") {
    std::vector<std::uint8_t> overlong_length(6, 0xFF);
    CHECK(iterate(overlong_length, 1) == RecordError::kBadRecord);
    std::vector<std::uint8_t> cut_length = {0xFF, 0xFF};
    CHECK(iterate(cut_length, 1) == RecordError::kTruncated);
    std::vector<std::uint8_t> ts;
    ts.push_back(0);  // attributes
    for (int i = 0; i < 11; ++i) ts.push_back(0xFF);
    ts.push_back(0x01);
    CHECK(iterate(framed(ts), 1) == RecordError::kBadRecord);
  }
  SUBCASE("counts") {
    CHECK(iterate(good, 2) == RecordError::kTruncated);
    auto two = good;
    two.insert(two.end(), good.begin(), good.end());
    CHECK(iterate(two, 1) == RecordError::kBadRecord);  // bytes after the last record
    CHECK(iterate(two, 2) == RecordError::kNone);
    CHECK(iterate(good, -1) == RecordError::kBadRecord);
    CHECK(iterate(good, 0) == RecordError::kBadRecord);
  }
}

// Random damage behind a fixed-up CRC, so it reaches decompression and
// record decoding. Run under ASan+UBSan (-Dsanitize=true) this is the
// check that no input crashes or reads out of bounds.
TEST_CASE("records: random damage behind a valid CRC") {
  std::mt19937 rng(99);
  for (CompressionCodec c : kAllCodecs) {
    std::string codec = codec_name(c);
    CAPTURE(codec);
    auto good = build(with_codec(c), sample_records(30));
    int ok = 0;
    for (int round = 0; round < 1500; ++round) {
      auto bad = good;
      int flips = 1 + static_cast<int>(rng() % 4);
      // Every third round also hits the header fields under the CRC: counts,
      // timestamps and the codec bits (feeding one codec's bytes to another).
      std::size_t from = round % 3 == 0 ? H::kAttributesAt : H::kSize;
      for (int f = 0; f < flips; ++f) {
        std::size_t at = from + rng() % (bad.size() - from);
        bad[at] = static_cast<std::uint8_t>(rng());
      }
      if (round % 5 == 0) {
        // Cut the records section short and make the header agree.
        std::size_t keep = H::kSize + rng() % (bad.size() - H::kSize);
        bad.resize(keep);
        put_be32(bad, H::kBatchLengthAt, static_cast<std::uint32_t>(keep - H::kLogOverhead));
      }
      fix_crc(bad);
      H h;
      std::vector<DecodedRecord> decoded;
      RecordError e = decode_batch(view(bad), h, decoded, 1u << 20);
      if (e == RecordError::kNone) {
        ++ok;
        CHECK(decoded.size() == static_cast<std::size_t>(h.record_count));
      }
      // The in-place rewrites never touch more than the header.
      if (bad.size() >= H::kSize) {
        CHECK(set_base_offset(bad, 5) == RecordError::kNone);
        CHECK(set_partition_leader_epoch(bad, 6) == RecordError::kNone);
      }
    }
    MESSAGE(codec << ": " << ok << " of 1500 damaged batches still decoded");
  }
}

TEST_CASE("pipeline: every prefix of a fetch response") {
  auto a = build(with_codec(CompressionCodec::kGzip), sample_records(12));
  auto b = build(with_base_offset(12), sample_records(3));
  std::vector<std::uint8_t> all(a);
  all.insert(all.end(), b.begin(), b.end());
  for (std::size_t n = 0; n <= all.size(); ++n) {
    CAPTURE(n);
    std::vector<Bytes> views;
    std::size_t tail = 0;
    REQUIRE(split_record_batches(Bytes(all.data(), n), views, &tail) == RecordError::kNone);
    std::size_t expect = n == all.size() ? 2 : (n >= a.size() ? 1 : 0);
    REQUIRE(views.size() == expect);
    for (Bytes v : views) {
      H h;
      std::vector<DecodedRecord> decoded;
      CHECK(decode_batch(v, h, decoded) == RecordError::kNone);
    }
  }
}

}  // namespace
}  // namespace kgw
