#include "tools/admin/kafka_call.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

namespace kgw::admin {

namespace {

// Waits until fd is ready for `events` or the deadline passes.
bool wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// A non-blocking connection to host:port, or -1 and `error`.
int connect_to(const std::string& host, const std::string& port, int timeout_ms,
               std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    int err = errno;
    if (err == EINPROGRESS && wait_ready(fd, POLLOUT, deadline)) {
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) break;
    } else if (err == EINPROGRESS) {
      err = ETIMEDOUT;
    }
    error = std::strerror(err);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  return fd;
}

}  // namespace

KafkaCall::~KafkaCall() {
  if (fd_ >= 0) ::close(fd_);
}

bool KafkaCall::connect(const std::string& bootstrap, int timeout_ms, std::string& error) {
  timeout_ms_ = timeout_ms;
  std::stringstream ss(bootstrap);
  std::string addr;
  std::string failures;
  while (std::getline(ss, addr, ',')) {
    if (addr.empty()) continue;
    auto colon = addr.rfind(':');
    if (colon == std::string::npos) {
      failures += (failures.empty() ? "" : "; ") + addr + ": not HOST:PORT";
      continue;
    }
    std::string host = addr.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    std::string why;
    fd_ = connect_to(host, addr.substr(colon + 1), timeout_ms, why);
    if (fd_ >= 0) {
      address_ = addr;
      return true;
    }
    failures += (failures.empty() ? "" : "; ") + addr + ": " + why;
  }
  error = "cannot connect to any bootstrap server (" +
          (failures.empty() ? std::string("none given") : failures) + ")";
  return false;
}

bool KafkaCall::exchange(const std::vector<std::uint8_t>& frame, std::string& error) {
  if (fd_ < 0) {
    error = "not connected";
    return false;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  std::size_t sent = 0;
  while (sent < frame.size()) {
    ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_ready(fd_, POLLOUT, deadline))
      continue;
    error =
        address_ + ": sending the request failed: " + (n < 0 ? std::strerror(errno) : "timed out");
    return false;
  }
  // Reads exactly `want` bytes into in_ from `at`.
  auto read_into = [&](std::size_t at, std::size_t want) {
    in_.resize(at + want);
    std::size_t got = 0;
    while (got < want) {
      ssize_t n = ::recv(fd_, in_.data() + at + got, want - got, 0);
      if (n > 0) {
        got += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0) {
        error = address_ +
                ": the broker closed the connection (a TLS or SASL listener, or an "
                "API it does not know?)";
        return false;
      }
      if ((errno == EAGAIN || errno == EINTR) && wait_ready(fd_, POLLIN, deadline)) continue;
      error = address_ + ": reading the answer failed: " +
              (errno == EAGAIN ? "timed out" : std::strerror(errno));
      return false;
    }
    return true;
  };
  if (!read_into(0, 4)) return false;
  std::int32_t size =
      static_cast<std::int32_t>((std::uint32_t{in_[0]} << 24) | (std::uint32_t{in_[1]} << 16) |
                                (std::uint32_t{in_[2]} << 8) | in_[3]);
  // 100 MiB: far above any answer this tool asks for; guards against
  // reading a TLS record or garbage as a size.
  if (size < 4 || size > 100 * 1024 * 1024) {
    error = address_ + ": the answer's size " + std::to_string(size) + " is not a Kafka frame";
    return false;
  }
  if (!read_into(0, static_cast<std::size_t>(size))) return false;
  return true;
}

}  // namespace kgw::admin
