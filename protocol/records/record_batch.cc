#include "protocol/records/record_batch.h"

#include "protocol/records/crc32c.h"

namespace kgw {
namespace {

std::uint64_t load_be(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void store_be(std::uint8_t* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * (n - 1 - i)));
}

std::int32_t load_i32(const std::uint8_t* p) {
  return static_cast<std::int32_t>(load_be(p, 4));
}

// Magic is at the same offset in every message format, which is what lets
// a reader tell them apart before interpreting anything else.
RecordError check_magic(std::int8_t magic) {
  if (magic == 0 || magic == 1) return RecordError::kLegacyMessageFormat;
  if (magic != 2) return RecordError::kBadMagic;
  return RecordError::kNone;
}

}  // namespace

RecordError parse_record_batch_header(Bytes in, RecordBatchHeader& out) {
  using H = RecordBatchHeader;
  if (in.size() <= H::kMagicAt) return RecordError::kTruncated;
  if (RecordError e = check_magic(static_cast<std::int8_t>(in[H::kMagicAt]));
      e != RecordError::kNone) {
    return e;
  }
  if (in.size() < H::kSize) return RecordError::kTruncated;
  const std::uint8_t* p = in.data();
  H h;
  h.base_offset = static_cast<std::int64_t>(load_be(p + H::kBaseOffsetAt, 8));
  h.batch_length = load_i32(p + H::kBatchLengthAt);
  h.partition_leader_epoch = load_i32(p + H::kLeaderEpochAt);
  h.magic = static_cast<std::int8_t>(p[H::kMagicAt]);
  h.crc = static_cast<std::uint32_t>(load_be(p + H::kCrcAt, 4));
  h.attributes = static_cast<std::int16_t>(load_be(p + H::kAttributesAt, 2));
  h.last_offset_delta = load_i32(p + H::kLastOffsetDeltaAt);
  h.base_timestamp = static_cast<std::int64_t>(load_be(p + H::kBaseTimestampAt, 8));
  h.max_timestamp = static_cast<std::int64_t>(load_be(p + H::kMaxTimestampAt, 8));
  h.producer_id = static_cast<std::int64_t>(load_be(p + H::kProducerIdAt, 8));
  h.producer_epoch = static_cast<std::int16_t>(load_be(p + H::kProducerEpochAt, 2));
  h.base_sequence = load_i32(p + H::kBaseSequenceAt);
  h.record_count = load_i32(p + H::kRecordCountAt);
  if (h.batch_length < H::kMinBatchLength) return RecordError::kBadLength;
  out = h;
  return RecordError::kNone;
}

RecordError validate_record_batch(Bytes batch, RecordBatchHeader& out) {
  using H = RecordBatchHeader;
  H h;
  if (RecordError e = parse_record_batch_header(batch, h); e != RecordError::kNone) return e;
  if (batch.size() < h.total_size()) return RecordError::kTruncated;
  if (batch.size() > h.total_size()) return RecordError::kBadLength;
  if (crc32c(batch.subspan(H::kAttributesAt)) != h.crc) return RecordError::kBadCrc;
  if (!is_known_codec(h.codec_bits())) return RecordError::kUnsupportedCodec;
  if (h.record_count < 0 || h.last_offset_delta < 0) return RecordError::kBadRecord;
  if (static_cast<std::int64_t>(h.record_count) > std::int64_t{h.last_offset_delta} + 1) {
    return RecordError::kBadRecord;
  }
  if (h.compression() == CompressionCodec::kNone &&
      static_cast<std::size_t>(h.record_count) > h.records_size() / H::kMinRecordSize) {
    return RecordError::kBadRecord;
  }
  out = h;
  return RecordError::kNone;
}

RecordError check_producer_batch(const RecordBatchHeader& h) {
  if (h.record_count <= 0) return RecordError::kBadRecord;
  if (std::int64_t{h.last_offset_delta} != std::int64_t{h.record_count} - 1) {
    return RecordError::kBadRecord;
  }
  if (h.is_control()) return RecordError::kBadRecord;
  return RecordError::kNone;
}

RecordError split_record_batches(Bytes records, std::vector<Bytes>& batches,
                                 std::size_t* partial_tail) {
  using H = RecordBatchHeader;
  std::size_t pos = 0;
  while (pos < records.size()) {
    Bytes rest = records.subspan(pos);
    if (rest.size() < H::kLogOverhead) break;  // partial: not even the length
    std::int32_t length = load_i32(rest.data() + H::kBatchLengthAt);
    if (rest.size() > H::kMagicAt) {
      if (RecordError e = check_magic(static_cast<std::int8_t>(rest[H::kMagicAt]));
          e != RecordError::kNone) {
        return e;
      }
      if (length < H::kMinBatchLength) return RecordError::kBadLength;
    } else if (length < 0 || H::kLogOverhead + static_cast<std::size_t>(length) <= rest.size()) {
      // Magic not visible yet (at most 16 bytes left). An entry that would
      // end within them is shorter than any message format allows.
      return RecordError::kBadLength;
    }
    // Compare in size_t: length is >= 0 here, and a huge one just means
    // "partial", never an allocation.
    std::size_t total = H::kLogOverhead + static_cast<std::size_t>(length);
    if (total > rest.size()) break;
    batches.push_back(rest.subspan(0, total));
    pos += total;
  }
  std::size_t tail = records.size() - pos;
  if (partial_tail != nullptr) {
    *partial_tail = tail;
    return RecordError::kNone;
  }
  return tail == 0 ? RecordError::kNone : RecordError::kTruncated;
}

RecordError set_base_offset(std::span<std::uint8_t> batch, std::int64_t base_offset) {
  RecordBatchHeader h;
  if (RecordError e = parse_record_batch_header(Bytes(batch.data(), batch.size()), h);
      e != RecordError::kNone) {
    return e;
  }
  store_be(batch.data() + RecordBatchHeader::kBaseOffsetAt, static_cast<std::uint64_t>(base_offset),
           8);
  return RecordError::kNone;
}

RecordError set_partition_leader_epoch(std::span<std::uint8_t> batch, std::int32_t epoch) {
  RecordBatchHeader h;
  if (RecordError e = parse_record_batch_header(Bytes(batch.data(), batch.size()), h);
      e != RecordError::kNone) {
    return e;
  }
  store_be(batch.data() + RecordBatchHeader::kLeaderEpochAt, static_cast<std::uint32_t>(epoch), 4);
  return RecordError::kNone;
}

namespace {

// The header of `batch`, which must be exactly one whole batch (the
// in-place updates below rewrite its CRC over all of it).
RecordError parse_whole_batch_header(std::span<const std::uint8_t> batch, RecordBatchHeader& h) {
  if (RecordError e = parse_record_batch_header(Bytes(batch.data(), batch.size()), h);
      e != RecordError::kNone) {
    return e;
  }
  if (batch.size() != h.total_size()) {
    return batch.size() < h.total_size() ? RecordError::kTruncated : RecordError::kBadLength;
  }
  return RecordError::kNone;
}

}  // namespace

RecordError set_log_append_time(std::span<std::uint8_t> batch, std::int64_t timestamp) {
  using H = RecordBatchHeader;
  H h;
  if (RecordError e = parse_whole_batch_header(batch, h); e != RecordError::kNone) return e;
  auto attributes = static_cast<std::uint16_t>(h.attributes | H::kTimestampTypeBit);
  store_be(batch.data() + H::kAttributesAt, attributes, 2);
  store_be(batch.data() + H::kMaxTimestampAt, static_cast<std::uint64_t>(timestamp), 8);
  Bytes covered(batch.data() + H::kAttributesAt, batch.size() - H::kAttributesAt);
  store_be(batch.data() + H::kCrcAt, crc32c(covered), 4);
  return RecordError::kNone;
}

RecordError set_max_timestamp(std::span<std::uint8_t> batch, std::int64_t timestamp) {
  using H = RecordBatchHeader;
  H h;
  if (RecordError e = parse_whole_batch_header(batch, h); e != RecordError::kNone) return e;
  store_be(batch.data() + H::kMaxTimestampAt, static_cast<std::uint64_t>(timestamp), 8);
  Bytes covered(batch.data() + H::kAttributesAt, batch.size() - H::kAttributesAt);
  store_be(batch.data() + H::kCrcAt, crc32c(covered), 4);
  return RecordError::kNone;
}

RecordError batch_records(Bytes batch, const RecordBatchHeader& h,
                          std::vector<std::uint8_t>& scratch, Bytes& records,
                          std::size_t max_decompressed) {
  using H = RecordBatchHeader;
  if (h.batch_length < H::kMinBatchLength) return RecordError::kBadLength;
  if (batch.size() < h.total_size()) return RecordError::kTruncated;
  if (h.record_count < 0) return RecordError::kBadRecord;
  if (!is_known_codec(h.codec_bits())) return RecordError::kUnsupportedCodec;
  Bytes section = batch.subspan(H::kSize, h.records_size());
  if (h.compression() == CompressionCodec::kNone) {
    records = section;
  } else {
    scratch.clear();
    if (RecordError e = decompress(h.compression(), section, scratch, max_decompressed);
        e != RecordError::kNone) {
      return e;
    }
    records = Bytes(scratch.data(), scratch.size());
  }
  if (static_cast<std::size_t>(h.record_count) > records.size() / H::kMinRecordSize) {
    return RecordError::kBadRecord;
  }
  return RecordError::kNone;
}

}  // namespace kgw
