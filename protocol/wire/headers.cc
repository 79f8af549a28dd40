#include "protocol/wire/headers.h"

#include "api_table.h"

namespace kgw {

namespace {
constexpr std::int16_t kApiVersionsKey = 18;
}

bool read_unknown_tags(Reader& r, TaggedFields& out) {
  const std::uint32_t count = r.uvarint();
  if (!r.ok()) return false;
  if (count > r.remaining() / 2) {
    r.fail(DecodeError::kTruncated);
    return false;
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint32_t tag = r.uvarint();
    const std::uint32_t len = r.uvarint();
    const Bytes data = r.take(len);
    if (!r.ok()) return false;
    out.push_back(RawTaggedField{tag, data});
  }
  return true;
}

void write_unknown_tags(Writer& w, const TaggedFields& tags) {
  w.uvarint(static_cast<std::uint32_t>(tags.size()));
  for (const auto& t : tags) {
    w.uvarint(t.tag);
    w.uvarint(static_cast<std::uint32_t>(t.data.size()));
    w.raw(t.data);
  }
}

std::size_t unknown_tags_size(const TaggedFields& tags) {
  std::size_t n = uvarint_size(tags.size());
  for (const auto& t : tags) n += uvarint_size(t.tag) + uvarint_size(t.data.size()) + t.data.size();
  return n;
}

bool RequestHeader::decode(Reader& r, std::int16_t header_version) {
  api_key = r.i16();
  api_version = r.i16();
  correlation_id = r.i32();
  if (header_version >= 1) client_id = r.nullable_string(false);
  if (header_version >= 2 && !read_unknown_tags(r, unknown_tags)) return false;
  return r.ok();
}

void RequestHeader::encode(Writer& w, std::int16_t header_version) const {
  w.i16(api_key);
  w.i16(api_version);
  w.i32(correlation_id);
  if (header_version >= 1) w.nullable_string(client_id, false);
  if (header_version >= 2) write_unknown_tags(w, unknown_tags);
}

std::size_t RequestHeader::size(std::int16_t header_version) const {
  std::size_t n = 8;
  if (header_version >= 1) n += nullable_string_size(client_id, false);
  if (header_version >= 2) n += unknown_tags_size(unknown_tags);
  return n;
}

bool ResponseHeader::decode(Reader& r, std::int16_t header_version) {
  correlation_id = r.i32();
  if (header_version >= 1 && !read_unknown_tags(r, unknown_tags)) return false;
  return r.ok();
}

void ResponseHeader::encode(Writer& w, std::int16_t header_version) const {
  w.i32(correlation_id);
  if (header_version >= 1) write_unknown_tags(w, unknown_tags);
}

std::size_t ResponseHeader::size(std::int16_t header_version) const {
  return 4 + (header_version >= 1 ? unknown_tags_size(unknown_tags) : 0);
}

static bool is_flexible(const ApiInfo& api, std::int16_t version) {
  return api.first_flexible_version >= 0 && version >= api.first_flexible_version;
}

std::int16_t request_header_version(std::int16_t api_key, std::int16_t api_version) {
  const ApiInfo* api = find_api(api_key);
  if (api == nullptr || api_version < api->min_version || api_version > api->max_version) return -1;
  return is_flexible(*api, api_version) ? 2 : 1;
}

std::int16_t response_header_version(std::int16_t api_key, std::int16_t api_version) {
  const ApiInfo* api = find_api(api_key);
  if (api == nullptr || api_version < api->min_version || api_version > api->max_version) return -1;
  if (api_key == kApiVersionsKey) return 0;
  return is_flexible(*api, api_version) ? 1 : 0;
}

bool peek_api(Bytes frame, std::int16_t& api_key, std::int16_t& api_version) {
  Reader r(frame);
  api_key = r.i16();
  api_version = r.i16();
  return r.ok();
}

}  // namespace kgw
