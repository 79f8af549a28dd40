#include "protocol/records/legacy_message_set.h"

#include <zlib.h>

#include <optional>

#include "protocol/records/compression.h"
#include "protocol/records/record_batch_builder.h"

namespace kgw {

namespace {

std::int64_t get_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  if (n == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

struct Message {
  std::int8_t magic = 0;
  std::int8_t attributes = 0;
  std::int64_t timestamp = -1;
  std::optional<Bytes> key;
  std::optional<Bytes> value;
};

// Reads a nullable bytes field (i32 length, -1 null) at `pos` of `m`.
bool read_bytes(Bytes m, std::size_t& pos, std::optional<Bytes>& out) {
  if (m.size() - pos < 4) return false;
  const std::int64_t len = get_be(m.data() + pos, 4);
  pos += 4;
  if (len == -1) {
    out.reset();
    return true;
  }
  if (len < 0 || static_cast<std::uint64_t>(len) > m.size() - pos) return false;
  out = m.subspan(pos, static_cast<std::size_t>(len));
  pos += static_cast<std::size_t>(len);
  return true;
}

// Parses one message (crc .. value) and checks its CRC.
RecordError parse_message(Bytes m, Message& out) {
  constexpr std::size_t kMinSize = 4 + 1 + 1 + 4 + 4;  // crc magic attrs key value
  if (m.size() < kMinSize) return RecordError::kTruncated;
  const auto crc = static_cast<std::uint32_t>(get_be(m.data(), 4));
  const uLong actual = crc32(0L, m.data() + 4, static_cast<uInt>(m.size() - 4));
  if (actual != crc) return RecordError::kBadCrc;
  out.magic = static_cast<std::int8_t>(m[4]);
  out.attributes = static_cast<std::int8_t>(m[5]);
  std::size_t pos = 6;
  if (out.magic == 1) {
    if (m.size() - pos < 8) return RecordError::kTruncated;
    out.timestamp = get_be(m.data() + pos, 8);
    pos += 8;
  } else if (out.magic == 0) {
    out.timestamp = -1;  // magic 0 has no timestamp
  } else {
    return RecordError::kBadMagic;
  }
  if (!read_bytes(m, pos, out.key) || !read_bytes(m, pos, out.value)) {
    return RecordError::kBadRecord;
  }
  return pos == m.size() ? RecordError::kNone : RecordError::kBadRecord;
}

// Calls `f(message)` for each entry of a message set; the set must end on
// an entry boundary.
template <typename F>
RecordError for_each_message(Bytes set, F&& f) {
  std::size_t pos = 0;
  while (pos < set.size()) {
    if (set.size() - pos < 12) return RecordError::kTruncated;
    const std::int64_t size = get_be(set.data() + pos + 8, 4);
    pos += 12;
    if (size < 0 || static_cast<std::uint64_t>(size) > set.size() - pos) {
      return RecordError::kTruncated;
    }
    Message m;
    RecordError e = parse_message(set.subspan(pos, static_cast<std::size_t>(size)), m);
    if (e != RecordError::kNone) return e;
    e = f(m);
    if (e != RecordError::kNone) return e;
    pos += static_cast<std::size_t>(size);
  }
  return RecordError::kNone;
}

}  // namespace

bool DecompressionBudget::take(std::size_t n) {
  std::size_t left = left_.load(std::memory_order_relaxed);
  do {
    if (n > left) return false;
  } while (!left_.compare_exchange_weak(left, left - n, std::memory_order_relaxed));
  return true;
}

RecordError convert_legacy_message_set(Bytes message_set, DecompressionBudget& budget,
                                       std::vector<std::uint8_t>& out) {
  // Inner message sets must outlive the builder's add() calls only, but
  // keys and values are views into them: keep every one until the end.
  std::vector<std::vector<std::uint8_t>> inner_sets;
  std::optional<CompressionCodec> codec;
  struct Pending {
    std::int64_t timestamp;
    std::optional<Bytes> key;
    std::optional<Bytes> value;
  };
  std::vector<Pending> records;
  RecordError e = for_each_message(message_set, [&](const Message& m) {
    const int c = m.attributes & 0x07;
    if (c == 0) {
      records.push_back({m.timestamp, m.key, m.value});
      return RecordError::kNone;
    }
    if (c > 3) return RecordError::kUnsupportedCodec;  // zstd needs magic 2
    const auto wrapper_codec = static_cast<CompressionCodec>(c);
    if (!codec) codec = wrapper_codec;
    if (!m.value) return RecordError::kBadRecord;
    std::vector<std::uint8_t>& inner = inner_sets.emplace_back();
    RecordError d = decompress(wrapper_codec, *m.value, inner, budget.left());
    if (d != RecordError::kNone) return d;
    if (!budget.take(inner.size())) return RecordError::kDecompressTooLarge;
    // Magic 1 wrappers with LogAppendTime (attributes bit 3) stamp every
    // inner message with the wrapper's time.
    const bool append_time = m.magic == 1 && (m.attributes & 0x08) != 0;
    return for_each_message(Bytes(inner), [&](const Message& im) {
      if ((im.attributes & 0x07) != 0) return RecordError::kBadRecord;  // nested
      if (im.magic != m.magic) return RecordError::kBadMagic;
      // A record's bookkeeping counts too: 60 MB of 26-byte messages is
      // 2.4 million records.
      if (!budget.take(sizeof(Pending))) return RecordError::kDecompressTooLarge;
      records.push_back({append_time ? m.timestamp : im.timestamp, im.key, im.value});
      return RecordError::kNone;
    });
  });
  if (e != RecordError::kNone) return e;
  if (records.empty()) return RecordError::kTruncated;
  RecordBatchOptions options;
  options.codec = codec.value_or(CompressionCodec::kNone);
  RecordBatchBuilder builder(options);
  for (const auto& r : records) {
    e = builder.add(r.timestamp, r.key, r.value);
    if (e != RecordError::kNone) return e;
  }
  return builder.build(out);
}

}  // namespace kgw
