#include "src/cluster/coordinator_placement.h"

#include <cstddef>
#include <limits>

#include "src/cluster/metadata_image.h"

namespace kgw {

namespace {

// One code point of `s` from `i` on (advancing `i`); U+FFFD for a
// malformed byte, which is skipped alone.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  constexpr std::uint32_t kReplacement = 0xFFFD;
  const auto b0 = static_cast<std::uint8_t>(s[i++]);
  if (b0 < 0x80) return b0;
  int extra = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    extra = 1, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    return kReplacement;
  }
  const std::size_t start = i;
  for (int k = 0; k < extra; ++k) {
    if (i >= s.size() || (static_cast<std::uint8_t>(s[i]) & 0xC0) != 0x80) {
      i = start;
      return kReplacement;
    }
    cp = (cp << 6) | (static_cast<std::uint8_t>(s[i++]) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    i = start;
    return kReplacement;
  }
  return cp;
}

}  // namespace

std::int32_t java_string_hash(std::string_view key) {
  // Java's int arithmetic wraps; unsigned arithmetic does the same here.
  std::uint32_t h = 0;
  std::size_t i = 0;
  while (i < key.size()) {
    const std::uint32_t cp = next_code_point(key, i);
    if (cp < 0x10000) {
      h = 31 * h + cp;
    } else {
      const std::uint32_t v = cp - 0x10000;
      h = 31 * h + (0xD800 + (v >> 10));
      h = 31 * h + (0xDC00 + (v & 0x3FF));
    }
  }
  return static_cast<std::int32_t>(h);
}

std::int32_t coordinator_partition(std::string_view key, std::int32_t partitions) {
  const std::int32_t h = java_string_hash(key);
  const std::int32_t abs = h == std::numeric_limits<std::int32_t>::min() ? 0 : (h < 0 ? -h : h);
  return abs % partitions;
}

CoordinatorPlacement place_coordinator(const MetadataImage& image, CoordinatorType type,
                                       std::string_view key, std::int32_t self) {
  CoordinatorPlacement out;
  const TopicPtr topic =
      image.topic(type == CoordinatorType::kGroup ? kGroupStateTopic : kTransactionStateTopic);
  if (topic == nullptr || topic->partition_count() == 0) {
    out.node = self;
    return out;
  }
  out.by_topic = true;
  out.partition = coordinator_partition(key, topic->partition_count());
  const PartitionImage* p = topic->partition(out.partition);
  const BrokerImage* leader = p != nullptr ? image.broker(p->leader) : nullptr;
  if (leader != nullptr && !leader->fenced) out.node = leader->id;
  return out;
}

}  // namespace kgw
