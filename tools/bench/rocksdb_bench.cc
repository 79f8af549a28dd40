// kgw-rocksdb-bench: raw RocksDB sequential-write throughput with kgw's own
// database options (storage/database.cc) and key layout, the ceiling for
// kgw's produce path on this disk. Writes BYTES of values, each VALUE
// bytes (a stand-in for one record batch), under consecutive log keys of
// one partition, GROUP bytes per DB::Write (a stand-in for one group
// commit), from one thread, with WriteOptions::sync as kgw's --fsync.
//
//   kgw-rocksdb-bench --dir DIR [--bytes N] [--value N] [--group N] [--sync] [--json]
//                     (default 1 GiB, 64 KiB values, 1 MiB per write, no sync)
//
// DIR must not hold a database yet (the run starts empty, as kgw's
// benchmark does); it is left behind for the caller to remove.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/keys.h"

namespace {

std::uint64_t parse_size(const char* flag, const char* s) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v == 0) {
    std::fprintf(stderr, "kgw-rocksdb-bench: %s needs a positive integer, not '%s'\n", flag, s);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::uint64_t total = 1ull << 30;
  std::size_t value_size = 64u << 10;
  std::size_t group = 1u << 20;
  bool sync = false;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      json = true;
    else if (a == "--sync")
      sync = true;
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--bytes" && i + 1 < argc)
      total = parse_size("--bytes", argv[++i]);
    else if (a == "--value" && i + 1 < argc)
      value_size = parse_size("--value", argv[++i]);
    else if (a == "--group" && i + 1 < argc)
      group = parse_size("--group", argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: kgw-rocksdb-bench --dir DIR [--bytes N] [--value N] [--group N] "
                   "[--sync] [--json]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "kgw-rocksdb-bench: --dir is required\n");
    return 2;
  }
  std::string error;
  std::unique_ptr<kgw::Database> db = kgw::Database::open(dir, error);
  if (!db) {
    std::fprintf(stderr, "kgw-rocksdb-bench: %s\n", error.c_str());
    return 1;
  }
  kgw::Uuid topic;
  topic.bytes[15] = 1;
  // Random uppercase letters, as kgw-perf sends: bytes as compressible as
  // the ones kgw stores in the same benchmark.
  std::string value(value_size, ' ');
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (char& c : value) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    c = static_cast<char>('A' + x % 26);
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  std::uint64_t written = 0;
  std::int64_t offset = 0;
  std::uint64_t writes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (written < total) {
    rocksdb::WriteBatch batch;
    std::size_t in_group = 0;
    while (in_group < group && written < total) {
      rocksdb::Status s = batch.Put(db->log(), kgw::keys::log_key(topic, 0, offset), value);
      if (!s.ok()) {
        std::fprintf(stderr, "kgw-rocksdb-bench: %s\n", db->describe(s).c_str());
        return 1;
      }
      offset += 1000;
      in_group += value.size();
      written += value.size();
    }
    rocksdb::Status s = db->db().Write(wo, &batch);
    ++writes;
    if (!s.ok()) {
      std::fprintf(stderr, "kgw-rocksdb-bench: %s\n", db->describe(s).c_str());
      return 1;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string close_error = db->close();
  if (!close_error.empty()) {
    std::fprintf(stderr, "kgw-rocksdb-bench: %s\n", close_error.c_str());
    return 1;
  }
  const double mbps = static_cast<double>(written) / secs / 1e6;
  std::fprintf(stderr, "rocksdb: %llu bytes in %llu writes, %.3f s: %.1f MB/s (sync %s)\n",
               static_cast<unsigned long long>(written), static_cast<unsigned long long>(writes),
               secs, mbps, sync ? "on" : "off");
  if (json) {
    std::printf("{\"bytes\": %llu, \"writes\": %llu, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n",
                static_cast<unsigned long long>(written), static_cast<unsigned long long>(writes),
                secs, mbps);
  }
  return 0;
}
