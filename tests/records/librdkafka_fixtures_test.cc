// Decodes record batches that librdkafka 2.0.2 (through kcat) actually sent
// in Produce requests, one per codec. How they were captured is described
// at the top of capture_librdkafka_batches.py; the messages are fixed:
// 40 records key "k<i>" value "v<i>", then key "knull" with a null value,
// all with headers h="x" and n=null.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/records/record_iterator.h"
#include "tests/records/test_util.h"

#ifndef KGW_FIXTURES_DIR
#error "KGW_FIXTURES_DIR must name tests/fixtures (set by tests/records/meson.build)"
#endif

namespace kgw {
namespace {

using test::DecodedRecord;
using test::view;
using H = RecordBatchHeader;

struct Fixture {
  const char* file;
  CompressionCodec codec;
  bool idempotent;
};

constexpr Fixture kFixtures[] = {
    {"librdkafka-2.0.2-none.hex", CompressionCodec::kNone, false},
    {"librdkafka-2.0.2-gzip.hex", CompressionCodec::kGzip, false},
    {"librdkafka-2.0.2-snappy.hex", CompressionCodec::kSnappy, false},
    {"librdkafka-2.0.2-lz4.hex", CompressionCodec::kLz4, false},
    {"librdkafka-2.0.2-zstd.hex", CompressionCodec::kZstd, false},
    {"librdkafka-2.0.2-zstd-idempotent.hex", CompressionCodec::kZstd, true},
};

std::vector<std::uint8_t> load(const Fixture& f) {
  std::string path = std::string(KGW_FIXTURES_DIR) + "/records/" + f.file;
  bool ok = false;
  auto bytes = test::load_hex_fixture(path, ok);
  INFO("fixture " << path);
  REQUIRE(ok);
  REQUIRE(!bytes.empty());
  return bytes;
}

std::vector<DecodedRecord> expected_records(std::int64_t base_timestamp,
                                            const std::vector<DecodedRecord>& got) {
  std::vector<DecodedRecord> v;
  for (int i = 0; i <= 40; ++i) {
    DecodedRecord r;
    r.offset_delta = i;
    // Timestamps are wall-clock at capture time; take them from the batch
    // (checked for plausibility separately).
    r.timestamp = i < static_cast<int>(got.size()) ? got[i].timestamp : base_timestamp;
    r.key = i < 40 ? test::numbered("k", i) : "knull";
    if (i < 40) r.value = test::numbered("v", i);
    r.headers.emplace_back("h", "x");
    r.headers.emplace_back("n", std::nullopt);
    v.push_back(std::move(r));
  }
  return v;
}

TEST_CASE("librdkafka batches: validate, decompress, iterate") {
  for (const Fixture& f : kFixtures) {
    std::string file = f.file;
    CAPTURE(file);
    auto records_field = load(f);

    std::vector<Bytes> batches;
    REQUIRE(split_record_batches(view(records_field), batches) == RecordError::kNone);
    REQUIRE(batches.size() == 1);

    H h;
    std::vector<DecodedRecord> decoded;
    REQUIRE(test::decode_batch(batches[0], h, decoded) == RecordError::kNone);
    CHECK(h.magic == 2);
    CHECK(h.compression() == f.codec);
    CHECK(h.base_offset == 0);
    // librdkafka sends 0 here; the Java client sends -1. Either way the
    // broker overwrites it.
    CHECK(h.partition_leader_epoch == 0);
    CHECK(h.timestamp_type() == TimestampType::kCreateTime);
    CHECK(!h.is_transactional());
    CHECK(!h.is_control());
    CHECK(h.record_count == 41);
    CHECK(h.last_offset_delta == 40);
    CHECK(check_producer_batch(h) == RecordError::kNone);
    if (f.idempotent) {
      // Values the capture script's InitProducerId answer handed out.
      CHECK(h.producer_id == 4242);
      CHECK(h.producer_epoch == 7);
      CHECK(h.base_sequence == 0);
    } else {
      CHECK(h.producer_id == -1);
      CHECK(h.producer_epoch == -1);
      CHECK(h.base_sequence == -1);
    }
    // Wall-clock milliseconds at capture time (after 2023), all within a minute.
    CHECK(h.base_timestamp > 1'700'000'000'000);
    CHECK(h.max_timestamp >= h.base_timestamp);
    CHECK(h.max_timestamp - h.base_timestamp < 60'000);
    REQUIRE(decoded.size() == 41);
    CHECK(decoded.back().timestamp <= h.max_timestamp);
    CHECK(decoded == expected_records(h.base_timestamp, decoded));
  }
}

TEST_CASE("librdkafka batches: framing details") {
  for (const Fixture& f : kFixtures) {
    std::string file = f.file;
    CAPTURE(file);
    auto batch = load(f);
    Bytes payload = view(batch).subspan(H::kSize);
    switch (f.codec) {
      case CompressionCodec::kSnappy: {
        // librdkafka writes raw snappy, not the xerial framing of the Java
        // client; the decoder has to take both.
        const std::uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
        CHECK(std::memcmp(payload.data(), xerial, 8) != 0);
        break;
      }
      case CompressionCodec::kLz4:
        // A standard frame with the flags Java also writes: the correct
        // header checksum (not the broken pre-0.10 one), independent blocks.
        CHECK(payload[0] == 0x04);
        CHECK(payload[3] == 0x18);
        CHECK((payload[4] & 0x20) != 0);
        break;
      case CompressionCodec::kGzip:
        CHECK(payload[0] == 0x1F);
        CHECK(payload[1] == 0x8B);
        break;
      case CompressionCodec::kZstd:
        CHECK(payload[0] == 0x28);
        CHECK(payload[3] == 0xFD);
        break;
      case CompressionCodec::kNone:
        break;
    }
  }
}

// Our builder, given the same records, header fields and timestamps, must
// write the same uncompressed records section byte for byte, and for the
// uncompressed batch the same batch: the encoding has no freedom left.
TEST_CASE("librdkafka batches: our builder re-encodes them byte for byte") {
  for (const Fixture& f : kFixtures) {
    std::string file = f.file;
    CAPTURE(file);
    auto theirs = load(f);
    H h;
    REQUIRE(validate_record_batch(view(theirs), h) == RecordError::kNone);
    std::vector<std::uint8_t> scratch;
    Bytes their_records;
    REQUIRE(batch_records(view(theirs), h, scratch, their_records, 1u << 20) == RecordError::kNone);

    RecordBatchOptions o;
    o.codec = f.codec;
    o.partition_leader_epoch = h.partition_leader_epoch;
    o.producer_id = h.producer_id;
    o.producer_epoch = h.producer_epoch;
    o.base_sequence = h.base_sequence;
    RecordBatchBuilder b(o);
    RecordIterator it(their_records, h.record_count);
    Record r;
    while (it.next(r)) {
      REQUIRE(b.add(h.base_timestamp + r.timestamp_delta, r.key, r.value, r.headers) ==
              RecordError::kNone);
    }
    REQUIRE(it.error() == RecordError::kNone);
    std::vector<std::uint8_t> ours;
    REQUIRE(b.build(ours) == RecordError::kNone);

    H our_h;
    REQUIRE(validate_record_batch(view(ours), our_h) == RecordError::kNone);
    CHECK(our_h.attributes == h.attributes);
    CHECK(our_h.base_timestamp == h.base_timestamp);
    CHECK(our_h.max_timestamp == h.max_timestamp);
    std::vector<std::uint8_t> our_scratch;
    Bytes our_records;
    REQUIRE(batch_records(view(ours), our_h, our_scratch, our_records, 1u << 20) ==
            RecordError::kNone);
    CHECK(our_records == their_records);
    if (f.codec == CompressionCodec::kNone) CHECK(view(ours) == view(theirs));
  }
}

}  // namespace
}  // namespace kgw
