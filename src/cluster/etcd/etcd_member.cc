#include "src/cluster/etcd/etcd_member.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/log.h"

namespace kgw::etcd {

namespace {

// A run that lasted this long was a working member: the next exit starts
// the backoff from the beginning again.
constexpr std::uint64_t kHealthyRunMs = 10000;

// Where the parent-death signal comes from: uv_spawn has no hook between
// fork and exec, so util-linux's setpriv sets PR_SET_PDEATHSIG and execs
// etcd (same pid).
constexpr const char* kSetpriv = "/usr/bin/setpriv";

std::string url(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string describe_exit(std::int64_t exit_status, int term_signal) {
  if (term_signal != 0) {
    return std::string("was killed by signal ") + std::to_string(term_signal) + " (" +
           strsignal(term_signal) + ")";
  }
  return "exited with code " + std::to_string(exit_status);
}

// The pid file is for operators and scripts (run-cluster.sh, the tests):
// written whole through a rename, not fsynced (a stale one after a power
// loss names a process that is gone).
void write_pid_file(const std::string& path, int pid) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pid << "\n";
    if (!out) {
      LOG_WARN("etcd", "cannot write %s: %s", tmp.c_str(), std::strerror(errno));
      return;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    LOG_WARN("etcd", "cannot rename %s to %s: %s", tmp.c_str(), path.c_str(), std::strerror(errno));
  }
}

// True if `pid` runs etcd on `data_dir` (its command line has
// "--data-dir DATA_DIR"), i.e. it is this node's member left over from a
// kgw that died without stopping it.
bool is_our_member(int pid, const std::string& data_dir) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!in) return false;
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--data-dir" && args[i + 1] == data_dir) return true;
  }
  return false;
}

bool process_gone(int pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  // A zombie (nobody reaps it in some containers) holds no ports.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const std::size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// A member a killed kgw left running (only where setpriv is missing, or if
// it was reparented before the signal) holds the ports and the data dir;
// it is unsupervised, so it goes. This blocks for at most 2 s, once, at
// start-up before the loop serves anything.
void kill_leftover(const EtcdMemberOptions& o) {
  if (o.pid_path.empty()) return;
  std::ifstream in(o.pid_path);
  int pid = 0;
  if (!(in >> pid) || pid <= 1 || !is_our_member(pid, o.data_dir)) return;
  LOG_WARN("etcd", "etcd member %s left running by an earlier kgw (pid %d): killing it",
           o.name.c_str(), pid);
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 200 && !process_gone(pid); ++i) ::usleep(10000);
}

}  // namespace

struct EtcdMember::State {
  uv_loop_t* loop = nullptr;
  EtcdMemberOptions opts;
  uv_process_t process{};
  uv_timer_t timer{};  // the restart backoff, then (stopping) the SIGKILL deadline
  bool process_open = false;
  bool running = false;
  bool stopping = false;
  bool detached = false;  // the EtcdMember is gone
  bool timer_closed = false;
  int pid = 0;
  std::int64_t restarts = 0;
  std::int64_t backoff_ms = 0;
  std::uint64_t started_at_ms = 0;
  std::function<void()> done;

  bool spawn(std::string& error);
  void schedule_restart();
  void finish_if_idle();
};

std::vector<std::string> EtcdMember::command(const EtcdMemberOptions& o) {
  const std::string client = url(o.host, o.client_port);
  const std::string peer = url(o.host, o.peer_port);
  return {o.etcd_binary, "--name", o.name, "--data-dir", o.data_dir, "--listen-client-urls", client,
          "--advertise-client-urls", client, "--listen-peer-urls", peer,
          "--initial-advertise-peer-urls", peer, "--initial-cluster", o.initial_cluster,
          "--initial-cluster-token", o.token,
          // etcd reads the initial flags only while its data dir is empty,
          // so the first start's state is right for every later start too.
          "--initial-cluster-state", o.cluster_state, "--logger", "zap", "--log-outputs", "stderr"};
}

bool EtcdMember::State::spawn(std::string& error) {
  if (::access(opts.etcd_binary.c_str(), X_OK) != 0) {
    error = "cannot run etcd: " + opts.etcd_binary + ": " + std::strerror(errno) +
            " (install the Debian package etcd-server, or set KGW_ETCD)";
    return false;
  }
  const int log_fd = ::open(opts.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    error = "cannot open the etcd log " + opts.log_path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<std::string> args = command(opts);
  if (::access(kSetpriv, X_OK) == 0) {
    args.insert(args.begin(), {kSetpriv, "--pdeathsig", "KILL", "--"});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = log_fd;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = log_fd;
  uv_process_options_t po{};
  po.file = argv[0];
  po.args = argv.data();
  po.stdio = stdio;
  po.stdio_count = 3;
  po.exit_cb = [](uv_process_t* p, std::int64_t exit_status, int term_signal) {
    auto* s = static_cast<State*>(p->data);
    const int pid = s->pid;
    s->running = false;
    s->pid = 0;
    if (s->stopping) {
      LOG_INFO("etcd", "etcd member %s (pid %d) stopped: it %s", s->opts.name.c_str(), pid,
               describe_exit(exit_status, term_signal).c_str());
    } else {
      // Backoff for the next start, reset after a healthy run.
      if (uv_now(s->loop) - s->started_at_ms >= kHealthyRunMs) s->backoff_ms = 0;
      s->backoff_ms = s->backoff_ms == 0 ? s->opts.min_backoff_ms
                                         : std::min(s->backoff_ms * 2, s->opts.max_backoff_ms);
      LOG_WARN("etcd", "etcd member %s (pid %d) %s; restarting it in %lld ms (log: %s)",
               s->opts.name.c_str(), pid, describe_exit(exit_status, term_signal).c_str(),
               static_cast<long long>(s->backoff_ms), s->opts.log_path.c_str());
    }
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) {
      auto* s = static_cast<State*>(h->data);
      s->process_open = false;
      if (s->stopping) {
        s->finish_if_idle();
      } else {
        s->schedule_restart();
      }
    });
  };
  process.data = this;
  const int rc = uv_spawn(loop, &process, &po);
  ::close(log_fd);  // the child has its own copy
  if (rc != 0) {
    error = "cannot start " + opts.etcd_binary + ": " + uv_strerror(rc);
    // A failed uv_spawn leaves the handle initialized: it is closed.
    process_open = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&process), [](uv_handle_t* h) {
      auto* s = static_cast<State*>(h->data);
      s->process_open = false;
      if (s->stopping) {
        s->finish_if_idle();
      } else if (s->restarts > 0) {
        s->schedule_restart();
      }
    });
    return false;
  }
  process_open = true;
  running = true;
  pid = process.pid;
  started_at_ms = uv_now(loop);
  write_pid_file(opts.pid_path, pid);
  return true;
}

void EtcdMember::State::schedule_restart() {
  if (backoff_ms == 0) backoff_ms = opts.min_backoff_ms;
  uv_timer_start(
      &timer,
      [](uv_timer_t* t) {
        auto* s = static_cast<State*>(t->data);
        if (s->stopping) return;
        ++s->restarts;
        std::string error;
        if (s->spawn(error)) {
          LOG_INFO("etcd", "etcd member %s restarted: pid %d (restart %lld)", s->opts.name.c_str(),
                   s->pid, static_cast<long long>(s->restarts));
          return;
        }
        s->backoff_ms = std::min(s->backoff_ms * 2, s->opts.max_backoff_ms);
        LOG_ERROR("etcd", "etcd member %s: %s; trying again in %lld ms", s->opts.name.c_str(),
                  error.c_str(), static_cast<long long>(s->backoff_ms));
        // A uv_spawn failure retries from its close callback.
        if (!s->process_open) s->schedule_restart();
      },
      static_cast<std::uint64_t>(backoff_ms), 0);
}

void EtcdMember::State::finish_if_idle() {
  if (!stopping || process_open || timer_closed ||
      uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer))) {
    return;
  }
  uv_timer_stop(&timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) {
    auto* s = static_cast<State*>(h->data);
    s->timer_closed = true;
    std::function<void()> done = std::move(s->done);
    if (s->detached) {
      delete s;
      return;
    }
    // `done` may destroy the EtcdMember, which then frees the state.
    if (done) done();
  });
}

EtcdMember::EtcdMember(uv_loop_t* loop, EtcdMemberOptions options) : state_(new State) {
  state_->loop = loop;
  state_->opts = std::move(options);
  uv_timer_init(loop, &state_->timer);
  state_->timer.data = state_;
}

EtcdMember::~EtcdMember() {
  State* s = state_;
  if (s->timer_closed) {
    delete s;
    return;
  }
  s->detached = true;
  s->done = nullptr;
  if (!s->stopping) {
    s->stopping = true;
    if (s->running) uv_process_kill(&s->process, SIGKILL);
  }
  s->finish_if_idle();
}

bool EtcdMember::start(std::string& error) {
  kill_leftover(state_->opts);
  if (!state_->spawn(error)) return false;
  std::ostringstream cmd;
  for (const std::string& a : command(state_->opts)) cmd << (cmd.tellp() > 0 ? " " : "") << a;
  LOG_INFO("etcd", "etcd member %s started: pid %d, client %s, log %s: %s",
           state_->opts.name.c_str(), state_->pid, client_url().c_str(),
           state_->opts.log_path.c_str(), cmd.str().c_str());
  return true;
}

void EtcdMember::stop(std::function<void()> done) {
  State* s = state_;
  if (s->stopping) return;
  s->stopping = true;
  s->done = std::move(done);
  uv_timer_stop(&s->timer);
  if (s->running) {
    LOG_INFO("etcd", "stopping etcd member %s (pid %d)", s->opts.name.c_str(), s->pid);
    uv_process_kill(&s->process, SIGTERM);
    uv_timer_start(
        &s->timer,
        [](uv_timer_t* t) {
          auto* s = static_cast<State*>(t->data);
          if (!s->running) return;
          LOG_WARN("etcd", "etcd member %s (pid %d) ignored SIGTERM for %lld ms: SIGKILL",
                   s->opts.name.c_str(), s->pid, static_cast<long long>(s->opts.stop_timeout_ms));
          uv_process_kill(&s->process, SIGKILL);
        },
        static_cast<std::uint64_t>(s->opts.stop_timeout_ms), 0);
  }
  s->finish_if_idle();
}

int EtcdMember::pid() const {
  return state_->pid;
}

std::int64_t EtcdMember::restarts() const {
  return state_->restarts;
}

std::string EtcdMember::client_url() const {
  return url(state_->opts.host, state_->opts.client_port);
}

const EtcdMemberOptions& EtcdMember::options() const {
  return state_->opts;
}

}  // namespace kgw::etcd
