#include "protocol/records/record_iterator.h"

#include "protocol/wire/reader.h"

namespace kgw {
namespace {

// A varint-length-prefixed nullable field inside one record. Lengths below
// -1, or beyond the record, make the record malformed.
bool read_nullable(Reader& r, std::optional<Bytes>& out) {
  std::int32_t n = r.varint();
  if (!r.ok() || n < -1) return false;
  if (n == -1) {
    out.reset();
    return true;
  }
  if (static_cast<std::size_t>(n) > r.remaining()) return false;
  out = r.take(static_cast<std::size_t>(n));
  return r.ok();
}

}  // namespace

bool RecordIterator::next(Record& out) {
  if (error_ != RecordError::kNone) return false;
  if (left_ < 0) return fail(RecordError::kBadRecord);
  if (left_ == 0) {
    // Kafka rejects a batch whose records section has bytes after the last
    // record it declares: they would be silently dropped otherwise.
    if (pos_ != records_.size()) return fail(RecordError::kBadRecord);
    return false;
  }
  if (pos_ == records_.size()) return fail(RecordError::kTruncated);

  Reader outer(records_.subspan(pos_));
  std::int32_t length = outer.varint();
  if (!outer.ok()) {
    return fail(outer.error() == DecodeError::kTruncated ? RecordError::kTruncated
                                                         : RecordError::kBadRecord);
  }
  if (length < 0) return fail(RecordError::kBadRecord);
  if (static_cast<std::size_t>(length) > outer.remaining()) return fail(RecordError::kTruncated);
  Bytes body = outer.take(static_cast<std::size_t>(length));

  Reader r(body);
  out.length = length;
  out.attributes = r.i8();
  out.timestamp_delta = r.varlong();
  out.offset_delta = r.varint();
  if (!r.ok()) return fail(RecordError::kBadRecord);
  if (!read_nullable(r, out.key) || !read_nullable(r, out.value)) {
    return fail(RecordError::kBadRecord);
  }
  std::int32_t header_count = r.varint();
  // Each header takes at least two bytes (two length varints): checked
  // before reserving so the count cannot make us allocate.
  if (!r.ok() || header_count < 0 || static_cast<std::size_t>(header_count) > r.remaining() / 2) {
    return fail(RecordError::kBadRecord);
  }
  out.headers.clear();
  out.headers.reserve(static_cast<std::size_t>(header_count));
  for (std::int32_t i = 0; i < header_count; ++i) {
    std::int32_t key_length = r.varint();
    // Header keys cannot be null.
    if (!r.ok() || key_length < 0 || static_cast<std::size_t>(key_length) > r.remaining()) {
      return fail(RecordError::kBadRecord);
    }
    RecordHeader h;
    h.key = r.take(static_cast<std::size_t>(key_length)).as_string();
    if (!read_nullable(r, h.value)) return fail(RecordError::kBadRecord);
    out.headers.push_back(h);
  }
  if (!r.ok() || r.remaining() != 0) return fail(RecordError::kBadRecord);

  pos_ += outer.consumed();
  --left_;
  return true;
}

}  // namespace kgw
