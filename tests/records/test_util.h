// Helpers shared by the record-batch tests.
#pragma once

#include <cctype>
#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/records/crc32c.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_iterator.h"
#include "protocol/wire/types.h"

namespace kgw::test {

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

// Text-like data that every codec shrinks, but not to nothing.
inline std::vector<std::uint8_t> compressible_bytes(std::size_t n, std::uint32_t seed) {
  static const char* words[] = {"kafka ", "record ", "batch ", "offset ", "leader ",
                                "epoch ", "zstd ",   "gzip ",  "lz4 ",    "snappy "};
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v;
  v.reserve(n);
  while (v.size() < n) {
    const char* w = words[rng() % 10];
    for (const char* p = w; *p && v.size() < n; ++p) v.push_back(static_cast<std::uint8_t>(*p));
  }
  return v;
}

// prefix + decimal i. (Not `"k" + std::to_string(i)`: GCC 12 at -O3 reports
// a false -Wrestrict on that, GCC bug 105329.)
inline std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

inline Bytes view(const std::vector<std::uint8_t>& v) {
  return Bytes(v.data(), v.size());
}
inline Bytes view(std::string_view s) {
  return Bytes(s);
}

// Reads a fixture: lines starting with '#' are comments, the rest is hex.
inline std::vector<std::uint8_t> load_hex_fixture(const std::string& path, bool& ok) {
  std::ifstream in(path);
  ok = static_cast<bool>(in);
  std::vector<std::uint8_t> out;
  std::string line;
  std::string hex;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    for (char c : line) {
      if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
    }
  }
  if (hex.size() % 2 != 0) ok = false;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Recomputes the CRC of a batch after a test edited CRC-covered bytes, so
// the edit reaches the checks behind the CRC.
inline void fix_crc(std::vector<std::uint8_t>& batch) {
  using H = RecordBatchHeader;
  if (batch.size() < H::kSize) return;
  std::uint32_t crc =
      crc32c(Bytes(batch.data() + H::kAttributesAt, batch.size() - H::kAttributesAt));
  for (int i = 0; i < 4; ++i) batch[H::kCrcAt + i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
}

inline void put_be32(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<std::uint8_t>(x >> (24 - 8 * i));
}

// A record copied out of its buffer, for comparisons.
struct DecodedRecord {
  std::int64_t timestamp = 0;  // absolute: base_timestamp + delta
  std::int32_t offset_delta = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  friend bool operator==(const DecodedRecord&, const DecodedRecord&) = default;
};

inline std::optional<std::string> copy(const std::optional<Bytes>& b) {
  if (!b) return std::nullopt;
  return std::string(b->as_string());
}

// The whole read path a broker or consumer runs on one batch: validate,
// decompress, iterate.
inline RecordError decode_batch(Bytes batch, RecordBatchHeader& h, std::vector<DecodedRecord>& out,
                                std::size_t max_decompressed = 64u << 20) {
  out.clear();
  if (RecordError e = validate_record_batch(batch, h); e != RecordError::kNone) return e;
  std::vector<std::uint8_t> scratch;
  Bytes records;
  if (RecordError e = batch_records(batch, h, scratch, records, max_decompressed);
      e != RecordError::kNone) {
    return e;
  }
  RecordIterator it(records, h.record_count);
  Record r;
  while (it.next(r)) {
    DecodedRecord d;
    // Wrapping add: fuzzed batches carry any values, and signed overflow
    // would be UB.
    d.timestamp = static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                            static_cast<std::uint64_t>(r.timestamp_delta));
    d.offset_delta = r.offset_delta;
    d.key = copy(r.key);
    d.value = copy(r.value);
    for (const RecordHeader& rh : r.headers)
      d.headers.emplace_back(std::string(rh.key), copy(rh.value));
    out.push_back(std::move(d));
  }
  return it.error();
}

}  // namespace kgw::test
