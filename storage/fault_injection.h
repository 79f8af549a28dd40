// Fault injection for tests: a RocksDB FileSystem that makes the
// write-ahead log fail or stall on demand, so tests can drive kgw's
// storage-failure paths through real clients.
//
// It is off unless the environment variable KGW_FAULT_INJECTION names a
// directory (tests set it; kgw never does): then, before every write to a
// WAL file (RocksDB's NNNNNN.log),
//   - if DIR/fail exists, the write fails with an I/O error ("injected
//     fault"), as a full or failing disk would make it;
//   - while DIR/stall exists, the write waits (polling every 10 ms): the
//     group commit in progress and everything queued behind it stay
//     unwritten, as on a very slow disk, until the test removes the file or
//     kills the process.
// Only the WAL is affected, which is where every acknowledged write goes
// first; flushes and compactions write normally.
#pragma once

#include <memory>
#include <string>

namespace rocksdb {
class Env;
}

namespace kgw {

// nullptr unless KGW_FAULT_INJECTION is set. The Env wraps the default
// one and must outlive the DB that uses it.
std::unique_ptr<rocksdb::Env> fault_injection_env_from_environment(std::string& control_dir);

}  // namespace kgw
