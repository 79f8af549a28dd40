// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// record batch v2. Every produced batch is checked once on the way in, so
// this is on the hot path: x86-64 CPUs with SSE4.2 use the crc32
// instruction, everything else a slicing-by-8 table.
//
// The hardware path is chosen once at run time (CPUID), so the build needs
// no -msse4.2 and the binary still runs on CPUs without it.
#pragma once

#include <cstdint>

#include "protocol/wire/types.h"

namespace kgw {

// CRC-32C of `data` (initial value and final xor 0xFFFFFFFF, as in Kafka
// and RFC 3720).
std::uint32_t crc32c(Bytes data);

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a followed by b),
// and crc32c_extend(0, b) == crc32c(b). Lets a caller checksum a batch
// whose bytes are not contiguous.
std::uint32_t crc32c_extend(std::uint32_t crc, Bytes data);

// The table-driven path, always available; exposed so tests can check that
// both paths agree on the machine they run on.
std::uint32_t crc32c_portable(Bytes data);
std::uint32_t crc32c_extend_portable(std::uint32_t crc, Bytes data);

// True when crc32c()/crc32c_extend() use the SSE4.2 instruction.
bool crc32c_hardware_available();

}  // namespace kgw
