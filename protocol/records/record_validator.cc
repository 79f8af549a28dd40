#include "protocol/records/record_validator.h"

#include "protocol/records/record_iterator.h"

namespace kgw {
namespace {

void add_fault(BatchCheck& out, std::int32_t index, std::string message) {
  ++out.faults_total;
  if (out.faults.size() < kMaxRecordFaults) out.faults.push_back({index, std::move(message)});
}

// The partition's message once records failed, worded as Kafka's, so that
// tools matching on it behave alike.
void summarize(BatchCheck& out, bool any_timestamp) {
  if (any_timestamp) {
    out.error = ErrorCode::kInvalidTimestamp;
    out.message = "One or more records have been rejected due to invalid timestamp";
    return;
  }
  out.error = ErrorCode::kInvalidRecord;
  out.message = "One or more records have been rejected due to " +
                std::to_string(out.faults_total) +
                " record errors in total, and only showing the first three errors at most: [";
  for (std::size_t i = 0; i < out.faults.size() && i < 3; ++i) {
    if (i != 0) out.message += ", ";
    out.message += "RecordError(batchIndex=" + std::to_string(out.faults[i].batch_index) +
                   ", message='" + out.faults[i].message + "')";
  }
  out.message += "]";
}

}  // namespace

BatchCheck validate_batch_records(Bytes batch, const RecordBatchHeader& h,
                                  const RecordChecks& checks, const std::string& where,
                                  std::vector<std::uint8_t>& scratch) {
  BatchCheck out;
  Bytes records;
  RecordError e = batch_records(batch, h, scratch, records, checks.max_decompressed);
  if (e == RecordError::kDecompressFailed || e == RecordError::kDecompressTooLarge ||
      e == RecordError::kUnsupportedCodec) {
    out.error = e == RecordError::kDecompressTooLarge ? ErrorCode::kMessageTooLarge
                                                      : ErrorCode::kCorruptMessage;
    out.message = "Record batch for topic partition " + where +
                  " does not decompress: " + record_error_name(e) +
                  (e == RecordError::kDecompressTooLarge
                       ? " (" + std::to_string(checks.max_decompressed) + " bytes)"
                       : std::string());
    return out;
  }
  if (e != RecordError::kNone) {
    // batch_records refuses a record_count the bytes cannot hold.
    out.error = ErrorCode::kInvalidRecord;
    out.message = "Record batch for topic partition " + where + " declares " +
                  std::to_string(h.record_count) + " records in " + std::to_string(records.size()) +
                  " bytes: " + record_error_name(e);
    return out;
  }

  const bool producer_log_append_time = h.timestamp_type() == TimestampType::kLogAppendTime;
  bool any_timestamp = false;
  RecordIterator it(records, h.record_count);
  Record record;
  std::int32_t index = 0;
  for (; it.next(record); ++index) {
    // Offsets are assigned as base_offset + offset_delta: anything but
    // 0, 1, 2, ... would make the batch's offsets overlap or leave holes
    // that readers and the cleaner do not expect.
    if (record.offset_delta != index) {
      add_fault(out, index,
                "Invalid offset delta " + std::to_string(record.offset_delta) +
                    " of the record at batch index " + std::to_string(index) + " (expected " +
                    std::to_string(index) + ") in topic partition " + where);
      continue;
    }
    if (checks.require_keys && !record.key) {
      add_fault(out, index,
                "Compacted topic cannot accept message without key in topic partition " + where);
      continue;
    }
    // Unsigned addition: the delta is the producer's and may be absurd.
    const auto ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                              static_cast<std::uint64_t>(record.timestamp_delta));
    if (ts > out.max_timestamp) out.max_timestamp = ts;
    if (checks.max_timestamp_difference_ms && ts != -1) {
      const std::int64_t limit = *checks.max_timestamp_difference_ms;
      // Compare in unsigned: a timestamp near INT64_MIN must not overflow.
      const std::uint64_t diff =
          ts > checks.now_ms
              ? static_cast<std::uint64_t>(ts) - static_cast<std::uint64_t>(checks.now_ms)
              : static_cast<std::uint64_t>(checks.now_ms) - static_cast<std::uint64_t>(ts);
      if (diff > static_cast<std::uint64_t>(limit)) {
        any_timestamp = true;
        add_fault(out, index,
                  "Timestamp " + std::to_string(ts) + " of message with offset " +
                      std::to_string(record.offset_delta) +
                      " is out of range. The timestamp should be within [" +
                      std::to_string(checks.now_ms - limit) + ", " +
                      std::to_string(checks.now_ms + limit) + "]");
        continue;
      }
    }
    if (producer_log_append_time) {
      any_timestamp = true;
      add_fault(out, index,
                "Invalid timestamp type in message at batch index " + std::to_string(index) +
                    ". Producer should not set timestamp type to LogAppendTime.");
    }
  }
  if (it.error() != RecordError::kNone) {
    // Decoding stops here: later records cannot be found.
    std::string why;
    if (index >= h.record_count) {
      why = "Incorrect declared batch size, records still remaining after the " +
            std::to_string(h.record_count) + " declared";
    } else if (it.error() == RecordError::kTruncated) {
      why = "Incorrect declared batch size, premature EOF reached at record " +
            std::to_string(index) + " of " + std::to_string(h.record_count);
    } else {
      why = "Record at batch index " + std::to_string(index) +
            " is malformed (a varint, length or header count its bytes do not hold)";
    }
    why += " in topic partition " + where;
    if (index < h.record_count) add_fault(out, index, why);
    out.error = ErrorCode::kInvalidRecord;
    out.message = std::move(why);
    return out;
  }
  if (out.faults_total != 0) summarize(out, any_timestamp);
  return out;
}

}  // namespace kgw
