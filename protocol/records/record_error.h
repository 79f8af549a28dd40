// Errors of the record-batch layer. Every function in protocol/records/
// returns one of these instead of throwing: a bad batch is the producer's
// fault (answered with CORRUPT_MESSAGE or similar), never a crash.
#pragma once

#include <cstdint>

namespace kgw {

enum class RecordError : std::uint8_t {
  kNone = 0,
  kTruncated,            // fewer bytes than a length field or record count promised
  kBadMagic,             // magic byte is not 0, 1 or 2
  kLegacyMessageFormat,  // magic 0 or 1 (pre-0.11 message set): we accept only v2
  kBadCrc,               // CRC-32C over attributes..end does not match
  kBadLength,            // batch_length inconsistent with the bytes or below the header size
  kBadRecord,            // a record (or the header's counts) is malformed
  kDecompressFailed,     // the codec rejected the compressed bytes
  kDecompressTooLarge,   // decompressed output would exceed the caller's cap
  kCompressFailed,       // the codec failed to compress (only on our own write path)
  kUnsupportedCodec,     // compression codec bits 5..7, or a codec we cannot write
};

const char* record_error_name(RecordError e);

}  // namespace kgw
