// libFuzzer target: a Produce request's `records` field as the broker
// handles it, and a Fetch response's as a client would: split into batches
// (with and without a partial tail), validate each batch, apply the
// producer rules, rewrite the fields the broker rewrites, decompress
// (bounded) and iterate every record, check every record as Produce does
// (record_validator.h), and parse control records.
//
// The first byte of the input is not data: its low bit says whether to
// recompute each batch's CRC first, so the fuzzer gets past the checksum
// and reaches the record and decompression code with mutated bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "protocol/records/control_record.h"
#include "protocol/records/crc32c.h"
#include "protocol/records/legacy_message_set.h"
#include "protocol/records/record_batch.h"
#include "protocol/records/record_iterator.h"
#include "protocol/records/record_validator.h"

namespace {

constexpr std::size_t kMaxDecompressed = 1u << 20;

void fix_crc(std::vector<std::uint8_t>& buf) {
  std::size_t at = 0;
  while (buf.size() - at >= kgw::RecordBatchHeader::kSize) {
    kgw::RecordBatchHeader h;
    if (kgw::parse_record_batch_header(kgw::Bytes(buf.data() + at, buf.size() - at), h) !=
        kgw::RecordError::kNone) {
      return;
    }
    const std::size_t total = h.total_size();
    if (total > buf.size() - at) return;
    const std::size_t crc_from = at + kgw::RecordBatchHeader::kAttributesAt;
    const std::uint32_t crc = kgw::crc32c(kgw::Bytes(buf.data() + crc_from, at + total - crc_from));
    buf[at + 17] = static_cast<std::uint8_t>(crc >> 24);
    buf[at + 18] = static_cast<std::uint8_t>(crc >> 16);
    buf[at + 19] = static_cast<std::uint8_t>(crc >> 8);
    buf[at + 20] = static_cast<std::uint8_t>(crc);
    at += total;
  }
}

void one_batch(kgw::Bytes b) {
  kgw::RecordBatchHeader h;
  if (kgw::validate_record_batch(b, h) != kgw::RecordError::kNone) return;
  (void)kgw::check_producer_batch(h);
  // The in-place rewrites the broker does on append, on a copy.
  std::vector<std::uint8_t> copy(b.begin(), b.end());
  if (kgw::set_base_offset(copy, 12345) != kgw::RecordError::kNone) std::abort();
  if (kgw::set_partition_leader_epoch(copy, 7) != kgw::RecordError::kNone) std::abort();
  if (kgw::set_log_append_time(copy, 1'700'000'000'000) != kgw::RecordError::kNone) std::abort();
  kgw::RecordBatchHeader h2;
  // After the rewrites (LogAppendTime recomputes the CRC) it is still valid.
  if (kgw::validate_record_batch(kgw::Bytes(copy), h2) != kgw::RecordError::kNone) std::abort();

  std::vector<std::uint8_t> scratch;
  kgw::Bytes records;
  if (kgw::batch_records(b, h, scratch, records, kMaxDecompressed) != kgw::RecordError::kNone) {
    return;
  }
  if (scratch.size() > kMaxDecompressed) std::abort();
  kgw::RecordIterator it(records, h.record_count);
  kgw::Record r;
  std::int32_t n = 0;
  while (it.next(r)) {
    ++n;
    if (h.is_control()) {
      kgw::ControlRecordKey key;
      if (kgw::parse_control_record_key(r.key, key) == kgw::RecordError::kNone) {
        kgw::EndTxnMarker marker;
        (void)kgw::parse_end_txn_marker(r.value, marker);
      }
    }
  }
  if (it.error() == kgw::RecordError::kNone && n != h.record_count) std::abort();

  // The produce path's record checks, with every rule on.
  kgw::RecordChecks checks;
  checks.require_keys = true;
  checks.max_timestamp_difference_ms = 3'600'000;
  checks.now_ms = 1'700'000'000'000;
  checks.max_decompressed = kMaxDecompressed;
  kgw::BatchCheck c = kgw::validate_batch_records(b, h, checks, "t-0", scratch);
  if (c.faults.size() > kgw::kMaxRecordFaults || c.faults.size() > c.faults_total) std::abort();
  if (c.error == kgw::ErrorCode::kNone) {
    // What decodes for the validator decodes for readers, and correcting
    // max_timestamp keeps the batch valid.
    if (it.error() != kgw::RecordError::kNone) std::abort();
    if (kgw::set_max_timestamp(copy, c.max_timestamp) != kgw::RecordError::kNone) std::abort();
    if (kgw::validate_record_batch(kgw::Bytes(copy), h2) != kgw::RecordError::kNone) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::vector<std::uint8_t> buf(data + 1, data + size);
  if (data[0] & 1) fix_crc(buf);
  const kgw::Bytes in(buf);
  std::vector<std::uint8_t> converted;
  kgw::DecompressionBudget budget(kMaxDecompressed);
  if (kgw::convert_legacy_message_set(in, budget, converted) == kgw::RecordError::kNone) {
    kgw::RecordBatchHeader ch;
    if (kgw::validate_record_batch(kgw::Bytes(converted), ch) != kgw::RecordError::kNone) {
      std::abort();
    }
    one_batch(kgw::Bytes(converted));
  }
  std::vector<kgw::Bytes> batches;
  (void)kgw::split_record_batches(in, batches);  // Produce: a partial batch is an error
  batches.clear();
  std::size_t tail = 0;
  if (kgw::split_record_batches(in, batches, &tail) != kgw::RecordError::kNone) return 0;
  std::size_t total = tail;
  for (kgw::Bytes b : batches) {
    total += b.size();
    one_batch(b);
  }
  if (total != in.size()) std::abort();
  return 0;
}
