// A port the kernel had free a moment ago on 127.0.0.1 (bind to 0, read,
// close), for tests that start a server process which must be told its
// port. Another process may take it meanwhile: good enough for tests.
// Usable outside a test case too (some tests start their server in main()
// before doctest runs): a failure aborts with a message, not a REQUIRE.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace kgw::test {

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("free_port: binding 127.0.0.1:0");
    std::abort();
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace kgw::test
