// kgw-etcd-bench: the etcd client (src/cluster/etcd) against an etcd,
// for the README's "JSON gateway, not gRPC" line (docs/BENCHMARKS.md,
// "etcd client"; tools/bench/etcd_bench.sh starts an etcd and runs this
// beside the gRPC reference).
//   kgw-etcd-bench --endpoint 127.0.0.1:2379 [--txns 2000] [--puts 20000]
//                  [--inflight 64] [--value-size 100]
// Measures: sequential compare-and-swap txns (one at a time, as the
// controller writes), sequential puts, and puts with --inflight in flight.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <uv.h>

#include "src/cluster/etcd/etcd_client.h"

using kgw::etcd::Client;
using kgw::etcd::ClientOptions;
using kgw::etcd::Compare;
using kgw::etcd::Op;
using kgw::etcd::Status;
using kgw::etcd::TxnRequest;
using kgw::etcd::TxnResult;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string endpoint = "127.0.0.1:2379";
  int txns = 2000;
  int puts = 20000;
  int inflight = 64;
  int value_size = 100;
};

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void report(const char* what, int n, Clock::duration total, std::vector<double> lat) {
  std::sort(lat.begin(), lat.end());
  double secs = std::chrono::duration<double>(total).count();
  auto pct = [&](double p) {
    return lat.empty() ? 0.0
                       : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))];
  };
  std::printf("%-28s %7d ops in %6.2f s = %8.0f ops/s   p50 %6.3f ms   p99 %6.3f ms\n", what, n,
              secs, n / secs, pct(0.50), pct(0.99));
}

void fail(const Status& s) {
  std::fprintf(stderr, "kgw-etcd-bench: %s\n", s.message.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--endpoint")
      a.endpoint = argv[i + 1];
    else if (k == "--txns")
      a.txns = std::atoi(argv[i + 1]);
    else if (k == "--puts")
      a.puts = std::atoi(argv[i + 1]);
    else if (k == "--inflight")
      a.inflight = std::atoi(argv[i + 1]);
    else if (k == "--value-size")
      a.value_size = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "kgw-etcd-bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  uv_loop_t* loop = uv_default_loop();
  Client client(loop, ClientOptions{{a.endpoint}, 10000, 1000});
  std::string value(static_cast<std::size_t>(a.value_size), 'v');

  // Sequential compare-and-swap txns on one key: compare mod_revision,
  // put; the next starts when the previous answered.
  {
    std::vector<double> lat;
    std::int64_t mod = 0;
    int done = 0;
    auto start = Clock::now();
    std::function<void()> next = [&] {
      TxnRequest t;
      t.compare.push_back(Compare{"bench/cas", Compare::kMod, Compare::kEqual, mod, ""});
      t.success.push_back(Op{Op::kPut, "bench/cas", "", value, 0});
      auto sent = Clock::now();
      client.txn(std::move(t), [&, sent](Status s, TxnResult r) {
        if (!s.ok()) fail(s);
        if (!r.succeeded && done > 0) fail(Status{Status::kFailed, "CAS lost", 0});
        // The first compare (mod 0) fails when the key exists already.
        mod = r.succeeded ? r.revision : 0;
        if (!r.succeeded) {
          client.range("bench/cas", "", 0, [&](Status, kgw::etcd::RangeResult rr) {
            mod = rr.kvs.empty() ? 0 : rr.kvs[0].mod_revision;
            next();
          });
          return;
        }
        lat.push_back(ms(Clock::now() - sent));
        if (++done < a.txns) next();
      });
    };
    next();
    uv_run(loop, UV_RUN_DEFAULT);
    report("sequential txn (CAS put)", done, Clock::now() - start, lat);
  }
  // Sequential puts.
  {
    std::vector<double> lat;
    int done = 0;
    auto start = Clock::now();
    std::function<void()> next = [&] {
      auto sent = Clock::now();
      client.put("bench/seq/" + std::to_string(done % 1000), value, 0,
                 [&, sent](Status s, std::int64_t) {
                   if (!s.ok()) fail(s);
                   lat.push_back(ms(Clock::now() - sent));
                   if (++done < a.txns) next();
                 });
    };
    next();
    uv_run(loop, UV_RUN_DEFAULT);
    report("sequential put", done, Clock::now() - start, lat);
  }
  // Pipelined puts: --inflight outstanding at any time.
  {
    std::vector<double> lat;
    int sent_n = 0, done = 0;
    auto start = Clock::now();
    std::function<void()> send = [&] {
      int i = sent_n++;
      auto sent = Clock::now();
      client.put("bench/pipe/" + std::to_string(i % 10000), value, 0,
                 [&, sent](Status s, std::int64_t) {
                   if (!s.ok()) fail(s);
                   lat.push_back(ms(Clock::now() - sent));
                   ++done;
                   if (sent_n < a.puts) send();
                 });
    };
    for (int i = 0; i < a.inflight && sent_n < a.puts; ++i) send();
    uv_run(loop, UV_RUN_DEFAULT);
    char what[64];
    std::snprintf(what, sizeof what, "pipelined put (%d in flight)", a.inflight);
    report(what, done, Clock::now() - start, lat);
  }
  return 0;
}
