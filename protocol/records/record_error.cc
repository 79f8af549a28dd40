#include "protocol/records/record_error.h"

namespace kgw {

const char* record_error_name(RecordError e) {
  switch (e) {
    case RecordError::kNone:
      return "none";
    case RecordError::kTruncated:
      return "truncated";
    case RecordError::kBadMagic:
      return "bad magic";
    case RecordError::kLegacyMessageFormat:
      return "legacy message format (magic 0/1)";
    case RecordError::kBadCrc:
      return "bad crc";
    case RecordError::kBadLength:
      return "bad batch length";
    case RecordError::kBadRecord:
      return "malformed record";
    case RecordError::kDecompressFailed:
      return "decompression failed";
    case RecordError::kDecompressTooLarge:
      return "decompressed size over cap";
    case RecordError::kCompressFailed:
      return "compression failed";
    case RecordError::kUnsupportedCodec:
      return "unsupported compression codec";
  }
  return "unknown";
}

}  // namespace kgw
