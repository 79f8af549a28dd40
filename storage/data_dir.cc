#include "storage/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kgw {

namespace {

constexpr const char* kRunning = "kgw.running";
constexpr const char* kLogDirId = "log_dir.id";

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

bool sync_dir(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = dir + ": cannot open (" + std::strerror(errno) + ")";
    return false;
  }
  const bool synced = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!synced) {
    error = dir + ": cannot fsync (" + std::strerror(saved) + "); is its disk failing?";
    return false;
  }
  return true;
}

}  // namespace

bool write_file_durably(const std::string& dir, const std::string& name, const std::string& content,
                        std::string& error) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what, const std::string& file) {
    error = file + ": cannot " + what + " (" + std::strerror(errno) +
            "); is the data dir writable, and its disk not full?";
    return false;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("create", tmp);
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return fail("write", tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("fsync", tmp);
  }
  if (::close(fd) != 0) return fail("close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename to " + name, tmp);
  return sync_dir(dir, error);
}

std::string current_boot_id() {
  if (const char* forced = std::getenv("KGW_BOOT_ID"); forced != nullptr && *forced != '\0') {
    return forced;
  }
  return first_line("/proc/sys/kernel/random/boot_id");
}

std::string PreviousRun::describe(const std::string& now_boot_id) const {
  const std::string who =
      "the previous kgw process" + (pid.empty() ? std::string() : " (pid " + pid + ")") +
      " ended without a clean shutdown (killed, crashed, or the machine went down)";
  if (boot_id.empty() || now_boot_id.empty()) {
    if (fsync_batch)
      return who + "; it ran with --fsync batch: every write it acknowledged is on disk";
    return who +
           "; whether the machine restarted since is unknown (no boot id), so with --fsync "
           "never the writes of its last seconds may be gone from the log";
  }
  if (boot_id == now_boot_id) {
    return who +
           "; the machine did not restart since (same boot id), so every write it made "
           "reached the OS and the log is complete";
  }
  if (fsync_batch) {
    return who + " and the machine restarted since (boot id " + boot_id + ", now " + now_boot_id +
           "); it ran with --fsync batch: every write it acknowledged is on disk";
  }
  return who + " and the machine restarted since (boot id " + boot_id + ", now " + now_boot_id +
         "): with --fsync never the writes of its last seconds (those the OS had not written "
         "back) may be gone from the log";
}

PreviousRun read_previous_run(const std::string& dir, const std::string& now_boot_id) {
  PreviousRun r;
  std::ifstream in(dir + "/" + kRunning);
  if (!in) return r;
  r.unclean = true;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    if (key == "pid") {
      r.pid = value;
    } else if (key == "boot_id") {
      r.boot_id = value;
    } else if (key == "fsync") {
      r.fsync_batch = value == "batch";
    }
  }
  r.writes_may_be_lost =
      !r.fsync_batch && (r.boot_id.empty() || now_boot_id.empty() || r.boot_id != now_boot_id);
  return r;
}

bool mark_running(const std::string& dir, bool fsync_batch, const std::string& boot_id,
                  std::string& error) {
  std::ostringstream out;
  out << "pid=" << ::getpid() << "\nboot_id=" << boot_id
      << "\nfsync=" << (fsync_batch ? "batch" : "never") << "\n";
  return write_file_durably(dir, kRunning, out.str(), error);
}

bool mark_stopped(const std::string& dir, std::string& error) {
  const std::string path = dir + "/" + kRunning;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    error = path + ": cannot remove (" + std::strerror(errno) + ")";
    return false;
  }
  return sync_dir(dir, error);
}

std::string log_dir_id(const std::string& dir, const std::string& store_identity, bool renew,
                       std::string& error) {
  if (store_identity.empty()) return "";
  const std::string prefix = store_identity + "+";
  std::string kept = first_line(dir + "/" + kLogDirId);
  std::int64_t generation = 0;
  if (kept.size() > prefix.size() && kept.compare(0, prefix.size(), prefix) == 0) {
    const char* begin = kept.data() + prefix.size();
    const char* end = kept.data() + kept.size();
    auto [p, ec] = std::from_chars(begin, end, generation);
    if (ec != std::errc() || p != end || generation < 1) generation = 0;
  }
  if (renew) {
    ++generation;
    const std::string id = prefix + std::to_string(generation);
    if (!write_file_durably(dir, kLogDirId, id + "\n", error)) return "";
    return id;
  }
  return generation == 0 ? store_identity : prefix + std::to_string(generation);
}

}  // namespace kgw
