#include "protocol/wire/reader.h"

#include <bit>

namespace kgw {

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "none";
    case DecodeError::kTruncated:
      return "truncated";
    case DecodeError::kNegativeLength:
      return "negative length";
    case DecodeError::kLengthOverCap:
      return "length over cap";
    case DecodeError::kBadVarint:
      return "malformed varint";
    case DecodeError::kTagOrder:
      return "tagged fields out of order";
    case DecodeError::kBadValue:
      return "bad value";
    case DecodeError::kUnsupportedVersion:
      return "unsupported version";
  }
  return "unknown";
}

const DecodeLimits& Reader::default_limits() {
  static const DecodeLimits limits;
  return limits;
}

double Reader::f64() {
  return std::bit_cast<double>(fixed<std::uint64_t>());
}

Uuid Reader::uuid() {
  Uuid u;
  Bytes b = take(16);
  if (b.size() == 16) std::memcpy(u.bytes.data(), b.data(), 16);
  return u;
}

std::uint64_t Reader::uvarlong() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p_ == end_) {
      fail(DecodeError::kTruncated);
      return 0;
    }
    std::uint8_t b = *p_++;
    if (shift == 63 && b > 1) break;  // would overflow 64 bits
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  fail(DecodeError::kBadVarint);
  return 0;
}

std::uint32_t Reader::uvarint() {
  std::uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (p_ == end_) {
      fail(DecodeError::kTruncated);
      return 0;
    }
    std::uint8_t b = *p_++;
    if (shift == 28 && b > 0x0f) break;  // would overflow 32 bits
    v |= static_cast<std::uint32_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  fail(DecodeError::kBadVarint);
  return 0;
}

std::int32_t Reader::varint() {
  std::uint32_t u = uvarint();
  return static_cast<std::int32_t>((u >> 1) ^ (~(u & 1) + 1));
}

std::int64_t Reader::varlong() {
  std::uint64_t u = uvarlong();
  return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

Bytes Reader::take(std::size_t n) {
  if (remaining() < n) {
    fail(DecodeError::kTruncated);
    return {};
  }
  Bytes b(p_, n);
  p_ += n;
  return b;
}

std::int64_t Reader::length(bool compact, bool wide, bool nullable) {
  std::int64_t n;
  if (compact) {
    n = static_cast<std::int64_t>(uvarint()) - 1;
  } else {
    n = wide ? i32() : i16();
  }
  if (!ok()) return 0;
  if (n < -1 || (n == -1 && !nullable)) {
    fail(DecodeError::kNegativeLength);
    return 0;
  }
  if (n > 0 && static_cast<std::size_t>(n) > limits_->max_bytes) {
    fail(DecodeError::kLengthOverCap);
    return 0;
  }
  if (n > 0 && static_cast<std::size_t>(n) > remaining()) {
    fail(DecodeError::kTruncated);
    return 0;
  }
  return n;
}

std::string_view Reader::string(bool compact) {
  std::int64_t n = length(compact, false, false);
  return take(static_cast<std::size_t>(n)).as_string();
}

std::optional<std::string_view> Reader::nullable_string(bool compact) {
  std::int64_t n = length(compact, false, true);
  if (n < 0 || !ok()) return std::nullopt;
  return take(static_cast<std::size_t>(n)).as_string();
}

Bytes Reader::bytes(bool compact) {
  std::int64_t n = length(compact, true, false);
  return take(static_cast<std::size_t>(n));
}

std::optional<Bytes> Reader::nullable_bytes(bool compact) {
  std::int64_t n = length(compact, true, true);
  if (n < 0 || !ok()) return std::nullopt;
  return take(static_cast<std::size_t>(n));
}

std::int32_t Reader::array_length(bool compact, bool nullable, std::size_t min_element_size) {
  std::int64_t n = compact ? static_cast<std::int64_t>(uvarint()) - 1 : i32();
  if (!ok()) return 0;
  if (n < -1 || (n == -1 && !nullable)) {
    fail(DecodeError::kNegativeLength);
    return 0;
  }
  if (n > 0 && static_cast<std::size_t>(n) > limits_->max_array) {
    fail(DecodeError::kLengthOverCap);
    return 0;
  }
  if (n > 0 && static_cast<std::size_t>(n) * min_element_size > remaining()) {
    fail(DecodeError::kTruncated);
    return 0;
  }
  return static_cast<std::int32_t>(n);
}

}  // namespace kgw
