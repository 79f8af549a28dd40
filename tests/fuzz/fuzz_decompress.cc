// libFuzzer target: the four compression codecs' decompression, bounded as
// the broker bounds it. The first byte picks the codec (mod 5, 0 = none);
// the rest is the compressed input. Output never grows past the bound;
// whatever decompresses must compress and decompress back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "protocol/records/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kMaxOut = 1u << 20;
  if (size < 1) return 0;
  const auto codec = static_cast<kgw::CompressionCodec>(data[0] % 5);
  const kgw::Bytes in(data + 1, size - 1);
  std::vector<std::uint8_t> out;
  if (kgw::decompress(codec, in, out, kMaxOut) != kgw::RecordError::kNone) {
    if (!out.empty()) std::abort();  // "left as it was" on error
    return 0;
  }
  if (out.size() > kMaxOut) std::abort();
  std::vector<std::uint8_t> packed;
  if (kgw::compress(codec, kgw::Bytes(out), packed) != kgw::RecordError::kNone) std::abort();
  std::vector<std::uint8_t> back;
  if (kgw::decompress(codec, kgw::Bytes(packed), back, kMaxOut) != kgw::RecordError::kNone) {
    std::abort();
  }
  if (back != out) std::abort();
  return 0;
}
