// Frames captured from real clients (librdkafka/kcat, confluent-kafka-python,
// kafka-python, kafkajs) talking to librdkafka's mock cluster, recorded by
// tools/capture/record_proxy.py. Every frame of an API our schema describes
// must decode completely and re-encode byte for byte: the strongest check
// that our schema and codec agree with libraries we did not write.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "all_messages.h"
#include "api_table.h"
#include "protocol/wire/headers.h"

#ifndef KGW_FIXTURES_DIR
#error "KGW_FIXTURES_DIR must name tests/fixtures"
#endif

namespace kgw {
namespace {

struct Frame {
  std::string file;
  int line = 0;
  bool request = false;
  std::int16_t api_key = 0;
  std::int16_t api_version = 0;
  std::vector<std::uint8_t> bytes;
};

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<Frame> load_frames() {
  std::vector<Frame> frames;
  const std::filesystem::path dir = std::filesystem::path(KGW_FIXTURES_DIR) / "captured";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".frames") continue;
    std::ifstream in(entry.path());
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string dir_word, hex;
      int key = 0, version = 0;
      long corr = 0;
      fields >> dir_word >> key >> version >> corr >> hex;
      if (!fields) continue;
      Frame f;
      f.file = entry.path().filename().string();
      f.line = lineno;
      f.request = dir_word == "req";
      f.api_key = static_cast<std::int16_t>(key);
      f.api_version = static_cast<std::int16_t>(version);
      f.bytes = from_hex(hex);
      frames.push_back(std::move(f));
    }
  }
  return frames;
}

// Decodes one message body of type T and re-encodes it.
template <typename T>
bool roundtrip_body(Reader& r, std::int16_t version, Writer& w, std::string& why) {
  T value;
  if (!value.decode(r, version)) {
    why = std::string("body decode failed: ") + decode_error_name(r.error());
    return false;
  }
  if (r.remaining() != 0) {
    why = "body decoded with " + std::to_string(r.remaining()) + " bytes left over";
    return false;
  }
  value.encode(w, version);
  return true;
}

bool roundtrip_frame(const Frame& f, std::string& why) {
  Reader r{Bytes(f.bytes)};
  std::vector<std::uint8_t> out;
  Writer w(out);
  if (f.request) {
    RequestHeader h;
    if (!h.decode(r, request_header_version(f.api_key, f.api_version))) {
      why = "request header decode failed";
      return false;
    }
    h.encode(w, request_header_version(f.api_key, f.api_version));
  } else {
    ResponseHeader h;
    if (!h.decode(r, response_header_version(f.api_key, f.api_version))) {
      why = "response header decode failed";
      return false;
    }
    h.encode(w, response_header_version(f.api_key, f.api_version));
  }
  bool ok = false;
  switch (f.api_key) {
#define X(Req, Resp)                                                 \
  case Req::api_key:                                                 \
    ok = f.request ? roundtrip_body<Req>(r, f.api_version, w, why)   \
                   : roundtrip_body<Resp>(r, f.api_version, w, why); \
    break;
    KGW_FOR_EACH_API(X)
#undef X
    default:
      why = "no schema";
      return false;
  }
  if (!ok) return false;
  if (out != f.bytes) {
    std::size_t i = 0;
    while (i < out.size() && i < f.bytes.size() && out[i] == f.bytes[i]) ++i;
    why = "re-encoding differs at byte " + std::to_string(i) + " (sizes " +
          std::to_string(out.size()) + " vs " + std::to_string(f.bytes.size()) + ")";
    return false;
  }
  return true;
}

TEST_CASE("frames captured from real clients decode and re-encode byte for byte") {
  const auto frames = load_frames();
  REQUIRE(frames.size() > 100);
  std::map<std::string, int> covered;  // "api vN req|resp" -> frames
  int checked = 0, unsupported = 0;
  for (const auto& f : frames) {
    const ApiInfo* api = find_api(f.api_key);
    if (api == nullptr || f.api_version < api->min_version || f.api_version > api->max_version) {
      ++unsupported;  // an API outside our schema: nothing to check
      continue;
    }
    std::string why;
    const bool ok = roundtrip_frame(f, why);
    const std::string where = f.file + ":" + std::to_string(f.line) + " " + api->name + " v" +
                              std::to_string(f.api_version) +
                              (f.request ? " request" : " response");
    if (!ok) FAIL_CHECK(where << ": " << why);
    ++checked;
    covered[std::string(api->name) + " v" + std::to_string(f.api_version) +
            (f.request ? " request" : " response")]++;
  }
  MESSAGE("checked ", checked, " frames (", covered.size(), " api/version/direction pairs), ",
          unsupported, " frames of APIs outside our schema");
  CHECK(covered.size() > 20);
}

}  // namespace
}  // namespace kgw
