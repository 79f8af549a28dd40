// TestFiller: deterministic pseudo-random values for the generated fill()
// functions, so every API x version round trip covers non-default values,
// nulls, empty and multi-element arrays, and unknown tagged fields.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "protocol/wire/types.h"

namespace kgw::testing {

class TestFiller {
 public:
  explicit TestFiller(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}

  std::uint64_t next() {
    // splitmix64
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  template <typename T>
  T integer() {
    // Mix small, negative and extreme values: varint and sign paths matter.
    switch (next() % 4) {
      case 0:
        return static_cast<T>(next() % 5);
      case 1:
        return static_cast<T>(-static_cast<std::int64_t>(next() % 3) - 1);
      default:
        return static_cast<T>(next());
    }
  }
  bool boolean() { return (next() & 1) != 0; }
  double f64() { return static_cast<double>(next() % 100000) / 7.0; }
  Uuid uuid() {
    Uuid u;
    for (auto& b : u.bytes) b = static_cast<std::uint8_t>(next());
    return u;
  }
  bool null() { return next() % 4 == 0; }
  std::size_t count() { return next() % 3; }

  std::string_view string() {
    std::string s;
    const std::size_t n = next() % 12;
    for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + next() % 26));
    return keep(std::move(s));
  }
  Bytes bytes() {
    std::string s;
    const std::size_t n = next() % 40;
    for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(next()));
    return Bytes(keep(std::move(s)));
  }
  // Sometimes one unknown tag, numbered above any tag the schemas use.
  void unknown_tags(TaggedFields& tags) {
    if (next() % 3 == 0)
      tags.push_back(RawTaggedField{1000 + static_cast<std::uint32_t>(next() % 50), bytes()});
  }

 private:
  std::string_view keep(std::string s) {
    arena_.push_back(std::move(s));
    return arena_.back();
  }
  std::uint64_t state_;
  std::deque<std::string> arena_;  // stable addresses for the views handed out
};

}  // namespace kgw::testing
