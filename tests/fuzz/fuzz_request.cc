// libFuzzer target: the request decoder of every API, as the broker runs it
// on a frame (without its 4-byte size prefix): peek the api key and
// version, decode the request header at the version the API table gives,
// then the body with the broker's decode caps.
//
// Beyond "no crash, no sanitizer report", a body that decodes must
// round-trip: size() equals what encode() writes, and decoding that again
// gives a value that encodes to the same bytes. (Bytes, not values, are
// compared: a float64 field may hold NaN, which never equals itself, as
// the first input this fuzzer found showed, in AlterClientQuotas. And not
// the input: a decoder accepts non-minimal varints and such.)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "all_messages.h"
#include "protocol/wire/headers.h"
#include "protocol/wire/reader.h"
#include "protocol/wire/writer.h"

namespace kgw {
namespace {

// The caps kgw decodes client requests with (Broker's decode limits).
const kgw::DecodeLimits& limits() {
  static const kgw::DecodeLimits l{};
  return l;
}

// A round-trip invariant broke: say which, and abort (libFuzzer saves the
// input).
void check(bool ok, const char* what, const char* api) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_request: %s: %s\n", api, what);
  std::abort();
}

template <typename T>
void decode_body(kgw::Reader& r, std::int16_t version) {
  if (version < T::min_version || version > T::max_version) return;
  T value;
  if (!value.decode(r, version)) return;
  std::vector<std::uint8_t> once;
  kgw::Writer w(once);
  value.encode(w, version);
  check(once.size() == value.size(version), "size() differs from encode()", T::api_name);
  T again;
  kgw::Reader r2{kgw::Bytes(once), limits()};
  check(again.decode(r2, version), "its own encoding does not decode", T::api_name);
  check(r2.remaining() == 0, "its own encoding decodes short", T::api_name);
  std::vector<std::uint8_t> twice;
  kgw::Writer w2(twice);
  again.encode(w2, version);
  check(twice == once, "encode is not stable", T::api_name);
}

void decode_request(std::int16_t key, Reader& r, std::int16_t version) {
  switch (key) {
#define KGW_FUZZ_CASE(Req, Resp)  \
  case Req::api_key:              \
    decode_body<Req>(r, version); \
    break;
    KGW_FOR_EACH_API(KGW_FUZZ_CASE)
#undef KGW_FUZZ_CASE
    default:
      break;
  }
}

}  // namespace
}  // namespace kgw

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kgw::Bytes frame(data, size);
  std::int16_t key = 0, version = 0;
  if (!kgw::peek_api(frame, key, version)) return 0;
  const std::int16_t header_version = kgw::request_header_version(key, version);
  if (header_version < 0) return 0;
  kgw::Reader r{frame, kgw::limits()};
  kgw::RequestHeader header;
  if (!header.decode(r, header_version)) return 0;
  kgw::decode_request(key, r, version);
  return 0;
}
