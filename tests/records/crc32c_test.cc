#include "protocol/records/crc32c.h"

#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "tests/records/test_util.h"

namespace kgw {
namespace {

using test::random_bytes;
using test::view;

struct Vector {
  const char* name;
  std::vector<std::uint8_t> data;
  std::uint32_t crc;
};

std::vector<Vector> published_vectors() {
  std::vector<Vector> v;
  // RFC 3720 appendix B.4.
  v.push_back({"32 zeros", std::vector<std::uint8_t>(32, 0x00), 0x8A9136AAu});
  v.push_back({"32 x 0xFF", std::vector<std::uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<std::uint8_t> up(32);
  std::iota(up.begin(), up.end(), std::uint8_t{0});
  v.push_back({"0..31", up, 0x46DD794Eu});
  std::vector<std::uint8_t> down(up.rbegin(), up.rend());
  v.push_back({"31..0", down, 0x113FDB5Cu});
  // The standard CRC check value.
  std::string_view check = "123456789";
  v.push_back({"123456789", std::vector<std::uint8_t>(check.begin(), check.end()), 0xE3069283u});
  v.push_back({"empty", {}, 0u});
  return v;
}

TEST_CASE("crc32c: published vectors, both paths") {
  MESSAGE("SSE4.2 path in use: " << crc32c_hardware_available());
  for (const Vector& v : published_vectors()) {
    CAPTURE(v.name);
    CHECK(crc32c(view(v.data)) == v.crc);
    CHECK(crc32c_portable(view(v.data)) == v.crc);
  }
}

TEST_CASE("crc32c: extend equals one pass") {
  auto data = random_bytes(4096, 1);
  std::uint32_t whole = crc32c(view(data));
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9},
        std::size_t{1000}, std::size_t{4095}, std::size_t{4096}}) {
    CAPTURE(cut);
    Bytes a(data.data(), cut);
    Bytes b(data.data() + cut, data.size() - cut);
    CHECK(crc32c_extend(crc32c(a), b) == whole);
    CHECK(crc32c_extend_portable(crc32c_portable(a), b) == whole);
  }
  CHECK(crc32c_extend(0, view(data)) == whole);
}

TEST_CASE("crc32c: hardware and portable agree on many lengths and alignments") {
  auto data = random_bytes(2048 + 64, 2);
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t len = 0; len <= 1100; len += (len < 80 ? 1 : 37)) {
      Bytes b(data.data() + offset, len);
      CAPTURE(offset);
      CAPTURE(len);
      REQUIRE(crc32c(b) == crc32c_portable(b));
    }
  }
  auto big = random_bytes(1u << 20, 3);
  CHECK(crc32c(view(big)) == crc32c_portable(view(big)));
}

}  // namespace
}  // namespace kgw
