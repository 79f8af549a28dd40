// kgw.migration.legacy.end: where each partition's legacy log ended when
// kgw took a migrated topic over, as the cutover writes it into the
// topic's configs ("PARTITION:OFFSET,...", partitions ascending) and as
// the watch (src/proxy/cutover.cc) and `kgw-admin migrate status`
// (tools/admin/migrate_command.cc) read it back. Header-only and free of
// kgw's other headers so that both sides share the one format. Pure.
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace kgw {

inline std::string format_legacy_end(const std::map<std::int32_t, std::int64_t>& ends) {
  std::string out;
  for (const auto& [p, offset] : ends) {
    if (!out.empty()) out += ',';
    out += std::to_string(p) + ":" + std::to_string(offset);
  }
  return out;
}

// Items that do not parse are skipped (the value is kgw's own; a damaged
// one must not stop a status or the watch).
inline std::map<std::int32_t, std::int64_t> parse_legacy_end(std::string_view text) {
  std::map<std::int32_t, std::int64_t> ends;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    std::int32_t p = 0;
    std::int64_t offset = 0;
    const char* end = item.data() + item.size();
    auto [after_p, ec] = std::from_chars(item.data(), end, p);
    if (ec != std::errc() || after_p == end || *after_p != ':' || p < 0) continue;
    auto [after_offset, ec2] = std::from_chars(after_p + 1, end, offset);
    if (ec2 != std::errc() || after_offset != end) continue;
    ends[p] = offset;
  }
  return ends;
}

}  // namespace kgw
