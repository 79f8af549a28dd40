// kgw-loopback-bench: raw loopback TCP throughput, the ceiling any broker's
// consume (and produce) path on this machine works under. A sender thread
// writes BYTES in CHUNK-sized write()s to a receiver thread over
// 127.0.0.1; both do nothing else, so this is what the kernel's loopback
// and two threads' copies cost.
//
//   kgw-loopback-bench [--bytes N] [--chunk N] [--json]
//                      (default 4 GiB in 256 KiB writes, 1 MiB reads)
//
// Prints MB/s on stderr and, with --json, one JSON object on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "kgw-loopback-bench: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

std::uint64_t parse_size(const char* flag, const char* s) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v == 0) {
    std::fprintf(stderr, "kgw-loopback-bench: %s needs a positive integer, not '%s'\n", flag, s);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t total = 4ull << 30;
  std::size_t chunk = 256u << 10;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      json = true;
    else if (a == "--bytes" && i + 1 < argc)
      total = parse_size("--bytes", argv[++i]);
    else if (a == "--chunk" && i + 1 < argc)
      chunk = parse_size("--chunk", argv[++i]);
    else {
      std::fprintf(stderr, "usage: kgw-loopback-bench [--bytes N] [--chunk N] [--json]\n");
      return 2;
    }
  }

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(listener, 1) != 0) die("listen");
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");

  std::uint64_t received = 0;
  std::thread receiver([&]() {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) die("accept");
    std::vector<char> buf(1u << 20);
    for (;;) {
      const ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die("read");
      if (n == 0) break;
      received += static_cast<std::uint64_t>(n);
    }
    close(fd);
  });

  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  std::vector<char> buf(chunk, 'x');
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  while (sent < total) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - sent));
    const ssize_t n = write(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write");
    sent += static_cast<std::uint64_t>(n);
  }
  close(fd);
  receiver.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  close(listener);
  const double mbps = static_cast<double>(received) / secs / 1e6;
  std::fprintf(stderr, "loopback: %llu bytes in %.3f s: %.1f MB/s\n",
               static_cast<unsigned long long>(received), secs, mbps);
  if (json) {
    std::printf("{\"bytes\": %llu, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n",
                static_cast<unsigned long long>(received), secs, mbps);
  }
  return received == total ? 0 : 1;
}
