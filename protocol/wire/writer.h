// Writer: encodes Kafka primitive types, appending to a byte vector.
// Sizes of the same values are computed by the free functions below, so a
// caller can reserve once (the generated size() methods use them).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/wire/types.h"

namespace kgw {

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(&out) {}

  std::size_t size() const { return out_->size(); }

  void i8(std::int8_t v) { out_->push_back(static_cast<std::uint8_t>(v)); }
  void i16(std::int16_t v) { fixed(static_cast<std::uint16_t>(v)); }
  void i32(std::int32_t v) { fixed(static_cast<std::uint32_t>(v)); }
  void i64(std::int64_t v) { fixed(static_cast<std::uint64_t>(v)); }
  void u16(std::uint16_t v) { fixed(v); }
  void u32(std::uint32_t v) { fixed(v); }
  void f64(double v);
  void boolean(bool v) { out_->push_back(v ? 1 : 0); }
  void uuid(const Uuid& v) { raw(Bytes(v.bytes.data(), v.bytes.size())); }

  void uvarint(std::uint32_t v) { uvarlong(v); }
  void uvarlong(std::uint64_t v);
  void varint(std::int32_t v) {
    uvarint((static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31));
  }
  void varlong(std::int64_t v) {
    uvarlong((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }

  void raw(Bytes b) { out_->insert(out_->end(), b.begin(), b.end()); }

  void string(std::string_view s, bool compact);
  void nullable_string(const std::optional<std::string_view>& s, bool compact);
  void bytes(Bytes b, bool compact);
  void nullable_bytes(const std::optional<Bytes>& b, bool compact);
  // -1 writes null.
  void array_length(std::int64_t n, bool compact);

  // Patch a big-endian int32 written earlier (frame sizes, batch lengths).
  void patch_i32(std::size_t at, std::int32_t v);

 private:
  template <typename T>
  void fixed(T v) {
    for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) {
      out_->push_back(static_cast<std::uint8_t>(v >> (i * 8)));
    }
  }
  std::vector<std::uint8_t>* out_;
};

// Encoded sizes, mirroring the Writer methods.
std::size_t uvarint_size(std::uint64_t v);
inline std::size_t varint_size(std::int32_t v) {
  return uvarint_size((static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31));
}
inline std::size_t varlong_size(std::int64_t v) {
  return uvarint_size((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}
inline std::size_t string_size(std::string_view s, bool compact) {
  return (compact ? uvarint_size(s.size() + 1) : 2) + s.size();
}
inline std::size_t nullable_string_size(const std::optional<std::string_view>& s, bool compact) {
  return s ? string_size(*s, compact) : (compact ? 1 : 2);
}
inline std::size_t bytes_size(Bytes b, bool compact) {
  return (compact ? uvarint_size(b.size() + 1) : 4) + b.size();
}
inline std::size_t nullable_bytes_size(const std::optional<Bytes>& b, bool compact) {
  return b ? bytes_size(*b, compact) : (compact ? 1 : 4);
}
inline std::size_t array_length_size(std::int64_t n, bool compact) {
  return compact ? uvarint_size(static_cast<std::uint64_t>(n + 1)) : 4;
}

}  // namespace kgw
