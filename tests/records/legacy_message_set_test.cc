// Legacy message sets (magic 0/1) up-converted to one v2 batch: the
// decompression budget covers every wrapper of the request together, so
// many small wrappers cannot inflate past it.
#include <doctest/doctest.h>

#include <zlib.h>

#include <string_view>
#include <vector>

#include "protocol/records/compression.h"
#include "protocol/records/legacy_message_set.h"
#include "protocol/records/record_batch.h"
#include "protocol/wire/writer.h"

namespace kgw {
namespace {

// One message set entry: offset, size, crc, magic 1, attributes,
// timestamp, null key, value.
void put_message(std::vector<std::uint8_t>& out, std::int8_t attributes, Bytes value) {
  std::vector<std::uint8_t> body;
  Writer b(body);
  b.i8(1);
  b.i8(attributes);
  b.i64(1'700'000'000'000);
  b.i32(-1);
  b.i32(static_cast<std::int32_t>(value.size()));
  b.raw(value);
  Writer w(out);
  w.i64(0);
  w.i32(static_cast<std::int32_t>(4 + body.size()));
  w.u32(static_cast<std::uint32_t>(crc32(0L, body.data(), static_cast<uInt>(body.size()))));
  w.raw(Bytes(body));
}

// A gzip wrapper whose inner set is one message of `zeros` zero bytes.
std::vector<std::uint8_t> gzip_wrapper(std::size_t zeros) {
  std::vector<std::uint8_t> value(zeros, 0);
  std::vector<std::uint8_t> inner;
  put_message(inner, 0, Bytes(value));
  std::vector<std::uint8_t> compressed;
  REQUIRE(compress(CompressionCodec::kGzip, Bytes(inner), compressed) == RecordError::kNone);
  std::vector<std::uint8_t> wrapper;
  put_message(wrapper, 1, Bytes(compressed));
  return wrapper;
}

std::vector<std::uint8_t> wrappers(int count, std::size_t zeros_each) {
  const auto one = gzip_wrapper(zeros_each);
  std::vector<std::uint8_t> set;
  for (int i = 0; i < count; ++i) set.insert(set.end(), one.begin(), one.end());
  return set;
}

TEST_CASE("legacy: wrappers within the budget convert into one batch") {
  const auto set = wrappers(3, 100'000);
  std::vector<std::uint8_t> out;
  DecompressionBudget budget(1 << 20);
  REQUIRE(convert_legacy_message_set(Bytes(set), budget, out) == RecordError::kNone);
  RecordBatchHeader h;
  REQUIRE(validate_record_batch(Bytes(out), h) == RecordError::kNone);
  CHECK(h.record_count == 3);
  CHECK(budget.left() < (1u << 20) - 300'000);
}

TEST_CASE("legacy: many small wrappers share one budget") {
  // Each wrapper inflates to ~1 MiB, under the 4 MiB budget alone; ten of
  // them are over it together.
  const auto set = wrappers(10, 1 << 20);
  std::vector<std::uint8_t> out = {1, 2, 3};
  DecompressionBudget budget(4u << 20);
  CHECK(convert_legacy_message_set(Bytes(set), budget, out) == RecordError::kDecompressTooLarge);
  CHECK(out == std::vector<std::uint8_t>{1, 2, 3});  // unchanged on error
}

TEST_CASE("legacy: the budget is shared by the message sets of one request") {
  const auto set = wrappers(3, 1 << 20);
  DecompressionBudget budget(5u << 20);
  std::vector<std::uint8_t> first;
  std::vector<std::uint8_t> second;
  CHECK(convert_legacy_message_set(Bytes(set), budget, first) == RecordError::kNone);
  CHECK(convert_legacy_message_set(Bytes(set), budget, second) == RecordError::kDecompressTooLarge);
}

TEST_CASE("legacy: one wrapper over the budget is refused") {
  const auto set = wrappers(1, 2 << 20);
  std::vector<std::uint8_t> out;
  DecompressionBudget budget(1 << 20);
  CHECK(convert_legacy_message_set(Bytes(set), budget, out) == RecordError::kDecompressTooLarge);
}

}  // namespace
}  // namespace kgw
