// kgw-etcd-grpc-bench: the reference for kgw-etcd-bench: the same
// operations (sequential CAS txns, sequential puts, puts with --inflight
// in flight) over etcd's gRPC API with grpc++ (sync stub for the
// sequential runs, a completion queue for the pipelined one). Built only
// where grpc++ and protoc are installed (libgrpc++-dev,
// protobuf-compiler-grpc); run by etcd_bench.sh.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "etcd_kv.grpc.pb.h"

using Clock = std::chrono::steady_clock;

namespace {

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

void check(const grpc::Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "kgw-etcd-grpc-bench: %s\n", s.error_message().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint = "127.0.0.1:2379";
  int txns = 2000, puts = 20000, inflight = 64, value_size = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--endpoint")
      endpoint = argv[i + 1];
    else if (k == "--txns")
      txns = std::atoi(argv[i + 1]);
    else if (k == "--puts")
      puts = std::atoi(argv[i + 1]);
    else if (k == "--inflight")
      inflight = std::atoi(argv[i + 1]);
    else if (k == "--value-size")
      value_size = std::atoi(argv[i + 1]);
  }
  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  std::string value(static_cast<std::size_t>(value_size), 'v');

  {
    etcdserverpb::RangeRequest rr;
    rr.set_key("bench/cas");
    etcdserverpb::RangeResponse rs;
    grpc::ClientContext ctx;
    check(kv->Range(&ctx, rr, &rs));
    std::int64_t mod = rs.kvs_size() > 0 ? rs.kvs(0).mod_revision() : 0;
    std::vector<double> lat;
    auto start = Clock::now();
    for (int i = 0; i < txns; ++i) {
      etcdserverpb::TxnRequest t;
      auto* c = t.add_compare();
      c->set_key("bench/cas");
      c->set_target(etcdserverpb::Compare::MOD);
      c->set_result(etcdserverpb::Compare::EQUAL);
      c->set_mod_revision(mod);
      auto* p = t.add_success()->mutable_request_put();
      p->set_key("bench/cas");
      p->set_value(value);
      etcdserverpb::TxnResponse r;
      grpc::ClientContext ctx2;
      auto sent = Clock::now();
      check(kv->Txn(&ctx2, t, &r));
      lat.push_back(ms(Clock::now() - sent));
      if (!r.succeeded()) {
        std::fprintf(stderr, "kgw-etcd-grpc-bench: CAS lost\n");
        return 1;
      }
      mod = r.header().revision();
    }
    report("sequential txn (CAS put)", txns, Clock::now() - start, lat);
  }
  {
    std::vector<double> lat;
    auto start = Clock::now();
    for (int i = 0; i < txns; ++i) {
      etcdserverpb::PutRequest p;
      p.set_key("bench/seq/" + std::to_string(i % 1000));
      p.set_value(value);
      etcdserverpb::PutResponse r;
      grpc::ClientContext ctx;
      auto sent = Clock::now();
      check(kv->Put(&ctx, p, &r));
      lat.push_back(ms(Clock::now() - sent));
    }
    report("sequential put", txns, Clock::now() - start, lat);
  }
  {
    struct Call {
      grpc::ClientContext ctx;
      etcdserverpb::PutResponse response;
      grpc::Status status;
      std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::PutResponse>> reader;
      Clock::time_point sent;
    };
    grpc::CompletionQueue cq;
    std::vector<double> lat;
    int sent_n = 0, done = 0;
    auto send = [&] {
      auto* call = new Call;
      etcdserverpb::PutRequest p;
      p.set_key("bench/pipe/" + std::to_string(sent_n++ % 10000));
      p.set_value(value);
      call->sent = Clock::now();
      call->reader = kv->AsyncPut(&call->ctx, p, &cq);
      call->reader->Finish(&call->response, &call->status, call);
    };
    auto start = Clock::now();
    for (int i = 0; i < inflight && sent_n < puts; ++i) send();
    void* tag = nullptr;
    bool ok = false;
    while (done < puts && cq.Next(&tag, &ok)) {
      auto* call = static_cast<Call*>(tag);
      check(call->status);
      lat.push_back(ms(Clock::now() - call->sent));
      delete call;
      ++done;
      if (sent_n < puts) send();
    }
    char what[64];
    std::snprintf(what, sizeof what, "pipelined put (%d in flight)", inflight);
    report(what, done, Clock::now() - start, lat);
    cq.Shutdown();
  }
  return 0;
}
