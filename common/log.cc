#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace kgw {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* const kNames[] = {"ERROR", "WARN", "INFO", "DEBUG"};
}  // namespace

void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

bool parse_log_level(std::string_view text, LogLevel& out) {
  const char* const lower[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i) {
    if (text == lower[i]) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

namespace {
// Escapes `in` into `out` (room for `cap` bytes); returns the bytes written.
// Stops before an escape that would not fit whole.
std::size_t escape_into(std::string_view in, char* out, std::size_t cap) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t len = 0;
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      if (len + 1 > cap) break;
      out[len++] = ch;
    } else if (c == '\\') {
      if (len + 2 > cap) break;
      out[len++] = '\\';
      out[len++] = '\\';
    } else {
      if (len + 4 > cap) break;
      out[len++] = '\\';
      out[len++] = 'x';
      out[len++] = kHex[c >> 4];
      out[len++] = kHex[c & 0x0f];
    }
  }
  return len;
}
}  // namespace

void log_line(LogLevel level, const char* component, const char* fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  const int m = std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const std::size_t msg_len =
      m < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(m), sizeof msg - 1);

  // The message may grow 4x by escaping; a line is cut at 4 KiB.
  char buf[4096];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm_utc{};
  gmtime_r(&ts.tv_sec, &tm_utc);
  int n = std::snprintf(
      buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm_utc.tm_year + 1900,
      tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec,
      ts.tv_nsec / 1000000, kNames[static_cast<int>(level)], component);
  std::size_t len = n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), 256);
  len += escape_into(std::string_view(msg, msg_len), buf + len, sizeof buf - len - 1);
  buf[len++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, buf, len);
  (void)ignored;
}

}  // namespace kgw
