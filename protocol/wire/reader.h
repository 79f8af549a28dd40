// Reader: decodes Kafka primitive types from a byte view.
//
// Errors are sticky instead of exceptions: the first failure records a
// DecodeError, every later read returns a zero value, and the caller checks
// ok() once at the end (or before any allocation sized from the wire).
// Every length and count from the wire is checked against the bytes left and
// against the caps in DecodeLimits before anything is allocated.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/wire/types.h"

namespace kgw {

struct DecodeLimits {
  // Largest string, bytes or records field accepted. Default: 100 MiB.
  std::size_t max_bytes = 100u << 20;
  // Largest element count of one array. Default: 1,000,000.
  std::size_t max_array = 1'000'000;
};

class Reader {
 public:
  explicit Reader(Bytes buf, const DecodeLimits& limits = default_limits())
      : begin_(buf.data()), p_(buf.data()), end_(buf.data() + buf.size()), limits_(&limits) {}

  static const DecodeLimits& default_limits();

  bool ok() const { return error_ == DecodeError::kNone; }
  DecodeError error() const { return error_; }
  void fail(DecodeError e) {
    if (error_ == DecodeError::kNone) error_ = e;
    p_ = end_;
  }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  // A reader over a part of this one's buffer (tagged field payloads), same caps.
  Reader sub(Bytes b) const { return Reader(b, *limits_); }
  std::size_t consumed() const { return static_cast<std::size_t>(p_ - begin_); }
  const std::uint8_t* position() const { return p_; }

  std::int8_t i8() { return static_cast<std::int8_t>(fixed<std::uint8_t>()); }
  std::int16_t i16() { return static_cast<std::int16_t>(fixed<std::uint16_t>()); }
  std::int32_t i32() { return static_cast<std::int32_t>(fixed<std::uint32_t>()); }
  std::int64_t i64() { return static_cast<std::int64_t>(fixed<std::uint64_t>()); }
  std::uint16_t u16() { return fixed<std::uint16_t>(); }
  std::uint32_t u32() { return fixed<std::uint32_t>(); }
  double f64();
  bool boolean() { return fixed<std::uint8_t>() != 0; }
  Uuid uuid();

  std::uint32_t uvarint();   // unsigned LEB128, at most 5 bytes
  std::uint64_t uvarlong();  // unsigned LEB128, at most 10 bytes
  std::int32_t varint();     // zigzag
  std::int64_t varlong();    // zigzag

  // Raw bytes; fails (and returns an empty view) if fewer than n are left.
  Bytes take(std::size_t n);
  void skip(std::size_t n) { take(n); }

  // Strings and bytes. `compact` selects the flexible-version encoding
  // (unsigned varint length + 1) over the classic one (int16/int32 length).
  std::string_view string(bool compact);
  std::optional<std::string_view> nullable_string(bool compact);
  Bytes bytes(bool compact);
  std::optional<Bytes> nullable_bytes(bool compact);

  // Array length: -1 means null (only when `nullable`). The count is checked
  // against the cap and against the bytes left (`min_element_size` bytes per
  // element at least), so a vector can be reserved with it safely.
  std::int32_t array_length(bool compact, bool nullable, std::size_t min_element_size);

 private:
  template <typename T>
  T fixed() {
    if (remaining() < sizeof(T)) {
      fail(DecodeError::kTruncated);
      return 0;
    }
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | p_[i]);
    p_ += sizeof(T);
    return v;
  }
  // Length of a string/bytes field: -1 for null, otherwise checked.
  std::int64_t length(bool compact, bool wide, bool nullable);

  const std::uint8_t* begin_;
  const std::uint8_t* p_;
  const std::uint8_t* end_;
  const DecodeLimits* limits_;
  DecodeError error_ = DecodeError::kNone;
};

}  // namespace kgw
