#include "src/util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace kgw {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* const kNames[] = {"ERROR", "WARN", "INFO", "DEBUG"};
}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

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

void log_line(LogLevel level, const char* component, const char* fmt, ...) {
  char buf[2048];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm_utc{};
  gmtime_r(&ts.tv_sec, &tm_utc);
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                        tm_utc.tm_year + 1900, tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour,
                        tm_utc.tm_min, tm_utc.tm_sec, ts.tv_nsec / 1000000,
                        kNames[static_cast<int>(level)], component);
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof buf - static_cast<std::size_t>(n) - 1, fmt, ap);
  va_end(ap);
  std::size_t len = static_cast<std::size_t>(n) +
                    (m < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(m), sizeof buf - n - 2));
  buf[len++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, buf, len);
  (void)ignored;
}

}  // namespace kgw
