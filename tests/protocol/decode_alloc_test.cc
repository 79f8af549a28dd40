// Generated decoders allocate as elements decode, never what an array's
// count claims up front: a request that claims many elements and then
// fails (or ends) early costs a few KiB, not count x sizeof(element).
// Its own executable, since it replaces the global operator new to count
// the bytes allocated during one decode.
#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "all_messages.h"
#include "protocol/wire/reader.h"

namespace {
bool g_counting = false;
std::size_t g_allocated = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting) g_allocated += n;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace kgw {
namespace {

void put_uvarint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

// Decodes `body` as CreateTopics at `version`; returns whether it decoded
// and how many bytes were allocated meanwhile.
std::pair<bool, std::size_t> decode_counting(const std::vector<std::uint8_t>& body,
                                             std::int16_t version) {
  CreateTopicsRequest req;
  Reader r{Bytes(body)};
  g_allocated = 0;
  g_counting = true;
  const bool ok = req.decode(r, version);
  g_counting = false;
  return {ok && r.ok(), g_allocated};
}

constexpr std::size_t kBound = 64 * 1024;

TEST_CASE("an array claiming the cap's 1,000,000 elements over 1 MB of junk allocates little") {
  // Flexible CreateTopics (v5): the topic count passes the count cap and
  // the bytes-left check (1 byte per element at least), then the first
  // topic's name is a null string, which is malformed.
  std::vector<std::uint8_t> body;
  put_uvarint(body, 1'000'000 + 1);
  body.resize(body.size() + 1'000'000, 0);
  auto [ok, allocated] = decode_counting(body, 5);
  CHECK_FALSE(ok);
  INFO("allocated " << allocated << " bytes; sizeof(CreatableTopic) = "
                    << sizeof(CreateTopicsRequest::CreatableTopic));
  CHECK(allocated < kBound);
}

TEST_CASE("an array claiming 2^31 elements with a few bytes fails without allocating") {
  std::vector<std::uint8_t> compact;
  put_uvarint(compact, (std::uint64_t{1} << 31) + 1);
  compact.resize(compact.size() + 16, 0);
  auto [ok, allocated] = decode_counting(compact, 5);
  CHECK_FALSE(ok);
  CHECK(allocated < kBound);

  // Classic (v4) int32 count: 2^31 - 1, the largest it can say.
  std::vector<std::uint8_t> classic = {0x7f, 0xff, 0xff, 0xff};
  classic.resize(classic.size() + 16, 0);
  auto [ok4, allocated4] = decode_counting(classic, 4);
  CHECK_FALSE(ok4);
  CHECK(allocated4 < kBound);
}

TEST_CASE("a valid request still decodes every element") {
  // Classic v4: 3 topics, each: name "t", 1 partition, rf 1, no
  // assignments, no configs; then timeout and validate_only.
  std::vector<std::uint8_t> body = {0, 0, 0, 3};
  for (int i = 0; i < 3; ++i) {
    const std::uint8_t topic[] = {0, 1, 't', 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    body.insert(body.end(), std::begin(topic), std::end(topic));
  }
  const std::uint8_t tail[] = {0, 0, 0x75, 0x30, 0};
  body.insert(body.end(), std::begin(tail), std::end(tail));
  CreateTopicsRequest req;
  Reader r{Bytes(body)};
  REQUIRE(req.decode(r, 4));
  CHECK(r.remaining() == 0);
  REQUIRE(req.topics.size() == 3);
  CHECK(req.topics[2].name == "t");
  CHECK(req.topics[2].num_partitions == 1);
  CHECK(req.timeout_ms == 30000);
}

}  // namespace
}  // namespace kgw
