// Wire primitives: values whole, truncated and malformed; no decode allocates
// more than the bytes that are actually there.
#include <doctest/doctest.h>

#include <limits>
#include <vector>

#include "protocol/wire/headers.h"
#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw {
namespace {

std::vector<std::uint8_t> bytes_of(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int b : v) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

TEST_CASE("fixed-width integers are big-endian") {
  std::vector<std::uint8_t> buf;
  Writer w(buf);
  w.i16(-2);
  w.i32(0x01020304);
  w.i64(-1);
  w.u16(0xBEEF);
  w.f64(1.5);
  CHECK(buf.size() == 2 + 4 + 8 + 2 + 8);
  CHECK(buf[0] == 0xFF);
  CHECK(buf[1] == 0xFE);
  CHECK(buf[2] == 0x01);
  CHECK(buf[5] == 0x04);
  Reader r{Bytes(buf)};
  CHECK(r.i16() == -2);
  CHECK(r.i32() == 0x01020304);
  CHECK(r.i64() == -1);
  CHECK(r.u16() == 0xBEEF);
  CHECK(r.f64() == 1.5);
  CHECK(r.ok());
  CHECK(r.remaining() == 0);
  r.i8();
  CHECK(r.error() == DecodeError::kTruncated);
}

TEST_CASE("varints: zigzag and unsigned, with their sizes") {
  const std::int64_t longs[] = {0,
                                1,
                                -1,
                                63,
                                -64,
                                64,
                                300,
                                -300,
                                std::numeric_limits<std::int64_t>::max(),
                                std::numeric_limits<std::int64_t>::min()};
  for (std::int64_t v : longs) {
    std::vector<std::uint8_t> buf;
    Writer w(buf);
    w.varlong(v);
    CHECK(buf.size() == varlong_size(v));
    Reader r{Bytes(buf)};
    CHECK(r.varlong() == v);
    CHECK(r.ok());
  }
  const std::int32_t ints[] = {0,
                               -1,
                               1,
                               150,
                               std::numeric_limits<std::int32_t>::max(),
                               std::numeric_limits<std::int32_t>::min()};
  for (std::int32_t v : ints) {
    std::vector<std::uint8_t> buf;
    Writer w(buf);
    w.varint(v);
    CHECK(buf.size() == varint_size(v));
    Reader r{Bytes(buf)};
    CHECK(r.varint() == v);
  }
  // Known encodings from the protocol guide: 300 as unsigned varint is AC 02.
  std::vector<std::uint8_t> buf;
  Writer w(buf);
  w.uvarint(300);
  CHECK(buf == bytes_of({0xAC, 0x02}));
  // -1 zigzags to 1.
  buf.clear();
  w.varint(-1);
  CHECK(buf == bytes_of({0x01}));
}

TEST_CASE("malformed varints are errors") {
  auto six = bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
  Reader r{Bytes(six)};
  r.uvarint();
  CHECK(r.error() == DecodeError::kBadVarint);

  auto overflow = bytes_of({0xFF, 0xFF, 0xFF, 0xFF, 0x1F});  // 35 bits
  Reader r2{Bytes(overflow)};
  r2.uvarint();
  CHECK(r2.error() == DecodeError::kBadVarint);

  auto eleven = std::vector<std::uint8_t>(11, 0x80);
  Reader r3{Bytes(eleven)};
  r3.uvarlong();
  CHECK_FALSE(r3.ok());

  auto cut = bytes_of({0x80});
  Reader r4{Bytes(cut)};
  r4.varint();
  CHECK(r4.error() == DecodeError::kTruncated);
}

TEST_CASE("strings and bytes: classic, compact and nullable") {
  for (bool compact : {false, true}) {
    std::vector<std::uint8_t> buf;
    Writer w(buf);
    w.string("kafka", compact);
    w.nullable_string(std::nullopt, compact);
    w.nullable_string(std::string_view(""), compact);
    const std::uint8_t raw[] = {1, 2, 3};
    w.bytes(Bytes(raw, 3), compact);
    w.nullable_bytes(std::nullopt, compact);
    Reader r{Bytes(buf)};
    CHECK(r.string(compact) == "kafka");
    CHECK_FALSE(r.nullable_string(compact).has_value());
    auto empty = r.nullable_string(compact);
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
    CHECK(r.bytes(compact) == Bytes(raw, 3));
    CHECK_FALSE(r.nullable_bytes(compact).has_value());
    CHECK(r.ok());
    CHECK(r.remaining() == 0);
  }
}

TEST_CASE("bad lengths never allocate and never crash") {
  SUBCASE("negative string length") {
    auto buf = bytes_of({0xFF, 0xFE});  // -2
    Reader r{Bytes(buf)};
    r.string(false);
    CHECK(r.error() == DecodeError::kNegativeLength);
  }
  SUBCASE("null where null is not allowed") {
    auto buf = bytes_of({0xFF, 0xFF});
    Reader r{Bytes(buf)};
    r.string(false);
    CHECK(r.error() == DecodeError::kNegativeLength);
  }
  SUBCASE("length beyond the bytes left") {
    auto buf = bytes_of({0x00, 0x10, 'a', 'b'});
    Reader r{Bytes(buf)};
    r.string(false);
    CHECK(r.error() == DecodeError::kTruncated);
  }
  SUBCASE("huge bytes length over the cap") {
    auto buf = bytes_of({0x7F, 0xFF, 0xFF, 0xFF});
    Reader r{Bytes(buf)};
    r.bytes(false);
    CHECK(r.error() == DecodeError::kLengthOverCap);
  }
  SUBCASE("array count over the bytes left") {
    auto buf = bytes_of({0x00, 0x00, 0x00, 0x10, 0x00, 0x01});
    Reader r{Bytes(buf)};
    r.array_length(false, false, 4);
    CHECK(r.error() == DecodeError::kTruncated);
  }
  SUBCASE("array count over the cap") {
    DecodeLimits limits;
    limits.max_array = 2;
    std::vector<std::uint8_t> buf = bytes_of({0x04});
    buf.resize(64);
    Reader r(Bytes(buf), limits);
    r.array_length(true, false, 1);
    CHECK(r.error() == DecodeError::kLengthOverCap);
  }
  SUBCASE("compact null array where null is not allowed") {
    auto buf = bytes_of({0x00});
    Reader r{Bytes(buf)};
    r.array_length(true, false, 1);
    CHECK(r.error() == DecodeError::kNegativeLength);
  }
  SUBCASE("errors are sticky") {
    auto buf = bytes_of({0x00});
    Reader r{Bytes(buf)};
    r.i32();
    CHECK(r.i8() == 0);
    CHECK(r.error() == DecodeError::kTruncated);
  }
}

TEST_CASE("request headers v0, v1, v2 and response headers v0, v1") {
  RequestHeader h;
  h.api_key = 3;
  h.api_version = 12;
  h.correlation_id = 77;
  h.client_id = "rdkafka";
  for (std::int16_t hv : {0, 1, 2}) {
    std::vector<std::uint8_t> buf;
    Writer w(buf);
    h.encode(w, hv);
    CHECK(buf.size() == h.size(hv));
    RequestHeader d;
    Reader r{Bytes(buf)};
    REQUIRE(d.decode(r, hv));
    CHECK(r.remaining() == 0);
    CHECK(d.correlation_id == 77);
    if (hv >= 1) CHECK(d.client_id == h.client_id);
  }
  // The client id stays a classic int16 string in v2.
  std::vector<std::uint8_t> buf;
  Writer w(buf);
  h.encode(w, 2);
  CHECK(buf[8] == 0x00);
  CHECK(buf[9] == 7);
  CHECK(buf.back() == 0x00);  // no tagged fields

  ResponseHeader rh;
  rh.correlation_id = 5;
  for (std::int16_t hv : {0, 1}) {
    std::vector<std::uint8_t> out;
    Writer w2(out);
    rh.encode(w2, hv);
    CHECK(out.size() == static_cast<std::size_t>(hv == 0 ? 4 : 5));
  }
}

TEST_CASE("header versions follow the api table, ApiVersions answers with v0") {
  CHECK(request_header_version(0, 8) == 1);
  CHECK(request_header_version(0, 9) == 2);
  CHECK(response_header_version(0, 9) == 1);
  CHECK(request_header_version(18, 3) == 2);
  CHECK(response_header_version(18, 3) == 0);
  CHECK(request_header_version(0, 99) == -1);
  CHECK(request_header_version(999, 0) == -1);
}

}  // namespace
}  // namespace kgw
