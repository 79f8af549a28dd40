// ReplicaFetchers against a real kgw process as the leader: the test
// starts build/kgw (KGW) on a free port, creates a topic and produces to
// it over the wire (plain, compressed and idempotent batches), follows it
// into an in-memory Store, and compares the follower's log with what kgw
// serves a consumer, byte for byte, then once more after a later produce
// that reaches the follower through the long poll. This is the test of
// the wire format: our Fetch and OffsetForLeaderEpoch requests as kgw
// decodes them, and kgw's answers as the fetcher reads them.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "all_messages.h"
#include "common/timer_queue.h"
#include "protocol/records/record_batch_builder.h"
#include "src/cluster/metadata_image.h"
#include "src/interbroker/broker_connection.h"
#include "src/interbroker/inter_broker_client.h"
#include "src/interbroker/replica_fetcher.h"
#include "src/txn/producer_state_manager.h"
#include "storage/producer_store.h"
#include "storage/store.h"
#include "tests/free_port.h"
#include "tests/replica/test_loop.h"

namespace kgw {
namespace {

using test::free_port;
using test::TestLoop;

// build/kgw on 127.0.0.1:port with a fresh data dir; killed at the end.
class KgwProcess {
 public:
  KgwProcess() : port_(free_port()) {
    const char* kgw = std::getenv("KGW");
    REQUIRE_MESSAGE(kgw != nullptr, "KGW must name the kgw binary");
    std::string tmpl = (std::filesystem::temp_directory_path() / "kgw-fetcher-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    std::string listen = "127.0.0.1:";
    listen += std::to_string(port_);
    const std::string data = dir_ + "/data";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      ::execl(kgw, kgw, "--listen", listen.c_str(), "--data-dir", data.c_str(), "--log-level",
              "warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~KgwProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::int32_t port() const { return port_; }

 private:
  std::int32_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

// A client of the kgw process: one call at a time, waited for. `take`
// reads what it needs from the answer (its views live during the call).
struct Client {
  Client(TestLoop& loop, std::int32_t port) : loop(loop), conn(loop.get(), "127.0.0.1", port) {}

  template <typename Req, typename Resp>
  void call(const Req& req, const std::function<void(const Resp&)>& take,
            std::int16_t max_version = Req::max_version) {
    // kgw may still be starting: retry while the connection cannot be made.
    for (int attempt = 0;; ++attempt) {
      std::optional<CallError> got;
      conn.call<Req, Resp>(
          req,
          [&](CallError e, const Resp& resp) {
            if (e == CallError::kNone) take(resp);
            got = e;
          },
          max_version);
      loop.run_until([&] { return got.has_value(); });
      if (*got == CallError::kConnectFailed && attempt < 100) continue;
      REQUIRE(*got == CallError::kNone);
      return;
    }
  }

  // Produces one batch; returns its base offset.
  std::int64_t produce(const std::string& topic, std::vector<std::uint8_t> batch,
                       std::optional<std::string_view> transactional_id = std::nullopt) {
    ProduceRequest req;
    req.transactional_id = transactional_id;
    req.acks = -1;
    req.timeout_ms = 10000;
    auto& t = req.topic_data.emplace_back();
    t.name = topic;
    auto& p = t.partition_data.emplace_back();
    p.index = 0;
    p.records = Bytes(batch);
    std::int64_t base = -1;
    call<ProduceRequest, ProduceResponse>(req, [&](const ProduceResponse& resp) {
      REQUIRE(resp.responses.size() == 1);
      const auto& pr = resp.responses[0].partition_responses.at(0);
      CHECK(pr.error_code == 0);
      base = pr.base_offset;
    });
    return base;
  }

  // What kgw serves a consumer from offset 0: the records bytes.
  std::vector<std::uint8_t> consume(const Uuid& topic) {
    FetchRequest req;
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 64 << 20;
    auto& t = req.topics.emplace_back();
    t.topic_id = topic;
    auto& p = t.partitions.emplace_back();
    p.partition = 0;
    p.fetch_offset = 0;
    p.partition_max_bytes = 64 << 20;
    std::vector<std::uint8_t> out;
    call<FetchRequest, FetchResponse>(req, [&](const FetchResponse& resp) {
      REQUIRE(resp.responses.size() == 1);
      const auto& pd = resp.responses[0].partitions.at(0);
      CHECK(pd.error_code == 0);
      if (pd.records) out.assign(pd.records->begin(), pd.records->end());
    });
    return out;
  }

  TestLoop& loop;
  BrokerConnection conn;
};

std::vector<std::uint8_t> batch_of(int records, const std::string& tag,
                                   RecordBatchOptions options = {}) {
  RecordBatchBuilder builder(options);
  for (int r = 0; r < records; ++r) {
    std::string key = "k";
    key += std::to_string(r);
    std::string value = tag;
    value.append(static_cast<std::size_t>(50 + r), 'v');
    REQUIRE(builder.add(1700000000000 + r, Bytes(key), Bytes(value)) == RecordError::kNone);
  }
  std::vector<std::uint8_t> out;
  REQUIRE(builder.build(out) == RecordError::kNone);
  return out;
}

TEST_CASE("a follower of a real kgw leader keeps its log byte for byte") {
  KgwProcess kgw;
  TestLoop loop;
  Client client(loop, kgw.port());

  CreateTopicsRequest create;
  create.timeout_ms = 10000;
  auto& ct = create.topics.emplace_back();
  ct.name = "replicated";
  ct.num_partitions = 1;
  ct.replication_factor = 1;
  Uuid topic;
  client.call<CreateTopicsRequest, CreateTopicsResponse>(create,
                                                         [&](const CreateTopicsResponse& resp) {
                                                           REQUIRE(resp.topics.size() == 1);
                                                           CHECK(resp.topics[0].error_code == 0);
                                                           topic = resp.topics[0].topic_id;
                                                         });
  REQUIRE(topic != Uuid{});

  InitProducerIdRequest init;
  init.transactional_id = std::nullopt;
  init.transaction_timeout_ms = 60000;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  client.call<InitProducerIdRequest, InitProducerIdResponse>(
      init, [&](const InitProducerIdResponse& resp) {
        CHECK(resp.error_code == 0);
        producer_id = resp.producer_id;
        producer_epoch = resp.producer_epoch;
      });
  REQUIRE(producer_id >= 0);

  client.produce("replicated", batch_of(1, "one"));
  client.produce("replicated", batch_of(7, "seven"));
  RecordBatchOptions compressed;
  compressed.codec = CompressionCodec::kZstd;
  client.produce("replicated", batch_of(20, "zstd", compressed));
  RecordBatchOptions idempotent;
  idempotent.producer_id = producer_id;
  idempotent.producer_epoch = producer_epoch;
  idempotent.base_sequence = 0;
  client.produce("replicated", batch_of(4, "idem", idempotent));
  idempotent.base_sequence = 4;
  const std::int64_t last = client.produce("replicated", batch_of(3, "idem2", idempotent));
  std::int64_t end = last + 3;

  // The follower: an in-memory store with the same topic, fetching from
  // kgw, node 1 of an image that has only it.
  StoreOptions so;
  so.data_dir = "follower";
  so.in_memory = true;
  std::string error;
  std::unique_ptr<Store> store = Store::open(loop.get(), so, error);
  REQUIRE(store != nullptr);
  TopicInfo info;
  info.name = "replicated";
  info.id = topic;
  info.partitions = 1;
  bool created = false;
  store->create_topic(info, [&](const std::string& e) {
    CHECK(e == "");
    created = true;
  });
  loop.run_until([&] { return created; });
  ProducerStore producer_store(*store);
  ProducerStateManager producers(producer_store);
  const ImagePtr image = std::make_shared<const MetadataImage>()->apply(
      RegisterBroker{{1, "127.0.0.1", kgw.port(), std::nullopt}});
  InterBrokerClient peers(loop.get(), 2, [&] { return image; });
  std::int64_t high_watermark = -1;
  ReplicaFetcherHooks hooks;
  hooks.broker_epoch = [] { return std::int64_t{5}; };
  hooks.on_high_watermark = [&](const Uuid&, std::int32_t, std::int64_t hw) {
    high_watermark = hw;
  };
  ReplicaFetcherOptions options;
  options.fetch_backoff_ms = 50;
  // Replica id -1: a single kgw has no follower (a fetch naming replica 2
  // is refused NOT_LEADER_OR_FOLLOWER there, as Kafka refuses a replica
  // that is not one of the partition's), so kgw serves these fetches as a
  // consumer's, up to its high watermark. The same requests with a real
  // replica id, between kgw processes: tests/integration/
  // test_cluster_replication.py.
  ReplicaFetchers fetchers(loop.get(), *store, producers, peers, -1, options, hooks);
  // One node: every partition is led at epoch 0.
  fetchers.follow(topic, 0, 1, 0);

  const auto check_same = [&] {
    loop.run_until([&] { return high_watermark == end; });
    CHECK(store->partition(topic, 0)->log_end_offset == end);
    std::optional<ReadResult> mine;
    store->read(topic, 0, 0, 64 << 20, [&](ReadResult r) { mine = std::move(r); });
    loop.run_until([&] { return mine.has_value(); });
    REQUIRE(mine->error == "");
    CHECK(mine->data == client.consume(topic));
    CHECK(store->leader_epochs(topic, 0) == std::map<std::int32_t, std::int64_t>{{0, 0}});
    // The idempotent producer's state came with its batches.
    bool found = false;
    for (const ActiveProducer& a : producers.active(topic, 0)) {
      if (a.producer_id != producer_id) continue;
      found = true;
      CHECK(a.last_sequence == 6);
    }
    CHECK(found);
  };
  check_same();

  // A later produce reaches the follower through the long poll.
  end = client.produce("replicated", batch_of(2, "later")) + 2;
  check_same();

  // A transaction that aborts: its batch and kgw's ABORT marker reach the
  // follower, whose producer state then knows the aborted transaction.
  InitProducerIdRequest init_txn;
  init_txn.transactional_id = "txn";
  init_txn.transaction_timeout_ms = 60000;
  std::int64_t txn_producer = -1;
  std::int16_t txn_epoch = -1;
  client.call<InitProducerIdRequest, InitProducerIdResponse>(
      init_txn, [&](const InitProducerIdResponse& resp) {
        CHECK(resp.error_code == 0);
        txn_producer = resp.producer_id;
        txn_epoch = resp.producer_epoch;
      });
  REQUIRE(txn_producer >= 0);
  AddPartitionsToTxnRequest add;
  add.v3_and_below_transactional_id = "txn";
  add.v3_and_below_producer_id = txn_producer;
  add.v3_and_below_producer_epoch = txn_epoch;
  auto& at = add.v3_and_below_topics.emplace_back();
  at.name = "replicated";
  at.partitions = {0};
  client.call<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(
      add, [](const AddPartitionsToTxnResponse&) {}, 3);
  RecordBatchOptions transactional;
  transactional.producer_id = txn_producer;
  transactional.producer_epoch = txn_epoch;
  transactional.base_sequence = 0;
  transactional.transactional = true;
  const std::int64_t txn_first =
      client.produce("replicated", batch_of(2, "txn", transactional), std::string_view("txn"));
  EndTxnRequest end_txn;
  end_txn.transactional_id = "txn";
  end_txn.producer_id = txn_producer;
  end_txn.producer_epoch = txn_epoch;
  end_txn.committed = false;
  client.call<EndTxnRequest, EndTxnResponse>(
      end_txn, [](const EndTxnResponse& resp) { CHECK(resp.error_code == 0); });
  // The marker is written after EndTxn's answer: wait for it in the log.
  for (int i = 0;; ++i) {
    REQUIRE(i < 500);
    const std::vector<std::uint8_t> log = client.consume(topic);
    std::vector<Bytes> batches;
    REQUIRE(split_record_batches(Bytes(log), batches) == RecordError::kNone);
    RecordBatchHeader h;
    REQUIRE(parse_record_batch_header(batches.back(), h) == RecordError::kNone);
    if (h.is_control()) {
      end = h.last_offset() + 1;
      break;
    }
    bool tick = false;
    TimerQueue wait(loop.get());
    wait.schedule(20, [&] { tick = true; });
    loop.run_until([&] { return tick; });
  }
  check_same();
  const auto aborted = producers.aborted(topic, 0, 0, end);
  REQUIRE(aborted.size() == 1);
  CHECK(aborted[0].producer_id == txn_producer);
  CHECK(aborted[0].first_offset == txn_first);
  CHECK(aborted[0].last_offset == end - 1);
  CHECK(!producers.has_open_transaction(topic, 0, txn_producer));

  fetchers.stop();
  peers.stop();
  client.conn.close();
  CHECK(store->stop() == "");
}

}  // namespace
}  // namespace kgw
