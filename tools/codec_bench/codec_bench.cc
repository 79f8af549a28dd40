// kgw-codec-bench: decode and encode time of Produce and Fetch messages, to
// keep the generated codec off the broker's profile.
//
//   kgw-codec-bench [--iterations N] [--partitions P] [--batch-bytes B]
//
// Prints ns per message and MB/s for: Produce request decode/encode (the
// broker's hot input) and Fetch request decode / Fetch response encode (its
// hot output). Records are opaque views, so the figures measure the codec,
// not copying of record bytes; a memcpy of the same bytes is printed beside
// them as the reference.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fetch.h"
#include "produce.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  long iterations = 200000;
  int partitions = 8;
  std::size_t batch_bytes = 16384;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](long& out) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      out = std::strtol(argv[++i], &end, 10);
      return *end == '\0' && out > 0;
    };
    long v = 0;
    if (a == "--iterations" && value(v)) {
      o.iterations = v;
    } else if (a == "--partitions" && value(v)) {
      o.partitions = static_cast<int>(v);
    } else if (a == "--batch-bytes" && value(v)) {
      o.batch_bytes = static_cast<std::size_t>(v);
    } else {
      std::fprintf(stderr,
                   "kgw-codec-bench: bad argument '%s'\n"
                   "usage: kgw-codec-bench [--iterations N] [--partitions P] [--batch-bytes B]\n",
                   a.c_str());
      return false;
    }
  }
  return true;
}

template <typename F>
double ns_per_op(long iterations, F&& f) {
  for (long i = 0; i < iterations / 20 + 1; ++i) f();  // warm up
  const auto start = Clock::now();
  for (long i = 0; i < iterations; ++i) f();
  const auto ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  return ns / static_cast<double>(iterations);
}

volatile std::size_t g_sink;  // keeps results alive

void report(const char* what, double ns, std::size_t bytes) {
  std::printf("%-34s %10.1f ns/msg  %9.1f MB/s  (%zu bytes)\n", what, ns,
              static_cast<double>(bytes) / ns * 1e3, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 2;
  const std::vector<std::uint8_t> batch(o.batch_bytes, 0x5A);
  std::vector<std::string> topic_names;
  for (int i = 0; i < 2; ++i) topic_names.push_back("benchmark-topic-" + std::to_string(i));

  for (std::int16_t version : {std::int16_t{8}, std::int16_t{9}, std::int16_t{11}}) {
    kgw::ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = 30000;
    for (const auto& name : topic_names) {
      auto& t = req.topic_data.emplace_back();
      t.name = name;
      for (int p = 0; p < o.partitions / 2; ++p) {
        auto& pd = t.partition_data.emplace_back();
        pd.index = p;
        pd.records = kgw::Bytes(batch);
      }
    }
    std::vector<std::uint8_t> wire;
    kgw::Writer w(wire);
    req.encode(w, version);
    const std::string label = "Produce v" + std::to_string(version);
    report((label + " request decode").c_str(),
           ns_per_op(o.iterations,
                     [&] {
                       kgw::ProduceRequest d;
                       kgw::Reader r{kgw::Bytes(wire)};
                       d.decode(r, version);
                       g_sink = d.topic_data.size();
                     }),
           wire.size());
    std::vector<std::uint8_t> out;
    out.reserve(wire.size());
    report((label + " request encode").c_str(),
           ns_per_op(o.iterations,
                     [&] {
                       out.clear();
                       kgw::Writer ow(out);
                       req.encode(ow, version);
                       g_sink = out.size();
                     }),
           wire.size());
  }

  for (std::int16_t version : {std::int16_t{11}, std::int16_t{12}, std::int16_t{16}}) {
    kgw::FetchRequest req;
    req.max_wait_ms = 500;
    req.min_bytes = 1;
    kgw::FetchResponse resp;
    for (const auto& name : topic_names) {
      auto& t = req.topics.emplace_back();
      t.topic = name;
      auto& rt = resp.responses.emplace_back();
      rt.topic = name;
      for (int p = 0; p < o.partitions / 2; ++p) {
        auto& fp = t.partitions.emplace_back();
        fp.partition = p;
        fp.fetch_offset = 123456789;
        fp.partition_max_bytes = 1 << 20;
        auto& pd = rt.partitions.emplace_back();
        pd.partition_index = p;
        pd.high_watermark = 123456999;
        pd.records = kgw::Bytes(batch);
      }
    }
    std::vector<std::uint8_t> wire;
    kgw::Writer w(wire);
    req.encode(w, version);
    const std::string label = "Fetch v" + std::to_string(version);
    report((label + " request decode").c_str(),
           ns_per_op(o.iterations,
                     [&] {
                       kgw::FetchRequest d;
                       kgw::Reader r{kgw::Bytes(wire)};
                       d.decode(r, version);
                       g_sink = d.topics.size();
                     }),
           wire.size());
    std::vector<std::uint8_t> out;
    report((label + " response encode").c_str(),
           ns_per_op(o.iterations / 4 + 1,
                     [&] {
                       out.clear();
                       kgw::Writer ow(out);
                       resp.encode(ow, version);
                       g_sink = out.size();
                     }),
           resp.size(version));
  }

  const std::size_t total = batch.size() * static_cast<std::size_t>(o.partitions);
  std::vector<std::uint8_t> src(total, 1), dst(total);
  report("reference: memcpy of the records",
         ns_per_op(o.iterations / 4 + 1,
                   [&] {
                     std::memcpy(dst.data(), src.data(), total);
                     g_sink = dst[total / 2];
                   }),
         total);
  return 0;
}
