// Every API x version x (request, response): a populated value survives
// encode -> decode whole, with trailing garbage, and fails cleanly on every
// truncation (the byte-at-a-time view of a frame that has not fully arrived).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "all_fills.h"
#include "all_messages.h"
#include "api_table.h"

namespace kgw {
namespace {

constexpr int kSeedsPerVersion = 6;

template <typename T>
void roundtrip_one(std::int16_t version, std::uint64_t seed) {
  const std::string api = T::api_name;
  CAPTURE(api);
  CAPTURE(T::is_request);
  CAPTURE(version);
  CAPTURE(seed);
  testing::TestFiller filler(seed);
  T value;
  testing::fill(value, version, filler);

  std::vector<std::uint8_t> buf;
  Writer w(buf);
  value.encode(w, version);
  REQUIRE(buf.size() == value.size(version));

  {
    T decoded;
    Reader r{Bytes(buf)};
    const bool ok = decoded.decode(r, version);
    const std::string error = decode_error_name(r.error());
    CAPTURE(error);
    REQUIRE(ok);
    CHECK(r.remaining() == 0);
    CHECK(decoded == value);
    std::vector<std::uint8_t> again;
    Writer w2(again);
    decoded.encode(w2, version);
    CHECK(again == buf);
  }
  {
    std::vector<std::uint8_t> padded = buf;
    for (int i = 0; i < 7; ++i) padded.push_back(static_cast<std::uint8_t>(0xA5 ^ i));
    T decoded;
    Reader r{Bytes(padded)};
    REQUIRE(decoded.decode(r, version));
    CHECK(r.consumed() == buf.size());
    CHECK(decoded == value);
  }
  for (std::size_t len = 0; len < buf.size(); ++len) {
    T partial;
    Reader r{Bytes(buf.data(), len)};
    const bool ok = partial.decode(r, version);
    if (ok) FAIL_CHECK("a truncated encoding decoded, length " << len << " of " << buf.size());
    CHECK(r.error() != DecodeError::kNone);
  }
}

template <typename T>
void roundtrip_all_versions() {
  for (std::int16_t v = T::min_version; v <= T::max_version; ++v) {
    for (int s = 0; s < kSeedsPerVersion; ++s) {
      roundtrip_one<T>(v, static_cast<std::uint64_t>(T::api_key) * 100003u + v * 101u + s);
    }
  }
}

TEST_CASE("every api and version round-trips"){
#define X(Req, Resp)                \
  SUBCASE(Req::api_name) {          \
    roundtrip_all_versions<Req>();  \
    roundtrip_all_versions<Resp>(); \
  }
    KGW_FOR_EACH_API(X)
#undef X
}

TEST_CASE("api table lists every generated message") {
  std::size_t n = 0;
#define X(Req, Resp)                               \
  {                                                \
    const ApiInfo* info = find_api(Req::api_key);  \
    REQUIRE(info != nullptr);                      \
    CHECK(info->min_version == Req::min_version);  \
    CHECK(info->max_version == Resp::max_version); \
    ++n;                                           \
  }
  KGW_FOR_EACH_API(X)
#undef X
  CHECK(n == all_apis().size());
}

}  // namespace
}  // namespace kgw
