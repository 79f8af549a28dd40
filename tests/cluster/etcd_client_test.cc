// The etcd client against a real etcd (/usr/bin/etcd started here as a
// child, data in a temp dir, loopback ports): put and range, transactions
// on both branches, leases (expiry, keepalive, revoke), watches (from a
// revision, a txn's events together, cancel, compaction, connection loss),
// endpoint failover, and the callback rules (never inside the call, never
// after destruction). Without /usr/bin/etcd the test exits 77 (skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <uv.h>

#include "src/cluster/etcd/etcd_client.h"
#include "tests/free_port.h"

namespace kgw::etcd {
namespace {

// KGW_ETCD_BINARY overrides (a missing path shows the skip).
const char* const kEtcd =
    std::getenv("KGW_ETCD_BINARY") ? std::getenv("KGW_ETCD_BINARY") : "/usr/bin/etcd";

using test::free_port;

bool can_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One etcd member in a temp dir, killed (SIGKILL) by the destructor. By
// default a cluster of its own; with `initial_cluster` one member of it.
class EtcdServer {
 public:
  explicit EtcdServer(std::string name = "t", int client_port = 0, int peer_port = 0,
                      std::string initial_cluster = "")
      : client_port_(client_port != 0 ? client_port : free_port()),
        peer_port_(peer_port != 0 ? peer_port : free_port()) {
    char tmpl[] = "/tmp/kgw-etcd-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    while (peer_port_ == client_port_) peer_port_ = free_port();
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    if (initial_cluster.empty()) initial_cluster = name + "=" + peer;
    std::string log = dir_ + "/etcd.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::string data = dir_ + "/data";
      ::execl(kEtcd, kEtcd, "--name", name.c_str(), "--data-dir", data.c_str(),
              "--listen-client-urls", client.c_str(), "--advertise-client-urls", client.c_str(),
              "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(),
              "--initial-cluster", initial_cluster.c_str(), "--initial-cluster-state", "new",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  // etcd listens for clients once it has joined its cluster.
  void wait_ready() const {
    for (int i = 0; i < 400 && !can_connect(client_port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ~EtcdServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

 private:
  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

EtcdServer* g_etcd = nullptr;

// A cluster of three members, m0..m2, each ready for clients.
std::vector<std::unique_ptr<EtcdServer>> three_members() {
  std::vector<int> ports;
  while (ports.size() < 6) {
    int p = free_port();
    if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
  }
  std::string cluster;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) cluster += ',';
    cluster += 'm';
    cluster += std::to_string(i);
    cluster += "=http://127.0.0.1:";
    cluster += std::to_string(ports[2 * i + 1]);
  }
  std::vector<std::unique_ptr<EtcdServer>> members;
  for (int i = 0; i < 3; ++i) {
    std::string name = "m";
    name += std::to_string(i);
    members.push_back(std::make_unique<EtcdServer>(name, ports[2 * i], ports[2 * i + 1], cluster));
  }
  for (auto& m : members) m->wait_ready();
  return members;
}

// A loop and a Client on it; run() turns the loop until a condition holds.
struct Fixture {
  uv_loop_t loop;
  uv_timer_t ticker;  // keeps UV_RUN_ONCE from blocking forever
  std::unique_ptr<Client> client;

  explicit Fixture(std::vector<std::string> endpoints = {g_etcd->endpoint()},
                   std::int64_t timeout_ms = 5000) {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &ticker);
    uv_timer_start(
        &ticker, [](uv_timer_t*) {}, 5, 5);
    client = std::make_unique<Client>(&loop, ClientOptions{std::move(endpoints), timeout_ms, 1000});
  }
  ~Fixture() {
    client.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);  // every handle the client made is closed
  }
  template <typename F>
  bool run(F done, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
  }
  void run_for(int ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    run([&] { return std::chrono::steady_clock::now() >= until; }, ms + 1000);
  }

  // Synchronous helpers for the tests.
  std::int64_t put(const std::string& k, const std::string& v, std::int64_t lease = 0) {
    std::optional<Status> st;
    std::int64_t rev = 0;
    client->put(k, v, lease, [&](Status s, std::int64_t r) { st = s, rev = r; });
    REQUIRE(run([&] { return st.has_value(); }));
    REQUIRE_MESSAGE(st->ok(), st->message);
    return rev;
  }
  std::pair<Status, RangeResult> range(const std::string& k, const std::string& end = "",
                                       std::int64_t rev = 0) {
    std::optional<std::pair<Status, RangeResult>> got;
    client->range(k, end, rev, [&](Status s, RangeResult r) { got.emplace(s, std::move(r)); });
    REQUIRE(run([&] { return got.has_value(); }));
    return *got;
  }
  std::pair<Status, TxnResult> txn(TxnRequest t) {
    std::optional<std::pair<Status, TxnResult>> got;
    client->txn(std::move(t), [&](Status s, TxnResult r) { got.emplace(s, std::move(r)); });
    REQUIRE(run([&] { return got.has_value(); }));
    return *got;
  }
};

}  // namespace

TEST_CASE("put and range: one key, a prefix, binary keys, an old revision") {
  Fixture f;
  std::int64_t r1 = f.put("pr/a", "1");
  std::int64_t r2 = f.put("pr/b", "2");
  std::string binary("pr/\x00\xff\x01", 6);
  f.put(binary, std::string("\x00v", 2));
  f.put("pr/a", "3");
  CHECK(r2 == r1 + 1);

  auto [s, one] = f.range("pr/a");
  REQUIRE(s.ok());
  REQUIRE(one.kvs.size() == 1);
  CHECK(one.kvs[0].value == "3");
  CHECK(one.kvs[0].create_revision == r1);
  CHECK(one.kvs[0].version == 2);
  CHECK(one.kvs[0].mod_revision == one.revision);

  auto [s2, all] = f.range("pr/", prefix_end("pr/"));
  REQUIRE(s2.ok());
  REQUIRE(all.kvs.size() == 3);
  CHECK(all.kvs[0].key == binary);  // etcd orders keys bytewise
  CHECK(all.kvs[0].value == std::string("\x00v", 2));
  CHECK(all.kvs[1].key == "pr/a");
  CHECK(all.kvs[2].key == "pr/b");

  auto [s3, old] = f.range("pr/a", "", r1);
  REQUIRE(s3.ok());
  REQUIRE(old.kvs.size() == 1);
  CHECK(old.kvs[0].value == "1");

  auto [s4, none] = f.range("pr/missing");
  CHECK(s4.ok());
  CHECK(none.kvs.empty());

  auto [s5, future] = f.range("pr/a", "", one.revision + 1000);
  CHECK(s5.code == Status::kFailed);
  CHECK(s5.message.find("future revision") != std::string::npos);
}

TEST_CASE("txn: the success branch when the compare holds, the failure branch when not") {
  Fixture f;
  TxnRequest create;
  create.compare.push_back(Compare{"tx/k", Compare::kCreate, Compare::kEqual, 0, ""});
  create.success.push_back(Op{Op::kPut, "tx/k", "", "first", 0});
  create.success.push_back(Op{Op::kPut, "tx/other", "", "o", 0});
  create.failure.push_back(Op{Op::kRange, "tx/k", "", "", 0});
  auto [s1, t1] = f.txn(create);
  REQUIRE(s1.ok());
  CHECK(t1.succeeded);
  CHECK(t1.ranges.empty());

  create.success[0].value = "second";
  auto [s2, t2] = f.txn(create);
  REQUIRE(s2.ok());
  CHECK_FALSE(t2.succeeded);
  CHECK(t2.revision == t1.revision);  // nothing written
  REQUIRE(t2.ranges.size() == 1);
  REQUIRE(t2.ranges[0].kvs.size() == 1);
  CHECK(t2.ranges[0].kvs[0].value == "first");
  CHECK(t2.ranges[0].kvs[0].create_revision == t1.revision);

  // Compare-and-swap on mod_revision and value, with a delete and a range.
  TxnRequest cas;
  cas.compare.push_back(Compare{"tx/k", Compare::kMod, Compare::kEqual, t1.revision, ""});
  cas.compare.push_back(Compare{"tx/k", Compare::kValue, Compare::kEqual, 0, "first"});
  cas.success.push_back(Op{Op::kPut, "tx/k", "", "swapped", 0});
  cas.success.push_back(Op{Op::kDelete, "tx/other", "", "", 0});
  cas.success.push_back(Op{Op::kRange, "tx/", prefix_end("tx/"), "", 0});
  auto [s3, t3] = f.txn(cas);
  REQUIRE(s3.ok());
  CHECK(t3.succeeded);
  CHECK(t3.revision == t1.revision + 1);
  REQUIRE(t3.ranges.size() == 1);
  REQUIRE(t3.ranges[0].kvs.size() == 1);  // the delete ran before the range
  CHECK(t3.ranges[0].kvs[0].value == "swapped");

  auto [s4, t4] = f.txn(cas);  // mod_revision moved on
  REQUIRE(s4.ok());
  CHECK_FALSE(t4.succeeded);

  TxnRequest bad;  // etcd refuses two writes of one key in a txn
  bad.success.push_back(Op{Op::kPut, "tx/d", "", "1", 0});
  bad.success.push_back(Op{Op::kPut, "tx/d", "", "2", 0});
  auto [s5, t5] = f.txn(bad);
  CHECK(s5.code == Status::kFailed);
  CHECK_FALSE(s5.message.empty());
}

TEST_CASE("leases: keepalive renews, expiry removes the key, revoke removes it at once") {
  Fixture f;
  std::optional<Status> st;
  std::int64_t id = 0, ttl = 0;
  f.client->lease_grant(1,
                        [&](Status s, std::int64_t i, std::int64_t t) { st = s, id = i, ttl = t; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  REQUIRE(st->ok());
  CHECK(id != 0);
  CHECK(ttl >= 1);  // etcd raises TTLs below its minimum (about 1.5 election timeouts)
  f.put("ls/alive", "x", id);
  CHECK(f.range("ls/alive").second.kvs.at(0).lease == id);

  st.reset();
  std::int64_t renewed = -1;
  f.client->lease_keepalive(id, [&](Status s, std::int64_t t) { st = s, renewed = t; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  REQUIRE(st->ok());
  CHECK(renewed >= 1);

  // No more keepalives: the key goes with the lease.
  auto start = std::chrono::steady_clock::now();
  REQUIRE(f.run([&] { return f.range("ls/alive").second.kvs.empty(); }, 10000));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(6));
  st.reset();
  f.client->lease_keepalive(id, [&](Status s, std::int64_t t) { st = s, renewed = t; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  CHECK(st->ok());
  CHECK(renewed == 0);  // expired

  st.reset();
  f.client->lease_grant(60,
                        [&](Status s, std::int64_t i, std::int64_t t) { st = s, id = i, ttl = t; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  REQUIRE(st->ok());
  CHECK(ttl == 60);
  f.put("ls/revoked", "x", id);
  st.reset();
  f.client->lease_revoke(id, [&](Status s) { st = s; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  REQUIRE(st->ok());
  CHECK(f.range("ls/revoked").second.kvs.empty());
  st.reset();
  f.client->lease_revoke(id, [&](Status s) { st = s; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  CHECK(st->code == Status::kFailed);
  CHECK(st->message.find("lease not found") != std::string::npos);
}

TEST_CASE("watch: events from a revision, one txn's events in one call, cancel") {
  Fixture f;
  std::int64_t base = f.put("wa/x", "0");
  struct Batch {
    std::int64_t revision;
    std::vector<Event> events;
  };
  std::vector<Batch> got;
  std::optional<Status> ended;
  bool in_call = true;
  bool called_inside = false;
  std::uint64_t id = f.client->watch(
      "wa/", prefix_end("wa/"), base + 1,
      [&](std::int64_t rev, std::vector<Event> ev) {
        called_inside |= in_call;
        got.push_back({rev, std::move(ev)});
      },
      [&](Status s) { ended = s; });
  in_call = false;
  f.run_for(100);  // the watch is created before the writes (it would catch up anyway)

  std::int64_t r1 = f.put("wa/a", "1");
  TxnRequest t;
  t.success.push_back(Op{Op::kPut, "wa/b", "", "2", 0});
  t.success.push_back(Op{Op::kPut, "wa/c", "", "3", 0});
  t.success.push_back(Op{Op::kDelete, "wa/a", "", "", 0});
  auto [s, tr] = f.txn(t);
  REQUIRE(s.ok());
  f.put("other/z", "outside the range");
  REQUIRE(f.run([&] { return got.size() >= 2; }));
  CHECK_FALSE(called_inside);
  REQUIRE(got.size() == 2);
  CHECK(got[0].revision == r1);
  REQUIRE(got[0].events.size() == 1);
  CHECK(got[0].events[0].type == Event::kPut);
  CHECK(got[0].events[0].kv.key == "wa/a");
  CHECK(got[0].events[0].kv.value == "1");
  CHECK(got[1].revision == tr.revision);
  REQUIRE(got[1].events.size() == 3);
  int puts = 0, deletes = 0;
  for (const auto& e : got[1].events) {
    CHECK(e.kv.mod_revision == tr.revision);
    if (e.type == Event::kDelete) {
      ++deletes;
      CHECK(e.kv.key == "wa/a");
    } else {
      ++puts;
    }
  }
  CHECK(puts == 2);
  CHECK(deletes == 1);

  // A second watch from an old revision catches up, one revision per call.
  std::vector<std::int64_t> revisions;
  std::uint64_t id2 = f.client->watch(
      "wa/", prefix_end("wa/"), base,
      [&](std::int64_t rev, std::vector<Event>) { revisions.push_back(rev); }, [](Status) {});
  REQUIRE(f.run([&] { return revisions.size() >= 3; }));
  CHECK(revisions == std::vector<std::int64_t>{base, r1, tr.revision});
  f.client->cancel_watch(id2);

  f.client->cancel_watch(id);
  f.put("wa/after", "cancelled");
  f.run_for(300);
  CHECK(got.size() == 2);
  CHECK_FALSE(ended.has_value());  // cancel is silent
}

TEST_CASE("compaction: a watch from a compacted revision ends kCompacted") {
  Fixture f;
  std::int64_t old = f.put("cp/k", "1");
  std::int64_t now = f.put("cp/k", "2");
  std::optional<Status> st;
  f.client->compact(now, [&](Status s) { st = s; });
  REQUIRE(f.run([&] { return st.has_value(); }));
  REQUIRE_MESSAGE(st->ok(), st->message);

  auto [s, r] = f.range("cp/k", "", old);
  CHECK(s.code == Status::kCompacted);

  std::optional<Status> ended;
  int events = 0;
  f.client->watch(
      "cp/", prefix_end("cp/"), old, [&](std::int64_t, std::vector<Event>) { ++events; },
      [&](Status s) { ended = s; });
  REQUIRE(f.run([&] { return ended.has_value(); }));
  CHECK(ended->code == Status::kCompacted);
  CHECK(ended->compact_revision == now);
  CHECK(events == 0);
}

TEST_CASE("failover: a dead first endpoint is skipped; none alive is kUnavailable in time") {
  int dead = free_port();
  Fixture f({"127.0.0.1:" + std::to_string(dead), "http://" + g_etcd->endpoint()});
  f.put("fo/k", "v");
  CHECK(f.client->current_endpoint() == 1);  // later calls start at the one that answered
  CHECK(f.range("fo/k").second.kvs.size() == 1);

  Fixture f2({"127.0.0.1:" + std::to_string(dead), g_etcd->endpoint()});
  std::vector<std::int64_t> revs;
  f2.client->watch(
      "fo/", prefix_end("fo/"), 0, [&](std::int64_t r, std::vector<Event>) { revs.push_back(r); },
      [](Status) {});
  f2.run_for(200);
  f2.put("fo/w", "1");
  REQUIRE(f2.run([&] { return revs.size() == 1; }));

  Fixture none({"127.0.0.1:" + std::to_string(dead), "127.0.0.1:" + std::to_string(free_port())},
               400);
  std::optional<Status> st;
  auto start = std::chrono::steady_clock::now();
  none.client->put("fo/x", "v", 0, [&](Status s, std::int64_t) { st = s; });
  REQUIRE(none.run([&] { return st.has_value(); }));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(st->code == Status::kUnavailable);
  CHECK(took >= std::chrono::milliseconds(350));
  CHECK(took < std::chrono::milliseconds(2000));
  std::optional<Status> wend;
  none.client->watch(
      "fo/", "", 0, [](std::int64_t, std::vector<Event>) {}, [&](Status s) { wend = s; });
  REQUIRE(none.run([&] { return wend.has_value(); }));
  CHECK(wend->code == Status::kUnavailable);
}

// A port that accepts connections (the kernel completes them into the
// backlog) and never reads or answers: what a stopped etcd member, or one
// cut off from its quorum, looks like to a client.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_CASE("an endpoint that accepts and never answers: reads and watches move on, txns once") {
  SilentServer silent;

  // A read is sent again to the next endpoint after the attempt timeout
  // (2 s), well inside the request timeout.
  Fixture reads({silent.endpoint(), g_etcd->endpoint()}, 8000);
  Fixture writer;
  writer.put("sl/k", "v");
  auto [st, r] = reads.range("sl/k");
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(r.kvs.size() == 1);
  CHECK(reads.client->current_endpoint() == 1);

  // A lease keepalive too (the controller's term depends on it).
  std::optional<Status> granted;
  std::int64_t lease = 0;
  writer.client->lease_grant(10, [&](Status s, std::int64_t id, std::int64_t) {
    granted = s;
    lease = id;
  });
  REQUIRE(writer.run([&] { return granted.has_value(); }));
  REQUIRE(granted->ok());
  Fixture keep({silent.endpoint(), g_etcd->endpoint()}, 8000);
  std::optional<Status> kept;
  std::int64_t ttl = 0;
  keep.client->lease_keepalive(lease, [&](Status s, std::int64_t t) { kept = s, ttl = t; });
  REQUIRE(keep.run([&] { return kept.has_value(); }));
  REQUIRE_MESSAGE(kept->ok(), kept->message);
  CHECK(ttl > 0);

  // A txn is never sent twice: unanswered, it is kUnavailable (it may
  // have been applied), and the next call starts at the next endpoint.
  Fixture writes({silent.endpoint(), g_etcd->endpoint()}, 3000);
  TxnRequest t;
  t.success.push_back(Op{Op::kPut, "sl/t", "", "1", 0});
  auto [ts, tr] = writes.txn(t);
  CHECK(ts.code == Status::kUnavailable);
  CHECK(writes.client->current_endpoint() == 1);
  CHECK(writes.range("sl/t").second.kvs.empty());
  writes.put("sl/t", "2");

  // A watch whose create goes unanswered moves on and is created elsewhere.
  Fixture watches({silent.endpoint(), g_etcd->endpoint()}, 8000);
  std::vector<std::int64_t> revs;
  std::optional<Status> ended;
  const std::int64_t from = writer.put("sl/x", "0") + 1;
  watches.client->watch(
      "sl/w", "", from, [&](std::int64_t rev, std::vector<Event>) { revs.push_back(rev); },
      [&](Status s) { ended = s; });
  const std::int64_t rev = writer.put("sl/w", "1");
  REQUIRE(watches.run([&] { return !revs.empty() || ended; }));
  REQUIRE_FALSE(ended.has_value());
  CHECK(revs == std::vector<std::int64_t>{rev});
}

TEST_CASE("callbacks: never inside the call, never after the Client is destroyed") {
  Fixture f;
  bool inside = true, called_inside = false;
  int done = 0;
  f.client->put("cb/k", "v", 0, [&](Status, std::int64_t) { called_inside |= inside, ++done; });
  f.client->range("cb/k", "", 0, [&](Status, RangeResult) { called_inside |= inside, ++done; });
  inside = false;
  REQUIRE(f.run([&] { return done == 2; }));
  CHECK_FALSE(called_inside);

  // Destroyed with calls and a watch in flight: none of them calls back.
  int late = 0;
  f.client->put("cb/k", "w", 0, [&](Status, std::int64_t) { ++late; });
  f.client->watch(
      "cb/", "", 0, [&](std::int64_t, std::vector<Event>) { ++late; }, [&](Status) { ++late; });
  f.client.reset();
  f.run_for(200);
  CHECK(late == 0);

  // A callback may destroy the Client; the others then never run.
  f.client = std::make_unique<Client>(&f.loop, ClientOptions{{g_etcd->endpoint()}, 5000, 1000});
  int after = 0;
  f.client->put("cb/a", "1", 0, [&](Status, std::int64_t) { f.client.reset(); });
  f.client->put("cb/b", "2", 0, [&](Status, std::int64_t) { ++after; });
  REQUIRE(f.run([&] { return f.client == nullptr; }));
  f.run_for(200);
  CHECK(after <= 1);  // the second may have finished first, never after the reset
}

TEST_CASE("connections: calls beyond max_connections wait; watches do not take them") {
  Fixture f;
  f.client = std::make_unique<Client>(&f.loop, ClientOptions{{g_etcd->endpoint()}, 5000, 1000, 2});
  int watch_events = 0;
  for (int i = 0; i < 3; ++i) {  // more streams than call connections
    f.client->watch(
        "mc/", prefix_end("mc/"), 0, [&](std::int64_t, std::vector<Event>) { ++watch_events; },
        [](Status) {});
  }
  f.run_for(200);
  int ok = 0, failed = 0;
  for (int i = 0; i < 50; ++i) {
    f.client->put("mc/" + std::to_string(i), "v", 0,
                  [&](Status s, std::int64_t) { s.ok() ? ++ok : ++failed; });
  }
  REQUIRE(f.run([&] { return ok + failed == 50; }));
  CHECK(ok == 50);
  REQUIRE(f.run([&] { return watch_events == 150; }));
}

TEST_CASE("three members: the member in use is killed; calls and a new watch go on elsewhere") {
  std::vector<std::unique_ptr<EtcdServer>> members = three_members();
  Fixture f({members[0]->endpoint(), members[1]->endpoint(), members[2]->endpoint()}, 10000);
  std::int64_t r1 = f.put("mm/k", "1");
  CHECK(f.client->current_endpoint() == 0);
  std::optional<Status> ended;
  std::vector<std::int64_t> seen;
  f.client->watch(
      "mm/", prefix_end("mm/"), r1, [&](std::int64_t r, std::vector<Event>) { seen.push_back(r); },
      [&](Status s) { ended = s; });
  REQUIRE(f.run([&] { return seen.size() == 1; }));

  members[0]->kill();
  REQUIRE(f.run([&] { return ended.has_value(); }, 5000));
  CHECK(ended->code == Status::kUnavailable);
  // The quorum (two of three) goes on; the call skips the dead member. If
  // the dead one led, a proposal may meet the election (kUnavailable,
  // retriable: the caller retries, as here).
  std::int64_t r2 = 0;
  for (int attempt = 0; attempt < 10 && r2 == 0; ++attempt) {
    std::optional<Status> st;
    f.client->put("mm/k", "2", 0, [&](Status s, std::int64_t r) { st = s, r2 = s.ok() ? r : 0; });
    REQUIRE(f.run([&] { return st.has_value(); }, 15000));
    if (!st->ok()) MESSAGE("retrying after: " << st->message);
    REQUIRE(st->code != Status::kFailed);
  }
  REQUIRE(r2 != 0);
  CHECK(f.client->current_endpoint() != 0);
  f.client->watch(
      "mm/", prefix_end("mm/"), seen.back() + 1,
      [&](std::int64_t r, std::vector<Event>) { seen.push_back(r); }, [](Status) {});
  REQUIRE(f.run([&] { return seen.size() == 2; }));
  CHECK(seen[1] == r2);
  auto [s, r] = f.range("mm/k");
  REQUIRE(s.ok());
  CHECK(r.kvs.at(0).value == "2");
}

TEST_CASE("watch: the stream breaking (etcd killed) ends it kUnavailable") {
  EtcdServer own;
  own.wait_ready();
  Fixture f({own.endpoint()});
  f.put("cl/k", "v");
  std::optional<Status> ended;
  int events = 0;
  f.client->watch(
      "cl/", prefix_end("cl/"), 0, [&](std::int64_t, std::vector<Event>) { ++events; },
      [&](Status s) { ended = s; });
  f.run_for(200);
  f.put("cl/k", "w");
  REQUIRE(f.run([&] { return events == 1; }));
  own.kill();
  REQUIRE(f.run([&] { return ended.has_value(); }, 5000));
  CHECK(ended->code == Status::kUnavailable);
  Client quick(&f.loop, ClientOptions{{own.endpoint()}, 500, 1000});
  std::optional<Status> st;
  quick.range("cl/k", "", 0, [&](Status s, RangeResult) { st = s; });
  REQUIRE(f.run([&] { return st.has_value(); }, 3000));
  CHECK(st->code == Status::kUnavailable);
}

TEST_CASE(
    "a watch on a member that lost its leader ends kUnavailable; the next one goes elsewhere") {
  std::vector<std::unique_ptr<EtcdServer>> members = three_members();
  Fixture f({members[0]->endpoint(), members[1]->endpoint(), members[2]->endpoint()}, 10000);
  const std::int64_t r1 = f.put("nl/k", "1");
  REQUIRE(f.client->current_endpoint() == 0);
  std::optional<Status> ended;
  std::vector<std::int64_t> seen;
  f.client->watch(
      "nl/", prefix_end("nl/"), r1, [&](std::int64_t r, std::vector<Event>) { seen.push_back(r); },
      [&](Status s) { ended = s; });
  REQUIRE(f.run([&] { return seen.size() == 1; }));

  // Member 0 alone, alive, without a leader: what a member cut off from
  // its quorum is. The stream breaks nowhere; etcd must end the watch.
  members[1]->signal(SIGSTOP);
  members[2]->signal(SIGSTOP);
  const bool ended_in_time = f.run([&] { return ended.has_value(); }, 20000);
  members[1]->signal(SIGCONT);
  members[2]->signal(SIGCONT);
  REQUIRE(ended_in_time);
  CHECK(ended->code == Status::kUnavailable);
  CHECK(ended->message.find("no leader") != std::string::npos);
  CHECK(f.client->current_endpoint() != 0);

  // Healed (a linearizable read answers: there is a leader), a new watch
  // from the next revision sees the next put.
  bool read = false;
  for (int i = 0; i < 20 && !read; ++i) read = f.range("nl/k").first.ok();
  REQUIRE(read);
  const std::int64_t r2 = f.put("nl/k", "2");
  std::vector<std::int64_t> again;
  std::optional<Status> ended2;
  f.client->watch(
      "nl/", prefix_end("nl/"), r1 + 1,
      [&](std::int64_t r, std::vector<Event>) { again.push_back(r); },
      [&](Status s) { ended2 = s; });
  REQUIRE(f.run([&] { return !again.empty() || ended2; }, 20000));
  REQUIRE_FALSE(ended2.has_value());
  CHECK(again == std::vector<std::int64_t>{r2});
}

}  // namespace kgw::etcd

int main(int argc, char** argv) {
  if (::access(kgw::etcd::kEtcd, X_OK) != 0) {
    std::fprintf(stderr, "%s not found: skipped\n", kgw::etcd::kEtcd);
    return 77;  // meson: SKIP
  }
  kgw::etcd::EtcdServer etcd;
  etcd.wait_ready();
  kgw::etcd::g_etcd = &etcd;
  doctest::Context context(argc, argv);
  return context.run();
}
