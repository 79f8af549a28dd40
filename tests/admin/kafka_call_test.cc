// KafkaCall against a one-shot fake broker on a loopback socket: the request
// it writes decodes as a Kafka request, the answer is decoded; a wrong
// correlation id, a closed connection and a closed port are errors naming
// the address.
#include "tools/admin/kafka_call.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "describe_cluster.h"

namespace kgw::admin {
namespace {

// Listens on a free loopback port; serve() takes one connection, keeps the
// request frame's bytes in `request` and sends `answer()` (empty: closes the
// connection instead).
class FakeBroker {
 public:
  FakeBroker() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 1) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~FakeBroker() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  template <typename Answer>
  void serve(Answer answer) {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::uint8_t size_buf[4];
    if (::recv(c, size_buf, 4, MSG_WAITALL) == 4) {
      std::size_t size = (std::size_t{size_buf[0]} << 24) | (std::size_t{size_buf[1]} << 16) |
                         (std::size_t{size_buf[2]} << 8) | size_buf[3];
      request.resize(size);
      if (::recv(c, request.data(), size, MSG_WAITALL) == static_cast<ssize_t>(size)) {
        std::vector<std::uint8_t> out = answer();
        if (!out.empty()) (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      }
    }
    ::close(c);
  }

  std::vector<std::uint8_t> request;

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::vector<std::uint8_t> describe_cluster_answer(std::int32_t correlation_id) {
  DescribeClusterResponse resp;
  resp.cluster_id = "abc";
  resp.controller_id = 2;
  DescribeClusterResponse::DescribeClusterBroker b;
  b.broker_id = 2;
  b.host = "h2";
  b.port = 9093;
  b.rack = "r1";
  resp.brokers.push_back(b);
  std::vector<std::uint8_t> out;
  Writer w(out);
  w.i32(0);
  ResponseHeader h;
  h.correlation_id = correlation_id;
  h.encode(w, response_header_version(DescribeClusterResponse::api_key, 0));
  resp.encode(w, 0);
  w.patch_i32(0, static_cast<std::int32_t>(out.size() - 4));
  return out;
}

TEST_CASE("a DescribeCluster round trip: the request decodes, the answer is read") {
  FakeBroker broker;
  std::thread t([&] { broker.serve([] { return describe_cluster_answer(1); }); });
  KafkaCall call;
  std::string error;
  REQUIRE(call.connect("127.0.0.1:1," + broker.address(), 2000, error));  // first refused
  CHECK(call.address() == broker.address());
  DescribeClusterResponse resp;
  bool ok = call.call(DescribeClusterRequest{}, 0, resp, error);
  t.join();
  REQUIRE_MESSAGE(ok, error);
  CHECK(resp.cluster_id == "abc");
  CHECK(resp.controller_id == 2);
  REQUIRE(resp.brokers.size() == 1);
  CHECK(resp.brokers[0].rack == std::optional<std::string_view>("r1"));

  Reader r{Bytes(broker.request)};
  RequestHeader h;
  REQUIRE(h.decode(r, request_header_version(60, 0)));
  CHECK(h.api_key == 60);
  CHECK(h.api_version == 0);
  CHECK(h.correlation_id == 1);
  CHECK(h.client_id == std::optional<std::string_view>("kgw-admin"));
  DescribeClusterRequest req;
  CHECK(req.decode(r, 0));
}

TEST_CASE("another correlation id, or a closed connection, is an error naming the address") {
  FakeBroker broker;
  std::thread t([&] {
    broker.serve([] { return describe_cluster_answer(7); });
    broker.serve([] { return std::vector<std::uint8_t>{}; });
  });
  std::string error;
  {
    KafkaCall call;
    REQUIRE(call.connect(broker.address(), 2000, error));
    DescribeClusterResponse resp;
    CHECK_FALSE(call.call(DescribeClusterRequest{}, 0, resp, error));
    CHECK(error.find("correlation id 7") != std::string::npos);
    CHECK(error.find(broker.address()) != std::string::npos);
  }
  KafkaCall call;
  REQUIRE(call.connect(broker.address(), 2000, error));
  DescribeClusterResponse resp;
  CHECK_FALSE(call.call(DescribeClusterRequest{}, 0, resp, error));
  t.join();
  CHECK(error.find("closed the connection") != std::string::npos);
}

TEST_CASE("no bootstrap server accepting: every address named") {
  KafkaCall call;
  std::string error;
  CHECK_FALSE(call.connect("127.0.0.1:1,nohostport", 2000, error));
  CHECK(error.find("127.0.0.1:1: Connection refused") != std::string::npos);
  CHECK(error.find("nohostport: not HOST:PORT") != std::string::npos);
}

}  // namespace
}  // namespace kgw::admin
