// Control records: the single record of a control batch (attributes bit 5),
// written by the broker, never by clients, and never handed to
// applications. Consumers read them to drop aborted transactional records.
//
//   key:   version int16 (0), type int16 (0 = ABORT, 1 = COMMIT; KRaft adds
//          other types that a Kafka-protocol broker never writes to topics)
//   value for ABORT/COMMIT (the end-transaction marker):
//          version int16 (0), coordinator_epoch int32
//
// Like Kafka, a newer version is read as version 0 (fields are only ever
// appended), and the type is returned raw so the caller decides what an
// unknown one means.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/records/record_error.h"
#include "protocol/wire/types.h"

namespace kgw {

enum class ControlRecordType : std::int16_t {
  kAbort = 0,
  kCommit = 1,
};

struct ControlRecordKey {
  std::int16_t version = 0;
  std::int16_t type = 0;  // compare with ControlRecordType; other values possible

  bool is_abort() const { return type == static_cast<std::int16_t>(ControlRecordType::kAbort); }
  bool is_commit() const { return type == static_cast<std::int16_t>(ControlRecordType::kCommit); }
};

struct EndTxnMarker {
  std::int16_t version = 0;
  std::int32_t coordinator_epoch = 0;
};

// Errors: kBadRecord (null, shorter than 4 bytes, negative version).
RecordError parse_control_record_key(const std::optional<Bytes>& key, ControlRecordKey& out);
// Errors: kBadRecord (null, shorter than 6 bytes, negative version).
RecordError parse_end_txn_marker(const std::optional<Bytes>& value, EndTxnMarker& out);

// Version 0 encodings, appended to `out`.
void encode_control_record_key(ControlRecordType type, std::vector<std::uint8_t>& out);
void encode_end_txn_marker(std::int32_t coordinator_epoch, std::vector<std::uint8_t>& out);

}  // namespace kgw
