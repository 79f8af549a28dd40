#include "storage/offset_map.h"

#include <algorithm>
#include <cstring>

namespace kgw {

namespace {

constexpr std::size_t kInitialEntries = 1u << 12;

std::uint64_t rotl(std::uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

std::uint64_t fmix(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // the hash is only ever compared within one process
}

}  // namespace

OffsetMap::OffsetMap(std::size_t max_bytes)
    : max_entries_(std::max<std::size_t>(max_bytes / sizeof(Entry), 16)) {
  table_.resize(std::min(kInitialEntries, max_entries_));
}

// MurmurHash3 x64 128 (Austin Appleby's public-domain algorithm): fast,
// well mixed, 128 bits.
void OffsetMap::hash(Bytes key, std::uint64_t& out1, std::uint64_t& out2) {
  const std::uint8_t* data = key.data();
  const std::size_t len = key.size();
  const std::size_t nblocks = len / 16;
  std::uint64_t h1 = 0x9368e53c2f6af274ULL;
  std::uint64_t h2 = 0x586dcd208f7cd3fdULL;
  const std::uint64_t c1 = 0x87c37b91114253d5ULL;
  const std::uint64_t c2 = 0x4cf5ad432745937fULL;
  for (std::size_t i = 0; i < nblocks; ++i) {
    std::uint64_t k1 = load64(data + i * 16);
    std::uint64_t k2 = load64(data + i * 16 + 8);
    k1 *= c1;
    k1 = rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = rotl(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= c2;
    k2 = rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = rotl(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  const std::uint8_t* tail = data + nblocks * 16;
  std::uint64_t k1 = 0;
  std::uint64_t k2 = 0;
  const std::size_t rest = len & 15;
  for (std::size_t i = rest; i > 8; --i) k2 ^= std::uint64_t{tail[i - 1]} << ((i - 9) * 8);
  if (rest > 8) {
    k2 *= c2;
    k2 = rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
  }
  for (std::size_t i = std::min<std::size_t>(rest, 8); i > 0; --i) {
    k1 ^= std::uint64_t{tail[i - 1]} << ((i - 1) * 8);
  }
  if (rest > 0) {
    k1 *= c1;
    k1 = rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
  }
  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 += h2;
  h2 += h1;
  out1 = h1;
  out2 = h2;
}

std::size_t OffsetMap::slot(std::uint64_t h1, std::uint64_t h2) const {
  const std::size_t n = table_.size();
  std::size_t i = static_cast<std::size_t>(h1 % n);
  while (table_[i].offset >= 0 && !(table_[i].h1 == h1 && table_[i].h2 == h2)) {
    i = i + 1 == n ? 0 : i + 1;
  }
  return i;
}

bool OffsetMap::grow() {
  if (table_.size() >= max_entries_) return false;
  std::vector<Entry> old;
  old.swap(table_);
  table_.assign(std::min(old.size() * 2, max_entries_), Entry{});
  for (const Entry& e : old) {
    if (e.offset >= 0) table_[slot(e.h1, e.h2)] = e;
  }
  return true;
}

bool OffsetMap::put(Bytes key, std::int64_t offset) {
  std::uint64_t h1 = 0, h2 = 0;
  hash(key, h1, h2);
  std::size_t i = slot(h1, h2);
  if (table_[i].offset >= 0) {
    table_[i].offset = offset;
    return true;
  }
  // Linear probing stays fast below 3/4 full.
  if ((size_ + 1) * 4 > table_.size() * 3) {
    if (!grow()) return false;
    i = slot(h1, h2);
  }
  table_[i] = Entry{h1, h2, offset};
  ++size_;
  return true;
}

std::int64_t OffsetMap::get(Bytes key) const {
  std::uint64_t h1 = 0, h2 = 0;
  hash(key, h1, h2);
  return table_[slot(h1, h2)].offset;
}

void OffsetMap::clear() {
  std::vector<Entry> fresh(std::min(kInitialEntries, max_entries_));
  table_.swap(fresh);
  size_ = 0;
}

double OffsetMap::utilization() const {
  return static_cast<double>(size_) / (static_cast<double>(max_entries_) * 0.75);
}

}  // namespace kgw
