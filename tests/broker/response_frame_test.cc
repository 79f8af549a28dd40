// encode_response_frame: a response whose size does not fit a Kafka frame's
// int32 size prefix is refused from its computed size, before anything is
// allocated; one that fits is framed with its exact size.
#include "src/broker/response_frame.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "all_messages.h"

namespace {

using kgw::Bytes;
using kgw::FetchResponse;
using kgw::ResponseHeader;

// A Fetch response whose partitions all point at the same `records` (Bytes
// is a view): large on the wire, small in memory.
FetchResponse fetch_response(const std::vector<std::uint8_t>& records, int partitions) {
  FetchResponse r;
  auto& topic = r.responses.emplace_back();
  topic.topic = "t";
  for (int i = 0; i < partitions; ++i) {
    auto& p = topic.partitions.emplace_back();
    p.partition_index = i;
    p.records = Bytes(records.data(), records.size());
  }
  return r;
}

std::int32_t size_prefix(const std::vector<std::uint8_t>& frame) {
  return static_cast<std::int32_t>((std::uint32_t{frame[0]} << 24) |
                                   (std::uint32_t{frame[1]} << 16) |
                                   (std::uint32_t{frame[2]} << 8) | std::uint32_t{frame[3]});
}

}  // namespace

TEST_CASE("a response over INT32_MAX bytes is refused, not wrapped to a negative size") {
  // 1 MiB of records viewed by 2,100 partitions: about 2.2 GB on the wire.
  const std::vector<std::uint8_t> records(1u << 20, 0x5a);
  const FetchResponse body = fetch_response(records, 2100);
  ResponseHeader header;
  header.correlation_id = 7;
  std::vector<std::uint8_t> out{1, 2, 3};
  std::size_t size = 0;
  CHECK_FALSE(kgw::encode_response_frame(header, 0, body, 4, out, size));
  CHECK(size > static_cast<std::size_t>(INT32_MAX));
  CHECK(out.empty());
  CHECK(out.capacity() < (1u << 20));  // nothing of that size was allocated
}

TEST_CASE("a response just over the limit is refused and one under it is framed") {
  ResponseHeader header;
  header.correlation_id = 7;
  std::vector<std::uint8_t> out;
  std::size_t size = 0;
  // Find a partition count whose size straddles the limit with 1 MiB
  // records: the refused one must be the first over INT32_MAX.
  const std::vector<std::uint8_t> records(1u << 20, 0x5a);
  // v4 is not flexible: the size is linear in the partition count.
  const std::size_t one = fetch_response(records, 1).size(4) + header.size(0);
  const std::size_t per = fetch_response(records, 2).size(4) + header.size(0) - one;
  const int n = static_cast<int>((kgw::kMaxResponseFrameBytes - one) / per) + 1;
  REQUIRE(kgw::encode_response_frame(header, 0, fetch_response(records, 0), 4, out, size));
  REQUIRE(fetch_response(records, n).size(4) + header.size(0) <= kgw::kMaxResponseFrameBytes);
  CHECK_FALSE(kgw::encode_response_frame(header, 0, fetch_response(records, n + 1), 4, out, size));
  CHECK(size > kgw::kMaxResponseFrameBytes);

  const FetchResponse small = fetch_response(records, 3);
  REQUIRE(kgw::encode_response_frame(header, 0, small, 4, out, size));
  CHECK(out.size() == 4 + size);
  CHECK(size_prefix(out) == static_cast<std::int32_t>(size));
}
