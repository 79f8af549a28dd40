// Tests of EtcdMember (src/cluster/etcd/etcd_member.h) with a real
// one-member etcd on free loopback ports in a temp dir: it starts and
// answers /health, a SIGKILL is followed by a restart (new pid, answers
// again, pid file rewritten, exit and restart logged), stop() ends it; a
// missing binary fails start() with the reason. The whole test skips
// (exit 77) where /usr/bin/etcd is not installed. Also the settings checks
// of cluster_settings.h, which need no etcd.
#define DOCTEST_CONFIG_IMPLEMENT
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "src/cluster/etcd/cluster_settings.h"
#include "src/cluster/etcd/etcd_member.h"
#include "tests/free_port.h"

namespace fs = std::filesystem;
using namespace kgw;
using namespace kgw::etcd;

namespace {

const char* etcd_binary() {
  const char* env = std::getenv("KGW_ETCD");
  return env != nullptr ? env : "/usr/bin/etcd";
}

using test::free_port;

// GET /health on 127.0.0.1:port with a blocking socket; true if etcd says
// {"health":"true"}.
bool healthy(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      std::string resp;
      char buf[1024];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<std::size_t>(n));
      ok = resp.find("\"health\":\"true\"") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

// Runs the loop (without blocking on it) until `cond` or the timeout.
bool run_until(uv_loop_t* loop, const std::function<bool()>& cond, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/kgw-etcd-member-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

EtcdMemberOptions one_member(const fs::path& dir) {
  EtcdMemberOptions o;
  o.etcd_binary = etcd_binary();
  o.name = "kgw-1";
  o.data_dir = (dir / "etcd").string();
  o.log_path = (dir / "etcd.log").string();
  o.pid_path = (dir / "etcd.pid").string();
  o.client_port = free_port();
  o.peer_port = free_port();
  while (o.peer_port == o.client_port) o.peer_port = free_port();
  o.initial_cluster = "kgw-1=http://127.0.0.1:" + std::to_string(o.peer_port);
  o.token = "kgw-test";
  return o;
}

}  // namespace

TEST_CASE("a member starts, answers, is restarted after SIGKILL and stops") {
  TempDir dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    const EtcdMemberOptions o = one_member(dir.path);
    EtcdMember member(&loop, o);
    std::string error;
    REQUIRE(member.start(error));
    CHECK(error.empty());
    const int first = member.pid();
    REQUIRE(first > 0);
    CHECK(member.client_url() == "http://127.0.0.1:" + std::to_string(o.client_port));
    CHECK(read_file(dir.path / "etcd.pid") == std::to_string(first) + "\n");
    REQUIRE(run_until(
        &loop, [&] { return healthy(o.client_port); }, 30000));

    // kill -9: the member comes back on its own with a new pid.
    REQUIRE(::kill(first, SIGKILL) == 0);
    REQUIRE(run_until(
        &loop, [&] { return member.pid() != 0 && member.pid() != first; }, 10000));
    CHECK(member.restarts() == 1);
    const int second = member.pid();
    CHECK(read_file(dir.path / "etcd.pid") == std::to_string(second) + "\n");
    REQUIRE(run_until(
        &loop, [&] { return healthy(o.client_port); }, 30000));
    CHECK(fs::exists(dir.path / "etcd" / "member"));
    CHECK(read_file(dir.path / "etcd.log").size() > 0);

    bool stopped = false;
    member.stop([&] { stopped = true; });
    REQUIRE(run_until(
        &loop, [&] { return stopped; }, 10000));
    CHECK(member.pid() == 0);
    CHECK((::kill(second, 0) != 0 && errno == ESRCH));
    CHECK_FALSE(healthy(o.client_port));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a member destroyed without stop() is killed and leaves no handle") {
  TempDir dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  int pid = 0;
  {
    EtcdMember member(&loop, one_member(dir.path));
    std::string error;
    REQUIRE(member.start(error));
    pid = member.pid();
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // reaps the child, closes the handles
  CHECK((::kill(pid, 0) != 0 && errno == ESRCH));
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a member left running by a killed kgw is killed by the next start") {
  TempDir dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    const EtcdMemberOptions o = one_member(dir.path);
    // An etcd on this data dir that no EtcdMember supervises, named in the
    // pid file, as a kgw killed without setpriv would leave it.
    std::vector<std::string> args = EtcdMember::command(o);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t orphan = ::fork();
    REQUIRE(orphan >= 0);
    if (orphan == 0) {
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    std::ofstream(dir.path / "etcd.pid") << orphan << "\n";
    REQUIRE(run_until(
        &loop, [&] { return healthy(o.client_port); }, 30000));

    EtcdMember member(&loop, o);
    std::string error;
    REQUIRE(member.start(error));
    int status = 0;
    CHECK(::waitpid(orphan, &status, 0) == orphan);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    CHECK(member.pid() != orphan);
    REQUIRE(run_until(
        &loop, [&] { return healthy(o.client_port); }, 30000));
    CHECK(member.restarts() == 0);
    bool stopped = false;
    member.stop([&] { stopped = true; });
    REQUIRE(run_until(
        &loop, [&] { return stopped; }, 10000));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a missing etcd binary fails start() with the reason") {
  TempDir dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    EtcdMemberOptions o = one_member(dir.path);
    o.etcd_binary = (dir.path / "no-such-etcd").string();
    EtcdMember member(&loop, o);
    std::string error;
    CHECK_FALSE(member.start(error));
    CHECK(error.find("no-such-etcd") != std::string::npos);
    CHECK(member.pid() == 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("the command line names the member, its URLs and the initial cluster") {
  EtcdMemberOptions o;
  o.name = "kgw-2";
  o.data_dir = "/d/etcd";
  o.client_port = 2381;
  o.peer_port = 2382;
  o.initial_cluster = "kgw-1=http://127.0.0.1:2380,kgw-2=http://127.0.0.1:2382";
  const std::vector<std::string> cmd = EtcdMember::command(o);
  std::string line;
  for (const auto& a : cmd) line += a + " ";
  CHECK(cmd.front() == "/usr/bin/etcd");
  CHECK(line.find("--name kgw-2 ") != std::string::npos);
  CHECK(line.find("--data-dir /d/etcd ") != std::string::npos);
  CHECK(line.find("--listen-client-urls http://127.0.0.1:2381 ") != std::string::npos);
  CHECK(line.find("--initial-advertise-peer-urls http://127.0.0.1:2382 ") != std::string::npos);
  CHECK(line.find("--initial-cluster " + o.initial_cluster + " ") != std::string::npos);
  CHECK(line.find("--initial-cluster-token kgw ") != std::string::npos);
  CHECK(line.find("--initial-cluster-state new ") != std::string::npos);
}

TEST_CASE("metadata.etcd.initial.cluster.state existing reaches the member's command line") {
  ClusterSettings s;
  s.node_id = 4;
  s.member_peer_port = 2386;
  s.member_client_port = 2385;
  s.initial_cluster = "kgw-1=http://127.0.0.1:2380,kgw-4=http://127.0.0.1:2386";
  s.initial_cluster_state = "existing";
  REQUIRE(check(s).empty());
  const auto o = member_options(s, "/data", "");
  REQUIRE(o.has_value());
  std::string line;
  for (const auto& a : EtcdMember::command(*o)) line += a + " ";
  CHECK(line.find("--initial-cluster-state existing ") != std::string::npos);
  CHECK(line.find("--name kgw-4 ") != std::string::npos);
}

TEST_CASE("cluster settings: none means one node, and bad ones name the setting") {
  ClusterSettings s;
  CHECK_FALSE(cluster_mode(s));
  CHECK_FALSE(colocated(s));
  CHECK(check(s).empty());
  CHECK(endpoints(s).empty());
  CHECK_FALSE(member_options(s, "/data", "").has_value());

  s.endpoints = "h1:2379, http://h2:2379";
  CHECK(cluster_mode(s));
  CHECK_FALSE(colocated(s));
  CHECK(check(s).empty());
  CHECK(endpoints(s) == std::vector<std::string>{"http://h1:2379", "http://h2:2379"});
  s.endpoints = "h1";
  CHECK(check(s).find("metadata.etcd.endpoints") != std::string::npos);
  s.endpoints = "https://h1:2379";
  CHECK(check(s).find("metadata.etcd.endpoints") != std::string::npos);
  s.endpoints = "";

  s.node_id = 2;
  s.member_client_port = 2381;
  s.member_peer_port = 2382;
  s.initial_cluster = "kgw-1=http://127.0.0.1:2380,kgw-2=http://127.0.0.1:2382";
  CHECK(colocated(s));
  CHECK(cluster_mode(s));
  CHECK(check(s).empty());
  CHECK(endpoints(s) == std::vector<std::string>{"http://127.0.0.1:2381"});
  s.endpoints = "127.0.0.1:2379,127.0.0.1:2381";
  CHECK(endpoints(s) == std::vector<std::string>{"http://127.0.0.1:2381", "http://127.0.0.1:2379"});
  auto o = member_options(s, "/data/node-2", "/opt/etcd");
  REQUIRE(o.has_value());
  CHECK(o->name == "kgw-2");
  CHECK(o->etcd_binary == "/opt/etcd");
  CHECK(o->data_dir == "/data/node-2/etcd");
  CHECK(o->log_path == "/data/node-2/etcd.log");
  CHECK(o->pid_path == "/data/node-2/etcd.pid");
  CHECK(o->peer_port == 2382);

  s.node_id = 3;
  CHECK(check(s).find("no member kgw-3") != std::string::npos);
  s.node_id = 2;
  s.member_peer_port = 2390;
  CHECK(check(s).find("metadata.etcd.member.peer.port") != std::string::npos);
  s.member_peer_port = 2381;
  CHECK(check(s).find("must differ") != std::string::npos);
  s.member_peer_port = 2382;
  s.initial_cluster = "kgw-2";
  CHECK(check(s).find("metadata.etcd.initial.cluster") != std::string::npos);
  s.initial_cluster = "kgw-2=http://127.0.0.1:2382";
  s.heartbeat_interval_ms = 9000;
  CHECK(check(s).find("broker.heartbeat.interval.ms") != std::string::npos);
  s.heartbeat_interval_ms = 2000;
  s.prefix = "kgw";
  CHECK(check(s).find("metadata.etcd.prefix") != std::string::npos);
  s.session_timeout_ms = 9001;
  CHECK(lease_ttl_seconds(s) == 10);
}

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  if (::access(etcd_binary(), X_OK) != 0) {
    // The settings cases need no etcd; the member cases do.
    context.addFilter("test-case-exclude", "a member*");
    const int rc = context.run();
    if (rc != 0) return rc;
    std::printf("SKIP: %s is not installed (Debian package etcd-server)\n", etcd_binary());
    return 77;
  }
  return context.run();
}
