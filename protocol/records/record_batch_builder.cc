#include "protocol/records/record_batch_builder.h"

#include <limits>

#include "protocol/records/crc32c.h"
#include "protocol/wire/writer.h"

namespace kgw {
namespace {

constexpr std::size_t kMaxInt32 =
    static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

std::size_t nullable_size(const std::optional<Bytes>& b) {
  return b ? varint_size(static_cast<std::int32_t>(b->size())) + b->size() : varint_size(-1);
}

void write_nullable(Writer& w, const std::optional<Bytes>& b) {
  if (b) {
    w.varint(static_cast<std::int32_t>(b->size()));
    w.raw(*b);
  } else {
    w.varint(-1);
  }
}

}  // namespace

RecordBatchOptions RecordBatchOptions::from_header(const RecordBatchHeader& h) {
  RecordBatchOptions o;
  o.base_offset = h.base_offset;
  o.partition_leader_epoch = h.partition_leader_epoch;
  o.codec = h.compression();
  o.timestamp_type = h.timestamp_type();
  o.transactional = h.is_transactional();
  o.control = h.is_control();
  o.producer_id = h.producer_id;
  o.producer_epoch = h.producer_epoch;
  o.base_sequence = h.base_sequence;
  o.last_offset_delta = h.last_offset_delta;
  return o;
}

RecordError RecordBatchBuilder::add(std::int64_t timestamp, std::optional<Bytes> key,
                                    std::optional<Bytes> value,
                                    std::span<const RecordHeader> headers) {
  if (last_delta_ == std::numeric_limits<std::int32_t>::max()) return RecordError::kBadRecord;
  return add_with_offset_delta(last_delta_ + 1, timestamp, key, value, headers);
}

RecordError RecordBatchBuilder::add_with_offset_delta(std::int32_t offset_delta,
                                                      std::int64_t timestamp,
                                                      std::optional<Bytes> key,
                                                      std::optional<Bytes> value,
                                                      std::span<const RecordHeader> headers) {
  if (offset_delta < 0 || offset_delta <= last_delta_) return RecordError::kBadRecord;
  if (count_ == std::numeric_limits<std::int32_t>::max()) return RecordError::kBadRecord;
  // Lengths must fit the int32 varints that carry them; checked before the
  // casts below.
  if ((key && key->size() > kMaxInt32) || (value && value->size() > kMaxInt32) ||
      headers.size() > kMaxInt32) {
    return RecordError::kBadRecord;
  }
  for (const RecordHeader& h : headers) {
    if (h.key.size() > kMaxInt32 || (h.value && h.value->size() > kMaxInt32)) {
      return RecordError::kBadRecord;
    }
  }
  std::int64_t base = options_.delete_horizon_ms ? *options_.delete_horizon_ms
                                                 : (count_ == 0 ? timestamp : base_timestamp_);
  // Deltas are varlongs of a difference that may overflow int64 with
  // absurd timestamps; computed unsigned to keep it defined, as Java's
  // wrapping arithmetic does.
  auto delta = static_cast<std::int64_t>(static_cast<std::uint64_t>(timestamp) -
                                         static_cast<std::uint64_t>(base));

  std::size_t body = 1 + varlong_size(delta) + varint_size(offset_delta) + nullable_size(key) +
                     nullable_size(value) + varint_size(static_cast<std::int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    body += varint_size(static_cast<std::int32_t>(h.key.size())) + h.key.size() +
            nullable_size(h.value);
  }
  if (body > kMaxInt32) return RecordError::kBadRecord;

  Writer w(records_);
  w.varint(static_cast<std::int32_t>(body));
  w.i8(0);  // attributes: unused by every Kafka version so far
  w.varlong(delta);
  w.varint(offset_delta);
  write_nullable(w, key);
  write_nullable(w, value);
  w.varint(static_cast<std::int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    w.varint(static_cast<std::int32_t>(h.key.size()));
    w.raw(Bytes(h.key));
    write_nullable(w, h.value);
  }

  if (count_ == 0) {
    base_timestamp_ = base;
    max_timestamp_ = timestamp;
  } else if (timestamp > max_timestamp_) {
    max_timestamp_ = timestamp;
  }
  ++count_;
  last_delta_ = offset_delta;
  return RecordError::kNone;
}

RecordError RecordBatchBuilder::build(std::vector<std::uint8_t>& out) const {
  using H = RecordBatchHeader;
  const std::size_t start = out.size();
  std::int16_t attributes = static_cast<std::int16_t>(options_.codec);
  if (options_.timestamp_type == TimestampType::kLogAppendTime) attributes |= H::kTimestampTypeBit;
  if (options_.transactional) attributes |= H::kTransactionalBit;
  if (options_.control) attributes |= H::kControlBit;
  if (options_.delete_horizon_ms) attributes |= H::kDeleteHorizonBit;
  std::int32_t last_offset_delta =
      options_.last_offset_delta.value_or(last_delta_ < 0 ? 0 : last_delta_);

  Writer w(out);
  w.i64(options_.base_offset);
  w.i32(0);  // batch_length, patched below
  w.i32(options_.partition_leader_epoch);
  w.i8(2);   // magic
  w.u32(0);  // crc, patched below
  w.i16(attributes);
  w.i32(last_offset_delta);
  w.i64(base_timestamp_);
  w.i64(options_.max_timestamp.value_or(max_timestamp_));
  w.i64(options_.producer_id);
  w.i16(options_.producer_epoch);
  w.i32(options_.base_sequence);
  w.i32(count_);

  if (RecordError e = compress(options_.codec, Bytes(records_), out); e != RecordError::kNone) {
    out.resize(start);
    return e;
  }
  std::size_t total = out.size() - start;
  if (total - H::kLogOverhead > kMaxInt32) {
    out.resize(start);
    return RecordError::kBadLength;
  }
  w.patch_i32(start + H::kBatchLengthAt, static_cast<std::int32_t>(total - H::kLogOverhead));
  std::uint32_t crc =
      crc32c(Bytes(out.data() + start + H::kAttributesAt, total - H::kAttributesAt));
  w.patch_i32(start + H::kCrcAt, static_cast<std::int32_t>(crc));
  return RecordError::kNone;
}

}  // namespace kgw
