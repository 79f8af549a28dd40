// kgw-fuzz-seeds OUT_DIR CAPTURED_DIR: writes the seed corpora of the fuzz
// targets, one file per input, under OUT_DIR/<target>/:
//  - fuzz_request: every request frame captured from real clients
//    (tests/fixtures/captured/*.frames, "req" lines), plus a filled request
//    (the round-trip test's filler) for every API and version, so APIs no
//    captured client sent are reached too;
//  - fuzz_record_batch: batches of every codec, plain, with headers, a
//    control batch, several back to back and a cut one (first byte 1: the
//    target fixes CRCs of mutated inputs);
//  - fuzz_decompress: compressed text of every codec.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "all_fills.h"
#include "all_messages.h"
#include "protocol/records/control_record.h"
#include "protocol/records/record_batch_builder.h"
#include "protocol/wire/headers.h"

namespace fs = std::filesystem;

namespace {

int written = 0;

void write(const fs::path& dir, const std::string& name, const std::vector<std::uint8_t>& data) {
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  ++written;
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

template <typename T>
void filled_requests(const fs::path& dir) {
  for (std::int16_t v = T::min_version; v <= T::max_version; ++v) {
    kgw::testing::TestFiller filler(static_cast<std::uint64_t>(T::api_key) * 1000 + v);
    T value;
    kgw::testing::fill(value, v, filler);
    kgw::RequestHeader h;
    h.api_key = T::api_key;
    h.api_version = v;
    h.correlation_id = 1;
    h.client_id = "kgw-fuzz";
    std::vector<std::uint8_t> buf;
    kgw::Writer w(buf);
    h.encode(w, kgw::request_header_version(T::api_key, v));
    value.encode(w, v);
    write(dir, "fill-" + std::to_string(T::api_key) + "-v" + std::to_string(v), buf);
  }
}

std::vector<std::uint8_t> batch(kgw::CompressionCodec codec, int records, bool headers) {
  kgw::RecordBatchOptions o;
  o.codec = codec;
  kgw::RecordBatchBuilder b(o);
  const std::string key = "key", value = "a value that compresses, a value that compresses";
  const kgw::RecordHeader hs[] = {
      {"h1", kgw::Bytes(reinterpret_cast<const std::uint8_t*>("v1"), 2)}};
  for (int i = 0; i < records; ++i) {
    b.add(1'700'000'000'000 + i,
          kgw::Bytes(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()),
          kgw::Bytes(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()),
          headers ? std::span<const kgw::RecordHeader>(hs) : std::span<const kgw::RecordHeader>());
  }
  std::vector<std::uint8_t> out{1};  // the target's "fix CRCs" byte
  b.build(out);
  return out;
}

void all_filled_requests(const fs::path& dir) {
  using namespace kgw;  // the X-macro names the types unqualified
#define KGW_SEED_FILL(Req, Resp) filled_requests<Req>(dir);
  KGW_FOR_EACH_API(KGW_SEED_FILL)
#undef KGW_SEED_FILL
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kgw-fuzz-seeds OUT_DIR CAPTURED_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path captured = argv[2];

  const fs::path req = out / "fuzz_request";
  std::error_code ec;
  for (fs::directory_iterator it(captured, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".frames") continue;
    std::ifstream f(it->path());
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
      std::istringstream words(line);
      std::string kind, key, version, corr, hex;
      if (!(words >> kind >> key >> version >> corr >> hex) || kind != "req") continue;
      write(req, it->path().stem().string() + "-" + std::to_string(n++), from_hex(hex));
    }
  }
  if (ec) {
    std::fprintf(stderr, "kgw-fuzz-seeds: %s: %s\n", captured.c_str(), ec.message().c_str());
    return 1;
  }
  all_filled_requests(req);

  const fs::path rb = out / "fuzz_record_batch";
  const fs::path dc = out / "fuzz_decompress";
  const std::string text = "kgw fuzz seed: a record, a record, a record, another record.";
  for (int c = 0; c <= 4; ++c) {
    const auto codec = static_cast<kgw::CompressionCodec>(c);
    write(rb, std::string("batch-") + kgw::codec_name(codec), batch(codec, 3, false));
    write(rb, std::string("batch-headers-") + kgw::codec_name(codec), batch(codec, 2, true));
    std::vector<std::uint8_t> packed{static_cast<std::uint8_t>(c)};
    kgw::compress(
        codec, kgw::Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), packed);
    write(dc, std::string("text-") + kgw::codec_name(codec), packed);
  }
  {
    std::vector<std::uint8_t> two = batch(kgw::CompressionCodec::kNone, 1, false);
    std::vector<std::uint8_t> second = batch(kgw::CompressionCodec::kLz4, 4, true);
    two.insert(two.end(), second.begin() + 1, second.end());
    write(rb, "two-batches", two);
    two.resize(two.size() - 9);
    write(rb, "partial-tail", two);
  }
  {
    kgw::RecordBatchOptions o;
    o.control = true;
    o.transactional = true;
    o.producer_id = 42;
    o.producer_epoch = 1;
    kgw::RecordBatchBuilder b(o);
    std::vector<std::uint8_t> k, v;
    kgw::encode_control_record_key(kgw::ControlRecordType::kCommit, k);
    kgw::encode_end_txn_marker(3, v);
    b.add(1'700'000'000'000, kgw::Bytes(k), kgw::Bytes(v));
    std::vector<std::uint8_t> control{1};
    b.build(control);
    write(rb, "control-commit", control);
  }
  std::printf("kgw-fuzz-seeds: %d seed files under %s\n", written, out.c_str());
  return 0;
}
