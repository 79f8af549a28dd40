#include "src/group/consumer_protocol.h"

#include "protocol/wire/reader.h"

namespace kgw {

std::optional<std::set<std::string>> parse_subscription_topics(std::string_view metadata) {
  Reader r{Bytes(metadata)};
  const std::int16_t version = r.i16();
  if (!r.ok() || version < 0) return std::nullopt;
  const std::int32_t n = r.array_length(false, false, 2);
  if (!r.ok()) return std::nullopt;
  std::set<std::string> topics;
  for (std::int32_t i = 0; i < n; ++i) {
    std::string_view t = r.string(false);
    if (!r.ok()) return std::nullopt;
    topics.emplace(t);
  }
  return topics;
}

}  // namespace kgw
