#include "storage/keys.h"

#include <cstring>

namespace kgw::keys {
namespace {

constexpr std::uint32_t kTopicEndPartition = 0x80000000u;  // above every int32 partition

void put_id(std::string& out, const Uuid& id) {
  out.append(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

std::string id_partition(const Uuid& topic, std::uint32_t partition) {
  std::string k;
  k.reserve(kEntryKeySize);
  put_id(k, topic);
  put_u32(k, partition);
  return k;
}

}  // namespace

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_i64(std::string& out, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(u >> shift));
}

std::uint32_t get_u32(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

std::int64_t get_i64(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | b[i];
  return static_cast<std::int64_t>(u);
}

std::string encode_i64(std::int64_t v) {
  std::string s;
  put_i64(s, v);
  return s;
}

std::string producer_state_key(const Uuid& topic, std::int32_t partition,
                               std::int64_t producer_id) {
  std::string k(1, kProducerState);
  k += partition_begin(topic, partition);
  put_i64(k, producer_id);
  return k;
}

std::string aborted_txn_key(const Uuid& topic, std::int32_t partition, std::int64_t last_offset,
                            std::int64_t producer_id) {
  std::string k(1, kAbortedTxn);
  k += partition_begin(topic, partition);
  put_i64(k, last_offset);
  put_i64(k, producer_id);
  return k;
}

// Built by appending rather than `std::string(1, kind) + ...`: GCC 12 at -O3
// reports a false -Wrestrict on that operator+ (GCC bug 105329), which broke
// release builds with warnings as errors.
std::string producers_topic_begin(char kind, const Uuid& topic) {
  std::string k(1, kind);
  put_id(k, topic);
  return k;
}

std::string producers_topic_end(char kind, const Uuid& topic) {
  std::string k(1, kind);
  put_id(k, topic);
  put_u32(k, kTopicEndPartition);
  return k;
}

std::string partition_begin(const Uuid& topic, std::int32_t partition) {
  return id_partition(topic, static_cast<std::uint32_t>(partition));
}

std::string partition_end(const Uuid& topic, std::int32_t partition) {
  return id_partition(topic, static_cast<std::uint32_t>(partition) + 1);
}

std::string topic_begin(const Uuid& topic) {
  std::string k;
  put_id(k, topic);
  return k;
}

std::string topic_end(const Uuid& topic) {
  return id_partition(topic, kTopicEndPartition);
}

std::string log_key(const Uuid& topic, std::int32_t partition, std::int64_t offset) {
  std::string k = partition_begin(topic, partition);
  put_i64(k, offset);
  return k;
}

std::string time_key(const Uuid& topic, std::int32_t partition, std::int64_t timestamp) {
  std::string k = partition_begin(topic, partition);
  // Flipping the sign bit maps int64 order onto unsigned byte order.
  put_i64(k, static_cast<std::int64_t>(static_cast<std::uint64_t>(timestamp) ^ (1ull << 63)));
  return k;
}

bool in_partition(std::string_view key, const Uuid& topic, std::int32_t partition) {
  return key.size() == kEntryKeySize && std::memcmp(key.data(), topic.bytes.data(), kIdSize) == 0 &&
         get_u32(key.data() + kIdSize) == static_cast<std::uint32_t>(partition);
}

std::int64_t log_key_offset(std::string_view key) {
  return get_i64(key.data() + kPartitionPrefixSize);
}

std::int64_t time_key_timestamp(std::string_view key) {
  auto flipped = static_cast<std::uint64_t>(get_i64(key.data() + kPartitionPrefixSize));
  return static_cast<std::int64_t>(flipped ^ (1ull << 63));
}

std::string meta_format_key() {
  return std::string(1, kMetaFormat);
}

std::string meta_topic_key(const Uuid& topic) {
  std::string k(1, kMetaTopic);
  put_id(k, topic);
  return k;
}

std::string meta_partition_key(const Uuid& topic, std::int32_t partition) {
  std::string k(1, kMetaPartition);
  put_id(k, topic);
  put_u32(k, static_cast<std::uint32_t>(partition));
  return k;
}

std::string meta_partitions_begin(const Uuid& topic) {
  std::string k(1, kMetaPartition);
  put_id(k, topic);
  return k;
}

std::string meta_partitions_end(const Uuid& topic) {
  std::string k = meta_partitions_begin(topic);
  put_u32(k, kTopicEndPartition);
  return k;
}

std::string meta_segment_key(const Uuid& topic, std::int32_t partition, std::int64_t base) {
  std::string k = meta_segments_begin(topic, partition);
  put_i64(k, base);
  return k;
}

std::string meta_segments_begin(const Uuid& topic, std::int32_t partition) {
  std::string k(1, kMetaSegment);
  put_id(k, topic);
  put_u32(k, static_cast<std::uint32_t>(partition));
  return k;
}

std::string meta_segments_end(const Uuid& topic, std::int32_t partition) {
  std::string k(1, kMetaSegment);
  put_id(k, topic);
  put_u32(k, static_cast<std::uint32_t>(partition) + 1);
  return k;
}

std::string meta_topic_segments_begin(const Uuid& topic) {
  std::string k(1, kMetaSegment);
  put_id(k, topic);
  return k;
}

std::string meta_topic_segments_end(const Uuid& topic) {
  std::string k(1, kMetaSegment);
  put_id(k, topic);
  put_u32(k, kTopicEndPartition);
  return k;
}

std::string meta_epoch_key(const Uuid& topic, std::int32_t partition, std::int32_t epoch) {
  std::string k(1, kMetaEpoch);
  put_id(k, topic);
  put_u32(k, static_cast<std::uint32_t>(partition));
  put_u32(k, static_cast<std::uint32_t>(epoch));
  return k;
}

std::string meta_epochs_begin(const Uuid& topic, std::int32_t partition) {
  std::string k(1, kMetaEpoch);
  put_id(k, topic);
  put_u32(k, static_cast<std::uint32_t>(partition));
  return k;
}

std::string meta_epochs_end(const Uuid& topic, std::int32_t partition) {
  return meta_epochs_begin(topic, partition + 1);
}

std::string meta_topic_epochs_begin(const Uuid& topic) {
  std::string k(1, kMetaEpoch);
  put_id(k, topic);
  return k;
}

std::string meta_topic_epochs_end(const Uuid& topic) {
  std::string k(1, kMetaEpoch);
  put_id(k, topic);
  put_u32(k, kTopicEndPartition);
  return k;
}

std::string meta_cluster_key(std::string_view name) {
  std::string k(1, kMetaCluster);
  k.append(name);
  return k;
}

std::string uuid_hex(const Uuid& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(32);
  for (auto b : id.bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0x0f]);
  }
  return s;
}

bool parse_uuid_hex(std::string_view hex, Uuid& out) {
  if (hex.size() != 32) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 16; ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

}  // namespace kgw::keys
