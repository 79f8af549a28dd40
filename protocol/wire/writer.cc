#include "protocol/wire/writer.h"

#include <bit>

namespace kgw {

void Writer::f64(double v) {
  fixed(std::bit_cast<std::uint64_t>(v));
}

void Writer::uvarlong(std::uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<std::uint8_t>(v));
}

void Writer::string(std::string_view s, bool compact) {
  if (compact) {
    uvarint(static_cast<std::uint32_t>(s.size() + 1));
  } else {
    i16(static_cast<std::int16_t>(s.size()));
  }
  raw(Bytes(s));
}

void Writer::nullable_string(const std::optional<std::string_view>& s, bool compact) {
  if (s) {
    string(*s, compact);
  } else if (compact) {
    uvarint(0);
  } else {
    i16(-1);
  }
}

void Writer::bytes(Bytes b, bool compact) {
  if (compact) {
    uvarint(static_cast<std::uint32_t>(b.size() + 1));
  } else {
    i32(static_cast<std::int32_t>(b.size()));
  }
  raw(b);
}

void Writer::nullable_bytes(const std::optional<Bytes>& b, bool compact) {
  if (b) {
    bytes(*b, compact);
  } else if (compact) {
    uvarint(0);
  } else {
    i32(-1);
  }
}

void Writer::array_length(std::int64_t n, bool compact) {
  if (compact) {
    uvarint(static_cast<std::uint32_t>(n + 1));
  } else {
    i32(static_cast<std::int32_t>(n));
  }
}

void Writer::patch_i32(std::size_t at, std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  for (int i = 0; i < 4; ++i) (*out_)[at + i] = static_cast<std::uint8_t>(u >> (24 - 8 * i));
}

std::size_t uvarint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace kgw
