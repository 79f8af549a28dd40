// kgw-admin's reading of etcd's JSON gateway answers (what etcd 3.4 sends),
// and the whole status call against an endpoint nobody listens on.
#include "tools/admin/etcd_status.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kgw::admin {
namespace {

TEST_CASE("member list: ids in hex, names, URLs; a member not started has no client URL") {
  const std::string body = R"({"header":{"cluster_id":"14841639068965178418","member_id":
    "10276657743932975437","raft_term":"2"},"members":[
    {"ID":"10276657743932975437","name":"kgw-1","peerURLs":["http://127.0.0.1:2380"],
     "clientURLs":["http://127.0.0.1:2379"]},
    {"ID":"255","peerURLs":["http://127.0.0.1:2382"]}]})";
  EtcdClusterStatus s;
  std::string error;
  REQUIRE(parse_member_list(body, s, error));
  CHECK(s.cluster_id == "cdf818194e3a8c32");
  REQUIRE(s.members.size() == 2);
  CHECK(s.members[0].id == "8e9e05c52164694d");
  CHECK(s.members[0].name == "kgw-1");
  CHECK(s.members[0].client_urls == std::vector<std::string>{"http://127.0.0.1:2379"});
  CHECK(s.members[0].peer_urls == std::vector<std::string>{"http://127.0.0.1:2380"});
  CHECK(s.members[0].detail.empty());
  CHECK(s.members[1].id == "ff");
  CHECK(s.members[1].name.empty());
  CHECK(s.members[1].client_urls.empty());
  CHECK(s.members[1].detail.find("no client URL") != std::string::npos);
}

TEST_CASE("member list: not JSON, or an error answer, is refused with the text") {
  EtcdClusterStatus s;
  std::string error;
  CHECK_FALSE(parse_member_list("<html>404</html>", s, error));
  CHECK(error.find("not JSON") != std::string::npos);
  CHECK_FALSE(parse_member_list(R"({"error":"etcdserver: not capable","code":9})", s, error));
  CHECK(error.find("not capable") != std::string::npos);
}

TEST_CASE("health: true, false with etcd's reason, and garbage") {
  std::string detail = "x";
  CHECK(parse_health(R"({"health":"true"})", detail));
  CHECK(detail.empty());
  CHECK_FALSE(parse_health(R"({"health":"false","reason":"RAFT NO LEADER"})", detail));
  CHECK(detail == "RAFT NO LEADER");
  CHECK_FALSE(parse_health(R"({"health":"false"})", detail));
  CHECK(detail == "member says it is not healthy");
  CHECK_FALSE(parse_health("nope", detail));
  CHECK(detail.find("not JSON") != std::string::npos);
}

TEST_CASE("status: the leader's id and the member's version") {
  std::string member, leader, version;
  REQUIRE(parse_status(R"({"header":{"member_id":"16"},"version":"3.4.23","leader":"17"})", member,
                       leader, version));
  CHECK(member == "10");
  CHECK(leader == "11");
  CHECK(version == "3.4.23");
  CHECK_FALSE(parse_status(R"({"version":"3.4.23"})", member, leader, version));
}

TEST_CASE("endpoints: host:port gets http://, spaces and empty items dropped") {
  CHECK(etcd_endpoints("127.0.0.1:2379, http://h:2381/ ,,https://s:1") ==
        std::vector<std::string>{"http://127.0.0.1:2379", "http://h:2381", "https://s:1"});
}

TEST_CASE("status of an endpoint nobody listens on fails naming it") {
  // A port bound and closed a moment ago: connections are refused.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  const std::string ep = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  EtcdClusterStatus s;
  std::string error;
  CHECK_FALSE(etcd_cluster_status(etcd_endpoints(ep), 2000, s, error));
  CHECK(error.find("http://" + ep) != std::string::npos);
  REQUIRE(s.unreachable.size() == 1);
  CHECK(s.unreachable[0].find(ep) != std::string::npos);
}

}  // namespace
}  // namespace kgw::admin
