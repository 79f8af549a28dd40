// Request and response headers (v0/v1/v2 and v0/v1).
//
// Header versions follow from the API and its version: a flexible request
// version uses request header v2 (with tagged fields), otherwise v1; a
// flexible response uses response header v1, except ApiVersions, whose
// response header is always v0 so that a client can read the answer even
// when the broker did not understand its request version.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw {

struct RequestHeader {
  std::int16_t api_key = 0;
  std::int16_t api_version = 0;
  std::int32_t correlation_id = 0;
  std::optional<std::string_view> client_id;  // v1+; always a classic (non-compact) string
  TaggedFields unknown_tags;                  // v2+

  bool decode(Reader& r, std::int16_t header_version);
  void encode(Writer& w, std::int16_t header_version) const;
  std::size_t size(std::int16_t header_version) const;
  friend bool operator==(const RequestHeader&, const RequestHeader&) = default;
};

struct ResponseHeader {
  std::int32_t correlation_id = 0;
  TaggedFields unknown_tags;  // v1+

  bool decode(Reader& r, std::int16_t header_version);
  void encode(Writer& w, std::int16_t header_version) const;
  std::size_t size(std::int16_t header_version) const;
  friend bool operator==(const ResponseHeader&, const ResponseHeader&) = default;
};

// -1 when the api key or version is one our schema does not describe.
std::int16_t request_header_version(std::int16_t api_key, std::int16_t api_version);
std::int16_t response_header_version(std::int16_t api_key, std::int16_t api_version);

// Reads the api key and version at the front of a request frame without
// decoding the rest; false if the frame is shorter than that.
bool peek_api(Bytes frame, std::int16_t& api_key, std::int16_t& api_version);

// Tagged fields of a header or struct none of whose tags we know.
bool read_unknown_tags(Reader& r, TaggedFields& out);
void write_unknown_tags(Writer& w, const TaggedFields& tags);
std::size_t unknown_tags_size(const TaggedFields& tags);

}  // namespace kgw
