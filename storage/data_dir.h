// The files kgw keeps in its data dir beside RocksDB's, and what they say
// about the process that used the dir before this one:
//
//   cluster.id    the cluster id (main.cc makes or takes it)
//   kgw.running   written when a process starts serving, removed when it
//                 stops cleanly (after the store closed): found at start,
//                 it says the previous process ended without a clean
//                 shutdown (kill -9, a crash, an OS crash or power loss),
//                 and names that process's boot id and --fsync mode
//   log_dir.id    the log's identity in the cluster (KIP-903's directory
//                 id), when it is not the store's own: see log_dir_id()
//
// Why the boot id (KIP-966's unclean shutdown, made precise): with
// `--fsync never` an acknowledged write is in the OS's page cache, not yet
// on the disk. A process that dies (kill -9) leaves the page cache to the
// OS, which writes it back: its log is complete. Only an OS crash or power
// loss drops it, and then the machine boots again with a new boot id
// (/proc/sys/kernel/random/boot_id). So a marker from another boot, of a
// process that did not fsync, means the log may have lost its last
// seconds: in a cluster this broker's log is then not the one its ISR and
// ELR memberships were earned with, and it must rejoin them as a replica
// whose disk was wiped does (a new log dir id). Kafka, which cannot tell
// the two apart, treats every unclean shutdown so.
//
// Threads: start-up and shutdown only (blocking file I/O, before the loop
// serves and after it stopped serving).
#pragma once

#include <string>

namespace kgw {

// Writes `content` to `dir`/`name` so that after a crash or power loss the
// file is either absent or whole: a temporary file, fsync, rename over the
// name, fsync of the directory. false and `error` (naming the file and what
// to check) on failure.
bool write_file_durably(const std::string& dir, const std::string& name, const std::string& content,
                        std::string& error);

// This boot of the OS: /proc/sys/kernel/random/boot_id, or $KGW_BOOT_ID
// when set (tests use it to stand for a machine restart; kgw never sets
// it). "" when unreadable.
std::string current_boot_id();

// What kgw.running said at start.
struct PreviousRun {
  bool unclean = false;      // the marker was there
  std::string pid;           // of the process that wrote it ("" unknown)
  std::string boot_id;       // the boot it ran in ("" unknown)
  bool fsync_batch = false;  // it ran with --fsync batch
  // The machine restarted under a process that did not fsync every write:
  // what it acknowledged in its last seconds may be gone.
  bool writes_may_be_lost = false;
  // One line for the log saying which of the cases above it was.
  std::string describe(const std::string& now_boot_id) const;
};

// Reads `dir`/kgw.running (absent: a clean shutdown, or a new data dir).
PreviousRun read_previous_run(const std::string& dir, const std::string& now_boot_id);

// Writes `dir`/kgw.running for this process (durably).
bool mark_running(const std::string& dir, bool fsync_batch, const std::string& boot_id,
                  std::string& error);

// Removes it once the store closed cleanly (and syncs the directory).
bool mark_stopped(const std::string& dir, std::string& error);

// The log dir id this broker registers with (BrokerRegistration::
// log_dir_id): the store's identity, or the one log_dir.id keeps for it
// ("IDENTITY+N"). With `renew` (writes may be lost) a new one, kept in
// log_dir.id before it is returned, so that every later start registers
// it too. A log_dir.id of another store (its RocksDB was replaced) is
// ignored. "" when `store_identity` is "" (unknown: nothing to compare).
std::string log_dir_id(const std::string& dir, const std::string& store_identity, bool renew,
                       std::string& error);

}  // namespace kgw
