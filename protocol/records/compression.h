// Compression codecs of record batch v2 (attributes bits 0..2), through the
// Debian libraries: zlib, snappy, liblz4 (frame API) and libzstd.
//
// Wire formats, as Kafka clients write and read them:
//  - gzip: an RFC 1952 gzip stream (not raw deflate, not zlib).
//  - snappy: either raw snappy (what librdkafka writes) or the snappy-java
//    "xerial" framing (what the Java client writes): magic 82 'SNAPPY' 00,
//    int32 version, int32 compatible version, then blocks of
//    [int32 BE length][raw snappy block]. Readers detect the magic; every
//    client we know of accepts both. We write xerial, like the Java client,
//    which is the one every other client was made to read.
//  - lz4: the standard LZ4 frame format. (Magic 0/1 Java clients wrote a
//    wrong header checksum; v2 batches use the correct one, and we only
//    handle v2.) We write independent 64 KiB blocks without content size
//    or checksum, exactly the flags Java's KafkaLZ4BlockOutputStream
//    writes, because its reader decodes blocks one by one.
//  - zstd: a standard zstd frame.
//
// Decompression is bounded: output never grows past `max_out`, whatever
// sizes the input declares (zstd content size, snappy length varints are
// checked against it before anything is allocated; streaming codecs are
// decoded in chunks). A bomb fails with kDecompressTooLarge after at most
// max_out + 1 bytes of output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/records/record_error.h"
#include "protocol/wire/types.h"

namespace kgw {

enum class CompressionCodec : std::uint8_t {
  kNone = 0,
  kGzip = 1,
  kSnappy = 2,
  kLz4 = 3,
  kZstd = 4,
};

// Codec values 5..7 fit in the attribute bits but mean nothing.
constexpr bool is_known_codec(int value) {
  return value >= 0 && value <= 4;
}
const char* codec_name(CompressionCodec codec);

// Appends the compressed form of `in` to `out`. On error `out` is left as it
// was. kNone copies.
RecordError compress(CompressionCodec codec, Bytes in, std::vector<std::uint8_t>& out);

// Appends the decompressed form of `in` to `out`, adding at most `max_out`
// bytes. On error `out` is left as it was (its capacity may have grown by at
// most max_out + 1). kNone copies (still bounded by max_out).
RecordError decompress(CompressionCodec codec, Bytes in, std::vector<std::uint8_t>& out,
                       std::size_t max_out);

}  // namespace kgw
