// Logging: one line per event to stderr, "LEVEL component: message".
// The level is set once at start-up (--log-level); a disabled level costs a
// branch. Safe from any thread (one write(2) per line).
//
// Messages carry names clients chose (client.id, group, member and
// transactional ids): every byte outside printable ASCII, and the
// backslash, is written as \xNN (the backslash as \\), so a client can
// neither start a forged line nor send escape sequences to the operator's
// terminal, and one event stays one line.
#pragma once

#include <cstdarg>
#include <string_view>

namespace kgw {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "error", "warn", "info", "debug"; false if unknown.
bool parse_log_level(std::string_view text, LogLevel& out);

void log_line(LogLevel level, const char* component, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define KGW_LOG(level, component, ...)                                     \
  do {                                                                     \
    if (static_cast<int>(level) <= static_cast<int>(::kgw::log_level())) { \
      ::kgw::log_line(level, component, __VA_ARGS__);                      \
    }                                                                      \
  } while (0)
#define LOG_ERROR(component, ...) KGW_LOG(::kgw::LogLevel::kError, component, __VA_ARGS__)
#define LOG_WARN(component, ...) KGW_LOG(::kgw::LogLevel::kWarn, component, __VA_ARGS__)
#define LOG_INFO(component, ...) KGW_LOG(::kgw::LogLevel::kInfo, component, __VA_ARGS__)
#define LOG_DEBUG(component, ...) KGW_LOG(::kgw::LogLevel::kDebug, component, __VA_ARGS__)

}  // namespace kgw
