// Byte counts for log lines and progress: "512 B", "1.5 KiB", "3.2 MiB",
// "1.25 GiB".
#pragma once

#include <cstdint>
#include <string>

namespace kgw {

std::string human_bytes(std::int64_t bytes);

}  // namespace kgw
