#include "protocol/records/compression.h"

#define ZLIB_CONST  // const next_in: we never write to the input
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

namespace kgw {
namespace {

// ---------------------------------------------------------------------------
// Bounded output.

// Grows `out` while a streaming decoder writes into it, never past
// max_out + 1 new bytes: producing that one extra byte is how a stream
// proves it would exceed max_out, without trusting any size it declares.
// Growth is geometric (bounded below and above) so a large batch needs few
// decoder calls and a small one allocates little.
class BoundedSink {
 public:
  BoundedSink(std::vector<std::uint8_t>& out, std::size_t max_out)
      : out_(out),
        start_(out.size()),
        max_out_(max_out),
        limit_(max_out == std::numeric_limits<std::size_t>::max() ? max_out : max_out + 1) {}

  // Free space after the bytes produced so far, grown if there is none.
  // Returns a null pointer once the limit has been reached.
  std::uint8_t* space(std::size_t& n) {
    std::size_t have = out_.size() - start_;
    if (have == produced_) {
      if (produced_ >= limit_) {
        n = 0;
        return nullptr;
      }
      std::size_t step = std::clamp(produced_, kMinStep, kMaxStep);
      step = std::min(step, limit_ - produced_);
      out_.resize(start_ + produced_ + step);
    }
    n = out_.size() - start_ - produced_;
    return out_.data() + start_ + produced_;
  }

  // Exactly `n` more bytes, for codecs that know the size up front (raw
  // snappy). False if that would go past max_out. `p` may be null when n
  // is 0, so success is the return value, not the pointer.
  bool exact(std::size_t n, std::uint8_t*& p) {
    if (produced_ > max_out_ || n > max_out_ - produced_) return false;
    out_.resize(start_ + produced_ + n);
    p = out_.data() + start_ + produced_;
    produced_ += n;
    return true;
  }

  void commit(std::size_t n) { produced_ += n; }
  bool over() const { return produced_ > max_out_; }
  void finish() { out_.resize(start_ + produced_); }
  void abort() { out_.resize(start_); }

 private:
  static constexpr std::size_t kMinStep = 64u << 10;
  static constexpr std::size_t kMaxStep = 4u << 20;

  std::vector<std::uint8_t>& out_;
  std::size_t start_;
  std::size_t max_out_;
  std::size_t limit_;
  std::size_t produced_ = 0;
};

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void append_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

// ---------------------------------------------------------------------------
// gzip

// Java's GZIPOutputStream and librdkafka both use zlib's default level.
RecordError gzip_compress(Bytes in, std::vector<std::uint8_t>& out) {
  // zlib counts input in uInt; a batch is below 2 GiB, so this only guards
  // against misuse.
  if (in.size() > UINT_MAX) return RecordError::kCompressFailed;
  z_stream s{};
  if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16 /* gzip wrapper */, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return RecordError::kCompressFailed;
  }
  std::size_t start = out.size();
  std::size_t bound = deflateBound(&s, static_cast<uLong>(in.size()));
  out.resize(start + bound);
  s.next_in = in.data();
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out.data() + start;
  s.avail_out = static_cast<uInt>(std::min<std::size_t>(bound, UINT_MAX));
  int r = deflate(&s, Z_FINISH);
  std::size_t produced = s.total_out;
  deflateEnd(&s);
  if (r != Z_STREAM_END) {
    out.resize(start);
    return RecordError::kCompressFailed;
  }
  out.resize(start + produced);
  return RecordError::kNone;
}

RecordError gzip_decompress(Bytes in, BoundedSink& sink) {
  if (in.size() > UINT_MAX) return RecordError::kDecompressFailed;
  z_stream s{};
  if (inflateInit2(&s, 15 + 16 /* gzip only, like Java's GZIPInputStream */) != Z_OK) {
    return RecordError::kDecompressFailed;
  }
  struct Guard {
    z_stream* s;
    ~Guard() { inflateEnd(s); }
  } guard{&s};
  s.next_in = in.data();
  s.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    std::size_t n = 0;
    std::uint8_t* p = sink.space(n);
    if (p == nullptr) return RecordError::kDecompressTooLarge;
    uInt avail = static_cast<uInt>(std::min<std::size_t>(n, UINT_MAX));
    s.next_out = p;
    s.avail_out = avail;
    int r = inflate(&s, Z_NO_FLUSH);
    sink.commit(avail - s.avail_out);
    if (r == Z_OK) continue;
    if (r != Z_STREAM_END) return RecordError::kDecompressFailed;  // corrupt or truncated
    if (s.avail_in == 0) break;
    // Concatenated members are one valid gzip file (gzip(1) and Java read
    // them all). Anything else after the trailer is garbage.
    if (s.avail_in < 2 || s.next_in[0] != 0x1f || s.next_in[1] != 0x8b) {
      return RecordError::kDecompressFailed;
    }
    if (inflateReset(&s) != Z_OK) return RecordError::kDecompressFailed;
  }
  return sink.over() ? RecordError::kDecompressTooLarge : RecordError::kNone;
}

// ---------------------------------------------------------------------------
// snappy

constexpr std::uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeaderSize = 16;  // magic, int32 version, int32 compatible
// snappy-java's default block size, which the Java client uses.
constexpr std::size_t kXerialBlockSize = 32u << 10;

RecordError snappy_raw_decompress(const std::uint8_t* p, std::size_t n, BoundedSink& sink) {
  const char* src = reinterpret_cast<const char*>(p);
  std::size_t len = 0;
  if (!snappy::GetUncompressedLength(src, n, &len)) return RecordError::kDecompressFailed;
  // The length is a varint the sender chose: check it before allocating.
  std::uint8_t* dst = nullptr;
  if (!sink.exact(len, dst)) return RecordError::kDecompressTooLarge;
  // RawUncompress is safe on corrupt input and fails unless it produces
  // exactly `len` bytes. An empty block still gets a real buffer (and is
  // still checked for trailing junk).
  char empty[1];
  char* target = len == 0 ? empty : reinterpret_cast<char*>(dst);
  if (!snappy::RawUncompress(src, n, target)) {
    return RecordError::kDecompressFailed;
  }
  return RecordError::kNone;
}

RecordError snappy_decompress(Bytes in, BoundedSink& sink) {
  if (in.size() < kXerialHeaderSize ||
      std::memcmp(in.data(), kXerialMagic, sizeof(kXerialMagic)) != 0) {
    return snappy_raw_decompress(in.data(), in.size(), sink);
  }
  // Version fields are not checked: snappy-java has only ever written 1/1
  // and the block layout never changed.
  std::size_t pos = kXerialHeaderSize;
  while (pos < in.size()) {
    if (in.size() - pos < 4) return RecordError::kDecompressFailed;
    std::uint32_t len = load_be32(in.data() + pos);
    pos += 4;
    if (len == 0 || len > in.size() - pos) return RecordError::kDecompressFailed;
    RecordError e = snappy_raw_decompress(in.data() + pos, len, sink);
    if (e != RecordError::kNone) return e;
    pos += len;
  }
  return RecordError::kNone;
}

void snappy_raw_append(const std::uint8_t* p, std::size_t n, std::vector<std::uint8_t>& out) {
  std::size_t start = out.size();
  out.resize(start + snappy::MaxCompressedLength(n));
  std::size_t written = 0;
  snappy::RawCompress(reinterpret_cast<const char*>(p), n,
                      reinterpret_cast<char*>(out.data() + start), &written);
  out.resize(start + written);
}

RecordError snappy_compress(Bytes in, std::vector<std::uint8_t>& out) {
  out.insert(out.end(), std::begin(kXerialMagic), std::end(kXerialMagic));
  append_be32(out, 1);  // version
  append_be32(out, 1);  // minimum compatible version
  std::size_t pos = 0;
  // At least one block even for empty input: librdkafka only recognises
  // the framing when a block header follows the 16-byte header.
  do {
    std::size_t n = std::min(kXerialBlockSize, in.size() - pos);
    std::size_t len_at = out.size();
    append_be32(out, 0);
    snappy_raw_append(in.data() + pos, n, out);
    std::uint32_t len = static_cast<std::uint32_t>(out.size() - len_at - 4);
    for (int i = 0; i < 4; ++i) out[len_at + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
    pos += n;
  } while (pos < in.size());
  return RecordError::kNone;
}

// ---------------------------------------------------------------------------
// lz4

RecordError lz4_compress(Bytes in, std::vector<std::uint8_t>& out) {
  LZ4F_preferences_t prefs;
  std::memset(&prefs, 0, sizeof(prefs));
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  std::size_t start = out.size();
  std::size_t bound = LZ4F_compressFrameBound(in.size(), &prefs);
  out.resize(start + bound);
  std::size_t r = LZ4F_compressFrame(out.data() + start, bound, in.data(), in.size(), &prefs);
  if (LZ4F_isError(r)) {
    out.resize(start);
    return RecordError::kCompressFailed;
  }
  out.resize(start + r);
  return RecordError::kNone;
}

RecordError lz4_decompress(Bytes in, BoundedSink& sink) {
  if (in.empty()) return RecordError::kDecompressFailed;
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
    return RecordError::kDecompressFailed;
  }
  struct Guard {
    LZ4F_dctx* ctx;
    ~Guard() { LZ4F_freeDecompressionContext(ctx); }
  } guard{ctx};
  std::size_t pos = 0;
  std::size_t hint = 1;  // 0 once a frame has ended
  while (pos < in.size()) {
    std::size_t n = 0;
    std::uint8_t* p = sink.space(n);
    if (p == nullptr) return RecordError::kDecompressTooLarge;
    std::size_t dst_n = n;
    std::size_t src_n = in.size() - pos;
    hint = LZ4F_decompress(ctx, p, &dst_n, in.data() + pos, &src_n, nullptr);
    if (LZ4F_isError(hint)) return RecordError::kDecompressFailed;
    pos += src_n;
    sink.commit(dst_n);
    // Defensive: a decoder that neither reads nor writes would loop forever.
    if (src_n == 0 && dst_n == 0) return RecordError::kDecompressFailed;
    // hint == 0: frame complete; any further bytes must be another frame,
    // which the context is ready for.
  }
  // Input used up: the last frame must have ended, or it was cut short.
  // Output still held inside the context (a block bigger than the space we
  // offered) is drained first.
  while (hint != 0) {
    std::size_t n = 0;
    std::uint8_t* p = sink.space(n);
    if (p == nullptr) return RecordError::kDecompressTooLarge;
    std::size_t dst_n = n;
    std::size_t src_n = 0;
    hint = LZ4F_decompress(ctx, p, &dst_n, in.data() + pos, &src_n, nullptr);
    if (LZ4F_isError(hint)) return RecordError::kDecompressFailed;
    sink.commit(dst_n);
    if (dst_n == 0 && hint != 0) return RecordError::kDecompressFailed;  // truncated
  }
  return sink.over() ? RecordError::kDecompressTooLarge : RecordError::kNone;
}

// ---------------------------------------------------------------------------
// zstd

// Decoder window cap (16 MiB). The default allows 128 MiB, which a hostile
// frame header could make us allocate per batch. Producers at zstd levels
// up to 19 use windowLog <= 23; only --ultra levels need more, and those
// would fail with kDecompressFailed.
constexpr int kZstdWindowLogMax = 24;

RecordError zstd_compress(Bytes in, std::vector<std::uint8_t>& out) {
  std::size_t start = out.size();
  std::size_t bound = ZSTD_compressBound(in.size());
  out.resize(start + bound);
  std::size_t r =
      ZSTD_compress(out.data() + start, bound, in.data(), in.size(), ZSTD_CLEVEL_DEFAULT);
  if (ZSTD_isError(r)) {
    out.resize(start);
    return RecordError::kCompressFailed;
  }
  out.resize(start + r);
  return RecordError::kNone;
}

RecordError zstd_decompress(Bytes in, BoundedSink& sink, std::size_t max_out) {
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return RecordError::kDecompressFailed;
  // A declared size is only used to fail early, never to size a buffer: it
  // may be a lie, and the stream below stays bounded either way.
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_out) {
    return RecordError::kDecompressTooLarge;
  }
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (ctx == nullptr) return RecordError::kDecompressFailed;
  struct Guard {
    ZSTD_DCtx* ctx;
    ~Guard() { ZSTD_freeDCtx(ctx); }
  } guard{ctx};
  if (ZSTD_isError(ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
    return RecordError::kDecompressFailed;
  }
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  for (;;) {
    std::size_t n = 0;
    std::uint8_t* p = sink.space(n);
    if (p == nullptr) return RecordError::kDecompressTooLarge;
    ZSTD_outBuffer ob{p, n, 0};
    std::size_t r = ZSTD_decompressStream(ctx, &ob, &ib);
    if (ZSTD_isError(r)) return RecordError::kDecompressFailed;
    sink.commit(ob.pos);
    if (r == 0) {
      // Frame complete and flushed; more input means another frame.
      if (ib.pos == ib.size) break;
      continue;
    }
    // Input used up, room left in the output, frame not finished: the
    // frame was cut short.
    if (ib.pos == ib.size && ob.pos < ob.size) return RecordError::kDecompressFailed;
  }
  return sink.over() ? RecordError::kDecompressTooLarge : RecordError::kNone;
}

}  // namespace

const char* codec_name(CompressionCodec codec) {
  switch (codec) {
    case CompressionCodec::kNone:
      return "none";
    case CompressionCodec::kGzip:
      return "gzip";
    case CompressionCodec::kSnappy:
      return "snappy";
    case CompressionCodec::kLz4:
      return "lz4";
    case CompressionCodec::kZstd:
      return "zstd";
  }
  return "unknown";
}

RecordError compress(CompressionCodec codec, Bytes in, std::vector<std::uint8_t>& out) {
  switch (codec) {
    case CompressionCodec::kNone:
      out.insert(out.end(), in.begin(), in.end());
      return RecordError::kNone;
    case CompressionCodec::kGzip:
      return gzip_compress(in, out);
    case CompressionCodec::kSnappy:
      return snappy_compress(in, out);
    case CompressionCodec::kLz4:
      return lz4_compress(in, out);
    case CompressionCodec::kZstd:
      return zstd_compress(in, out);
  }
  return RecordError::kUnsupportedCodec;
}

RecordError decompress(CompressionCodec codec, Bytes in, std::vector<std::uint8_t>& out,
                       std::size_t max_out) {
  BoundedSink sink(out, max_out);
  RecordError e = RecordError::kUnsupportedCodec;
  switch (codec) {
    case CompressionCodec::kNone:
      if (in.size() > max_out) {
        e = RecordError::kDecompressTooLarge;
      } else {
        std::uint8_t* p = nullptr;
        sink.exact(in.size(), p);  // cannot fail: checked against max_out above
        if (!in.empty()) std::memcpy(p, in.data(), in.size());
        e = RecordError::kNone;
      }
      break;
    case CompressionCodec::kGzip:
      e = gzip_decompress(in, sink);
      break;
    case CompressionCodec::kSnappy:
      e = snappy_decompress(in, sink);
      break;
    case CompressionCodec::kLz4:
      e = lz4_decompress(in, sink);
      break;
    case CompressionCodec::kZstd:
      e = zstd_decompress(in, sink, max_out);
      break;
  }
  if (e == RecordError::kNone) {
    sink.finish();
  } else {
    sink.abort();
  }
  return e;
}

}  // namespace kgw
