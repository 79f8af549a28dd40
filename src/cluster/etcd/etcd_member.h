// EtcdMember: the etcd member a kgw node runs and supervises as a child
// process in the co-located mode (each kgw node brings its own member of the
// metadata quorum, so a three-node cluster is three kgw commands).
//
// Threads: everything on one libuv loop (the broker's); callbacks run on it.
//
// Happy path: start() spawns `etcd` (uv_spawn, stdout and stderr appended to
// the log file) with the member's name, data dir, client and peer URLs and
// the initial cluster, writes the pid file and returns; etcd serves until
// stop() sends SIGTERM and its exit calls `done`.
//
// Failure modes: the binary cannot be spawned at start -> start() returns
// false with the reason. etcd exits on its own (crash, kill -9, bad flags)
// -> the exit is logged with its code or signal and etcd is started again
// after a backoff of 100 ms doubling to 5 s (back to 100 ms once a run has
// lasted 10 s); each restart is logged and rewrites the pid file; a failed
// respawn is retried the same way. etcd ignores SIGTERM for 5 s -> SIGKILL.
// kgw itself killed with SIGKILL -> the member dies with it (started
// through setpriv --pdeathsig where that exists, so no unsupervised member
// keeps the ports), and a member left over anyway (named in the pid file,
// running with this data dir) is killed by the next start().
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kgw::etcd {

struct EtcdMemberOptions {
  std::string etcd_binary = "/usr/bin/etcd";  // Default: /usr/bin/etcd
  std::string name;                           // etcd --name: kgw-<node.id>
  std::string data_dir;                       // <kgw data dir>/etcd
  std::string log_path;                       // <kgw data dir>/etcd.log, appended to
  std::string pid_path;                       // <kgw data dir>/etcd.pid; "" = none
  std::string host = "127.0.0.1";             // Default: 127.0.0.1 (client and peer URLs)
  int client_port = 2379;                     // Default: 2379
  int peer_port = 2380;                       // Default: 2380
  std::string initial_cluster;                // etcd --initial-cluster
  std::string token = "kgw";                  // etcd --initial-cluster-token; Default: kgw
  std::string cluster_state = "new";          // etcd --initial-cluster-state; Default: new
  std::int64_t min_backoff_ms = 100;          // Default: 100
  std::int64_t max_backoff_ms = 5000;         // Default: 5000
  std::int64_t stop_timeout_ms = 5000;        // SIGTERM -> SIGKILL; Default: 5000
};

class EtcdMember {
 public:
  EtcdMember(uv_loop_t* loop, EtcdMemberOptions options);
  // Without a finished stop(): the child gets SIGKILL and the handles are
  // closed; no callback runs after.
  ~EtcdMember();
  EtcdMember(const EtcdMember&) = delete;
  EtcdMember& operator=(const EtcdMember&) = delete;

  // Spawns etcd; false with `error` set if it cannot be spawned (the binary
  // is missing, the log file cannot be opened). Call once.
  bool start(std::string& error);
  // SIGTERM (SIGKILL after stop_timeout_ms), no more restarts; `done` runs
  // once etcd has exited and every handle is closed.
  void stop(std::function<void()> done);

  // The running etcd's pid; 0 while it is down (between exit and restart).
  int pid() const;
  // Times etcd was started again after an exit.
  std::int64_t restarts() const;
  // "http://host:client_port", the member's client URL.
  std::string client_url() const;
  const EtcdMemberOptions& options() const;

  // The command line start() runs (argv[0] is the binary), for the log and
  // the tests.
  static std::vector<std::string> command(const EtcdMemberOptions& options);

 private:
  struct State;
  State* state_;  // owns the uv handles; freed by their close callbacks
};

}  // namespace kgw::etcd
