#include "protocol/records/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

namespace kgw {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // Castagnoli, bit-reversed

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of
// byte b followed by k zero bytes, which lets slicing-by-8 fold eight input
// bytes per step with eight independent lookups.
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t prev = t[k - 1][i];
      t[k][i] = (prev >> 8) ^ t[0][prev & 0xff];
    }
  }
  return t;
}

constexpr Tables kTables = make_tables();

// Works on the inverted register (no pre/post xor).
std::uint32_t update_portable(std::uint32_t c, const std::uint8_t* p, std::size_t n) {
  // The 8-byte step reads words as little-endian; on a big-endian host fall
  // back to bytes rather than carry a second set of tables.
  if constexpr (std::endian::native == std::endian::little) {
    while (n >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);  // unaligned-safe load
      w ^= c;
      c = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
          kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
          kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
      p += 8;
      n -= 8;
    }
  }
  while (n > 0) {
    c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xff];
    ++p;
    --n;
  }
  return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KGW_CRC32C_HW 1

// Compiled for SSE4.2 through the attribute alone, so only this function
// needs the instruction set; it is only called after the CPUID check.
__attribute__((target("sse4.2"))) std::uint32_t update_sse42(std::uint32_t c, const std::uint8_t* p,
                                                             std::size_t n) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  if (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    c = __builtin_ia32_crc32si(c, w);
    p += 4;
    n -= 4;
  }
  while (n > 0) {
    c = __builtin_ia32_crc32qi(c, *p);
    ++p;
    --n;
  }
  return c;
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

using UpdateFn = std::uint32_t (*)(std::uint32_t, const std::uint8_t*, std::size_t);

UpdateFn select_update() {
#ifdef KGW_CRC32C_HW
  if (detect_sse42()) return update_sse42;
#endif
  return update_portable;
}

UpdateFn update_fn() {
  // Function-local static: initialised once, thread-safe, no global
  // constructor ordering to worry about.
  static const UpdateFn fn = select_update();
  return fn;
}

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, Bytes data) {
  return ~update_fn()(~crc, data.data(), data.size());
}

std::uint32_t crc32c(Bytes data) {
  return crc32c_extend(0, data);
}

std::uint32_t crc32c_extend_portable(std::uint32_t crc, Bytes data) {
  return ~update_portable(~crc, data.data(), data.size());
}

std::uint32_t crc32c_portable(Bytes data) {
  return crc32c_extend_portable(0, data);
}

bool crc32c_hardware_available() {
#ifdef KGW_CRC32C_HW
  return update_fn() == update_sse42;
#else
  return false;
#endif
}

}  // namespace kgw
