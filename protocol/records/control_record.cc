#include "protocol/records/control_record.h"

#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw {

RecordError parse_control_record_key(const std::optional<Bytes>& key, ControlRecordKey& out) {
  if (!key || key->size() < 4) return RecordError::kBadRecord;
  Reader r(*key);
  ControlRecordKey k;
  k.version = r.i16();
  k.type = r.i16();
  if (!r.ok() || k.version < 0) return RecordError::kBadRecord;
  out = k;
  return RecordError::kNone;
}

RecordError parse_end_txn_marker(const std::optional<Bytes>& value, EndTxnMarker& out) {
  if (!value || value->size() < 6) return RecordError::kBadRecord;
  Reader r(*value);
  EndTxnMarker m;
  m.version = r.i16();
  m.coordinator_epoch = r.i32();
  if (!r.ok() || m.version < 0) return RecordError::kBadRecord;
  out = m;
  return RecordError::kNone;
}

void encode_control_record_key(ControlRecordType type, std::vector<std::uint8_t>& out) {
  Writer w(out);
  w.i16(0);
  w.i16(static_cast<std::int16_t>(type));
}

void encode_end_txn_marker(std::int32_t coordinator_epoch, std::vector<std::uint8_t>& out) {
  Writer w(out);
  w.i16(0);
  w.i32(coordinator_epoch);
}

}  // namespace kgw
