// Value types shared by every codec: byte views, UUIDs, unknown tagged fields
// and the decode error enum. Views own nothing: whoever decodes keeps the
// frame buffer alive for as long as the decoded value is used.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace kgw {

// A read-only view of bytes that compares by content (std::span does not).
class Bytes {
 public:
  constexpr Bytes() = default;
  constexpr Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  explicit Bytes(std::string_view s)
      : data_(reinterpret_cast<const std::uint8_t*>(s.data())), size_(s.size()) {}
  template <typename Container>
  requires requires(const Container& c) {
    { c.data() } -> std::convertible_to<const std::uint8_t*>;
    c.size();
  }
  explicit Bytes(const Container& c) : data_(c.data()), size_(c.size()) {}

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::uint8_t* begin() const { return data_; }
  const std::uint8_t* end() const { return data_ + size_; }
  std::uint8_t operator[](std::size_t i) const { return data_[i]; }
  Bytes subspan(std::size_t offset, std::size_t n) const { return Bytes(data_ + offset, n); }
  Bytes subspan(std::size_t offset) const { return Bytes(data_ + offset, size_ - offset); }
  std::string_view as_string() const {
    return std::string_view(reinterpret_cast<const char*>(data_), size_);
  }

  friend bool operator==(const Bytes& a, const Bytes& b) {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  bool is_zero() const {
    for (auto b : bytes) {
      if (b != 0) return false;
    }
    return true;
  }
  friend auto operator<=>(const Uuid&, const Uuid&) = default;
};

// A tagged field the schema does not know (or that a newer peer sent): kept
// as raw bytes and written back unchanged, so a proxy never drops it.
struct RawTaggedField {
  std::uint32_t tag = 0;
  Bytes data;
  friend bool operator==(const RawTaggedField&, const RawTaggedField&) = default;
};
using TaggedFields = std::vector<RawTaggedField>;

enum class DecodeError : std::uint8_t {
  kNone = 0,
  kTruncated,       // fewer bytes than the encoding needs
  kNegativeLength,  // a length below -1 (or -1 where null is not allowed)
  kLengthOverCap,   // a length or count above the configured cap
  kBadVarint,       // a varint longer than its type allows
  kTagOrder,        // tagged fields not in strictly ascending tag order
  kBadValue,        // a value outside what the field allows
  kUnsupportedVersion,
};

const char* decode_error_name(DecodeError e);

}  // namespace kgw
