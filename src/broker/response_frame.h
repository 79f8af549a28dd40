// Encoding one response frame: the int32 size prefix, the response header
// and the body.
//
// A Kafka frame's size is an int32, so a response over INT32_MAX bytes
// cannot be sent at all: its size would wrap to a negative number and the
// client would drop the connection (or, worse, read a wrong length). The
// fetch limits (fetch.max.bytes) keep real responses far below it; this is
// the last guard, checked from the computed size before any byte is
// allocated.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/wire/headers.h"
#include "protocol/wire/writer.h"

namespace kgw {

// Largest size a response frame's prefix can carry (the bytes after it).
inline constexpr std::size_t kMaxResponseFrameBytes = INT32_MAX;

// Encodes `header` (at `header_version`) and `body` (at `version`) as one
// frame into `out`. Returns false and leaves `out` empty when the frame
// would be over kMaxResponseFrameBytes; `size` is the size it would have.
template <typename Response>
bool encode_response_frame(const ResponseHeader& header, std::int16_t header_version,
                           const Response& body, std::int16_t version,
                           std::vector<std::uint8_t>& out, std::size_t& size) {
  out.clear();
  size = header.size(header_version) + body.size(version);
  if (size > kMaxResponseFrameBytes) return false;
  out.reserve(4 + size);
  Writer w(out);
  w.i32(static_cast<std::int32_t>(size));
  header.encode(w, header_version);
  body.encode(w, version);
  return true;
}

}  // namespace kgw
