#include "protocol/records/compression.h"

#include <doctest/doctest.h>
#include <snappy.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "tests/records/test_util.h"

namespace kgw {
namespace {

using test::compressible_bytes;
using test::random_bytes;
using test::view;

constexpr CompressionCodec kAllCodecs[] = {CompressionCodec::kNone, CompressionCodec::kGzip,
                                           CompressionCodec::kSnappy, CompressionCodec::kLz4,
                                           CompressionCodec::kZstd};
constexpr CompressionCodec kRealCodecs[] = {CompressionCodec::kGzip, CompressionCodec::kSnappy,
                                            CompressionCodec::kLz4, CompressionCodec::kZstd};
constexpr std::size_t kNoCap = static_cast<std::size_t>(-1);

std::vector<std::uint8_t> must_compress(CompressionCodec c, const std::vector<std::uint8_t>& in) {
  std::vector<std::uint8_t> out;
  REQUIRE(compress(c, view(in), out) == RecordError::kNone);
  return out;
}

TEST_CASE("compression: round trip every codec") {
  std::vector<std::pair<const char*, std::vector<std::uint8_t>>> inputs;
  inputs.push_back({"empty", {}});
  inputs.push_back({"small", {'h', 'e', 'l', 'l', 'o'}});
  inputs.push_back({"1 MiB random", random_bytes(1u << 20, 10)});
  inputs.push_back({"1 MiB compressible", compressible_bytes(1u << 20, 11)});
  for (CompressionCodec c : kAllCodecs) {
    for (const auto& [name, data] : inputs) {
      std::string codec = codec_name(c);
      std::string input = name;
      CAPTURE(codec);
      CAPTURE(input);
      auto packed = must_compress(c, data);
      if (c != CompressionCodec::kNone && input == "1 MiB compressible") {
        CHECK(packed.size() < data.size() / 2);
      }
      // Appends after what is already there, and leaves that alone.
      std::vector<std::uint8_t> out = {0xAB, 0xCD};
      REQUIRE(decompress(c, view(packed), out, data.size()) == RecordError::kNone);
      REQUIRE(out.size() == data.size() + 2);
      CHECK(out[0] == 0xAB);
      CHECK(out[1] == 0xCD);
      CHECK(std::equal(data.begin(), data.end(), out.begin() + 2));
      // One byte less room than needed fails cleanly and leaves `out` as it was.
      if (!data.empty()) {
        std::vector<std::uint8_t> small = {1, 2, 3};
        CHECK(decompress(c, view(packed), small, data.size() - 1) ==
              RecordError::kDecompressTooLarge);
        CHECK(small == std::vector<std::uint8_t>{1, 2, 3});
      }
    }
  }
}

TEST_CASE("compression: garbage is an error, never a crash") {
  std::string_view text = "this is certainly not compressed data, in any format at all";
  for (CompressionCodec c : kRealCodecs) {
    std::string codec = codec_name(c);
    CAPTURE(codec);
    std::vector<std::uint8_t> out;
    CHECK(decompress(c, view(text), out, 1u << 20) != RecordError::kNone);
    CHECK(out.empty());
    CHECK(decompress(c, Bytes(), out, 1u << 20) == RecordError::kDecompressFailed);
    for (std::uint32_t seed = 0; seed < 200; ++seed) {
      auto junk = random_bytes(1 + seed * 7 % 3000, seed);
      out.clear();
      RecordError e = decompress(c, view(junk), out, 1u << 20);
      // Random bytes could in theory be valid raw snappy; the other
      // formats start with a magic number.
      if (c != CompressionCodec::kSnappy) CHECK(e != RecordError::kNone);
      if (e != RecordError::kNone) CHECK(out.empty());
    }
  }
  std::vector<std::uint8_t> out;
  CHECK(decompress(static_cast<CompressionCodec>(5), view(text), out, 100) ==
        RecordError::kUnsupportedCodec);
  CHECK(compress(static_cast<CompressionCodec>(7), view(text), out) ==
        RecordError::kUnsupportedCodec);
}

TEST_CASE("compression: every truncation fails or yields less") {
  auto data = compressible_bytes(40000, 12);  // > one 32 KiB xerial block
  for (CompressionCodec c : kRealCodecs) {
    std::string codec = codec_name(c);
    CAPTURE(codec);
    auto packed = must_compress(c, data);
    for (std::size_t n = 0; n < packed.size(); ++n) {
      CAPTURE(n);
      std::vector<std::uint8_t> out;
      RecordError e = decompress(c, Bytes(packed.data(), n), out, kNoCap);
      if (c == CompressionCodec::kSnappy) {
        // xerial has no end marker: a cut at a block boundary is a shorter
        // valid stream. It must never claim the whole input.
        if (e == RecordError::kNone) CHECK(out.size() < data.size());
      } else {
        REQUIRE(e != RecordError::kNone);
      }
    }
  }
}

TEST_CASE("compression: bombs stop at max_out") {
  const std::size_t max_out = 1u << 20;
  std::vector<std::uint8_t> zeros(32u << 20, 0);
  for (CompressionCodec c : kRealCodecs) {
    std::string codec = codec_name(c);
    CAPTURE(codec);
    auto packed = must_compress(c, zeros);
    CHECK(packed.size() < zeros.size() / 10);
    std::vector<std::uint8_t> out;
    CHECK(decompress(c, view(packed), out, max_out) == RecordError::kDecompressTooLarge);
    CHECK(out.empty());
    // Never grew far past the cap on the way.
    CHECK(out.capacity() <= 2 * max_out + 1);
  }

  SUBCASE("zstd frame without a declared size is bounded while streaming") {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    REQUIRE(cctx != nullptr);
    REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
    std::vector<std::uint8_t> packed(ZSTD_compressBound(zeros.size()));
    ZSTD_outBuffer ob{packed.data(), packed.size(), 0};
    ZSTD_inBuffer ib{zeros.data(), zeros.size(), 0};
    std::size_t left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
    ZSTD_freeCCtx(cctx);
    REQUIRE(left == 0);
    packed.resize(ob.pos);
    REQUIRE(ZSTD_getFrameContentSize(packed.data(), packed.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
    std::vector<std::uint8_t> out;
    CHECK(decompress(CompressionCodec::kZstd, view(packed), out, max_out) ==
          RecordError::kDecompressTooLarge);
    CHECK(out.capacity() <= 2 * max_out + 1);
    out.clear();
    CHECK(decompress(CompressionCodec::kZstd, view(packed), out, zeros.size()) ==
          RecordError::kNone);
    CHECK(out == zeros);
  }

  SUBCASE("raw snappy declaring a huge length fails before allocating") {
    // Length varint 0xFFFFFFFF then nothing: the cap check comes first.
    std::vector<std::uint8_t> lie = {0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};
    std::vector<std::uint8_t> out;
    CHECK(decompress(CompressionCodec::kSnappy, view(lie), out, max_out) ==
          RecordError::kDecompressTooLarge);
    CHECK(out.capacity() == 0);
  }
}

TEST_CASE("compression: snappy framing") {
  auto data = compressible_bytes(100000, 13);  // several 32 KiB xerial blocks

  SUBCASE("we write xerial, like the Java client") {
    auto packed = must_compress(CompressionCodec::kSnappy, data);
    const std::uint8_t magic[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    REQUIRE(packed.size() > 16);
    CHECK(std::memcmp(packed.data(), magic, 16) == 0);
    std::vector<std::uint8_t> empty_packed = must_compress(CompressionCodec::kSnappy, {});
    // Header plus one block: librdkafka only detects xerial when a block follows.
    CHECK(empty_packed.size() > 20);
  }

  SUBCASE("raw snappy, as librdkafka writes it, is read too") {
    std::string raw;
    snappy::Compress(reinterpret_cast<const char*>(data.data()), data.size(), &raw);
    std::vector<std::uint8_t> out;
    REQUIRE(decompress(CompressionCodec::kSnappy, view(raw), out, data.size()) ==
            RecordError::kNone);
    CHECK(out == data);
  }

  SUBCASE("empty data into an empty vector, every codec and framing") {
    std::string raw_empty;
    snappy::Compress("", 0, &raw_empty);
    std::vector<std::uint8_t> out;
    CHECK(decompress(CompressionCodec::kSnappy, view(raw_empty), out, 0) == RecordError::kNone);
    CHECK(out.empty());
    for (CompressionCodec c : kAllCodecs) {
      std::string codec = codec_name(c);
      CAPTURE(codec);
      auto packed = must_compress(c, {});
      std::vector<std::uint8_t> fresh;
      CHECK(decompress(c, view(packed), fresh, 0) == RecordError::kNone);
      CHECK(fresh.empty());
    }
    // Junk after an empty raw block is still junk.
    raw_empty.push_back('x');
    CHECK(decompress(CompressionCodec::kSnappy, view(raw_empty), out, 0) ==
          RecordError::kDecompressFailed);
  }

  SUBCASE("bad xerial block lengths fail") {
    auto packed = must_compress(CompressionCodec::kSnappy, data);
    std::vector<std::uint8_t> out;
    auto bad = packed;
    test::put_be32(bad, 16, 0x7FFFFFFF);
    CHECK(decompress(CompressionCodec::kSnappy, view(bad), out, kNoCap) ==
          RecordError::kDecompressFailed);
    test::put_be32(bad, 16, 0);
    CHECK(decompress(CompressionCodec::kSnappy, view(bad), out, kNoCap) ==
          RecordError::kDecompressFailed);
    test::put_be32(bad, 16, 0x80000000u);
    CHECK(decompress(CompressionCodec::kSnappy, view(bad), out, kNoCap) ==
          RecordError::kDecompressFailed);
    // A dangling partial length at the end.
    bad = packed;
    bad.push_back(0);
    bad.push_back(0);
    CHECK(decompress(CompressionCodec::kSnappy, view(bad), out, kNoCap) ==
          RecordError::kDecompressFailed);
    CHECK(out.empty());
  }
}

TEST_CASE("compression: lz4 frame flags match Java's KafkaLZ4BlockOutputStream") {
  auto packed = must_compress(CompressionCodec::kLz4, compressible_bytes(1000, 14));
  REQUIRE(packed.size() > 7);
  CHECK(packed[0] == 0x04);
  CHECK(packed[1] == 0x22);
  CHECK(packed[2] == 0x4D);
  CHECK(packed[3] == 0x18);
  CHECK(packed[4] == 0x60);  // version 01, independent blocks, no checksums, no size
  CHECK(packed[5] == 0x40);  // 64 KiB blocks
}

TEST_CASE("compression: concatenated gzip members and zstd/lz4 frames") {
  auto a = compressible_bytes(5000, 15);
  auto b = random_bytes(3000, 16);
  std::vector<std::uint8_t> both(a);
  both.insert(both.end(), b.begin(), b.end());
  for (CompressionCodec c :
       {CompressionCodec::kGzip, CompressionCodec::kLz4, CompressionCodec::kZstd}) {
    std::string codec = codec_name(c);
    CAPTURE(codec);
    auto packed = must_compress(c, a);
    auto second = must_compress(c, b);
    packed.insert(packed.end(), second.begin(), second.end());
    std::vector<std::uint8_t> out;
    REQUIRE(decompress(c, view(packed), out, kNoCap) == RecordError::kNone);
    CHECK(out == both);
    // Trailing junk after a complete stream is not accepted.
    packed.push_back(0x42);
    out.clear();
    CHECK(decompress(c, view(packed), out, kNoCap) != RecordError::kNone);
  }
}

}  // namespace
}  // namespace kgw
