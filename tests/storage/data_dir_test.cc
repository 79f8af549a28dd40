// The data dir's marker files (storage/data_dir.h): which previous runs
// count as "writes may be lost", and the log dir id that follows from it.
#include "storage/data_dir.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace kgw;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("kgw-data-dir-test-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

}  // namespace

TEST_CASE("no kgw.running: a clean shutdown or a new data dir") {
  TempDir dir;
  PreviousRun r = read_previous_run(dir.str(), "boot-a");
  CHECK_FALSE(r.unclean);
  CHECK_FALSE(r.writes_may_be_lost);
}

TEST_CASE("a marker left behind, by boot and --fsync mode") {
  TempDir dir;
  std::string error;
  struct Case {
    const char* name;
    bool fsync_batch;
    const char* then_boot;
    const char* now_boot;
    bool lost;
  };
  const Case cases[] = {
      {"killed, same boot, fsync never: page cache kept", false, "boot-a", "boot-a", false},
      {"machine restarted, fsync never: last seconds may be gone", false, "boot-a", "boot-b", true},
      {"machine restarted, fsync batch: acknowledged means synced", true, "boot-a", "boot-b",
       false},
      {"no boot id then, fsync never: cannot tell, assume lost", false, "", "boot-b", true},
      {"no boot id now, fsync never: cannot tell, assume lost", false, "boot-a", "", true},
      {"no boot id now, fsync batch", true, "boot-a", "", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    REQUIRE(mark_running(dir.str(), c.fsync_batch, c.then_boot, error));
    PreviousRun r = read_previous_run(dir.str(), c.now_boot);
    CHECK(r.unclean);
    CHECK(r.pid == std::to_string(::getpid()));
    CHECK(r.fsync_batch == c.fsync_batch);
    CHECK(r.writes_may_be_lost == c.lost);
    CHECK(r.describe(c.now_boot).find("without a clean shutdown") != std::string::npos);
  }
  REQUIRE(mark_stopped(dir.str(), error));
  CHECK_FALSE(read_previous_run(dir.str(), "boot-a").unclean);
  // Stopping twice (no marker) is not an error.
  CHECK(mark_stopped(dir.str(), error));
}

TEST_CASE("log dir id: the store's, then a new one kept for every later start") {
  TempDir dir;
  std::string error;
  CHECK(log_dir_id(dir.str(), "store-1", false, error) == "store-1");
  CHECK(log_dir_id(dir.str(), "store-1", true, error) == "store-1+1");
  CHECK(error.empty());
  CHECK(log_dir_id(dir.str(), "store-1", false, error) == "store-1+1");
  CHECK(log_dir_id(dir.str(), "store-1", true, error) == "store-1+2");
  CHECK(log_dir_id(dir.str(), "store-1", false, error) == "store-1+2");
  // Another store in the same dir (RocksDB wiped, the file left): its own.
  CHECK(log_dir_id(dir.str(), "store-2", false, error) == "store-2");
  CHECK(log_dir_id(dir.str(), "store-2", true, error) == "store-2+1");
  // A damaged file counts for nothing.
  { std::ofstream(dir.path / "log_dir.id") << "store-2+x\n"; }
  CHECK(log_dir_id(dir.str(), "store-2", false, error) == "store-2");
  // Unknown store identity: nothing to compare, nothing written.
  CHECK(log_dir_id(dir.str(), "", true, error).empty());
}

TEST_CASE("KGW_BOOT_ID stands for the boot id; else the kernel's") {
  ::unsetenv("KGW_BOOT_ID");
  const std::string real = current_boot_id();
  CHECK_FALSE(real.empty());  // Linux has /proc/sys/kernel/random/boot_id
  ::setenv("KGW_BOOT_ID", "forced", 1);
  CHECK(current_boot_id() == "forced");
  ::unsetenv("KGW_BOOT_ID");
  CHECK(current_boot_id() == real);
}
