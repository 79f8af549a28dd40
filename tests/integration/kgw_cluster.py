"""Start, kill, restart and stop an N-node kgw cluster for integration tests,
through tools/dev/run-cluster.sh (the one script users run too).

Stdlib only. A test does:

    import kgw_cluster
    kgw_cluster.require_etcd()                       # exit 77 (meson: SKIP)
    with kgw_cluster.KgwCluster(3) as cluster:       # or cluster.start() ... cluster.close()
        bootstrap = cluster.bootstrap                # "127.0.0.1:P,127.0.0.1:P+1,..."
        cluster.kill_node(2)                         # SIGKILL node 2's kgw (its etcd dies with it)
        cluster.start_node(2)                        # run-cluster.sh --start-node 2 DIR
        cluster.kill_etcd(1)                         # SIGKILL node 1's etcd member only
        cluster.etcdctl("member", "list")            # etcdctl against every member
        cluster.add_node(rack="r1")                  # run-cluster.sh --add-node DIR: node N+1
        cluster.remove_node(4)                       # run-cluster.sh --remove-node 4 DIR

KgwCluster(n, racks=[...]) gives node i broker.rack racks[i-1] (--racks);
spare=K reserves the ports of K nodes added later (run-cluster.sh puts
node ID > N at P+3N+3(ID-N-1): Kafka, etcd client, etcd peer).

The happy path is: start() picks 3N free consecutive loopback ports
(Kafka P..P+N-1, then the etcd members' client and peer ports), runs
run-cluster.sh N --base-port P --data TMP/cluster with KGW=$KGW (no build),
which returns once the cluster serves; nodes() reads DIR/nodes.tsv. With
wait="members" run-cluster.sh returns once every etcd member is healthy and
every Kafka port accepts, without asking Metadata for all N brokers (what
the default wait="metadata" asks; $KGW_CLUSTER_WAIT overrides the default).
Possible failure modes: run-cluster.sh fails (ClusterError with its output
and the tail of every node's kgw.log), a node does not exit after a signal
within the timeout (ClusterError). Whatever happens, close() (also at exit,
and when meson's timeout sends SIGTERM) stops every node with
run-cluster.sh --stop and removes the temporary dir; the nodes run in their
own sessions, so a harness killed with SIGKILL leaves them running (stop
them with run-cluster.sh --stop on the dir it printed).
"""

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import kgw_harness

SCRIPT = os.path.join(kgw_harness.SOURCE_ROOT, "tools", "dev", "run-cluster.sh")
ETCD = os.environ.get("KGW_ETCD", "/usr/bin/etcd")
ETCDCTL = "/usr/bin/etcdctl"
START_TIMEOUT = 90  # seconds run-cluster.sh may wait for the cluster
EXIT_TIMEOUT = 30.0


class ClusterError(Exception):
    pass


def require_etcd():
    """Exit 77 (meson SKIP) when etcd or etcdctl is not installed."""
    for path in (ETCD, ETCDCTL):
        if not os.access(path, os.X_OK):
            kgw_harness.skip_all(f"{path} is not installed (Debian etcd-server, etcd-client)")


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_range(count):
    """A base port P with P..P+count-1 free a moment ago, below Linux's
    ephemeral range (32768-60999 by default), where outgoing connections
    (etcd's own between members, clients) would take ports from under it."""
    low = 10000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            high = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        high = 32768
    if high - low < 4 * count:
        low, high = 1024, max(high, 1024 + 4 * count)
    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(_port_free(p) for p in range(base, base + count)):
            return base
    raise ClusterError(f"no {count} consecutive free ports found")


def _alive(pid):
    """True if pid runs (a zombie nobody reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


_clusters = []


class KgwCluster:
    def __init__(self, n=3, sets=(), wait=None, name="cluster", racks=None, spare=0):
        self.n = n
        self.sets = list(sets)
        self.racks = list(racks) if racks else None
        self.spare = spare
        self.ids = list(range(1, n + 1))  # the current nodes
        self.ever = list(self.ids)  # every node the dir had (ids are not reused)
        self.wait = wait or os.environ.get("KGW_CLUSTER_WAIT", "metadata")
        self.name = name
        self.root = tempfile.mkdtemp(prefix="kgw-cluster-")
        self.dir = os.path.join(self.root, "cluster")
        self.base_port = None
        self.output = ""  # run-cluster.sh's output, last call
        self.no_member = set()  # nodes added with --no-member
        _clusters.append(self)

    # -- addresses ----------------------------------------------------------

    def _added_port(self, node_id, k):
        return self.base_port + 3 * self.n + 3 * (node_id - self.n - 1) + k

    def port(self, node_id):
        if node_id > self.n:
            return self._added_port(node_id, 0)
        return self.base_port + node_id - 1

    def client_port(self, node_id):
        if node_id > self.n:
            return self._added_port(node_id, 1)
        return self.base_port + self.n + 2 * (node_id - 1)

    def peer_port(self, node_id):
        return self.client_port(node_id) + 1

    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{self.port(i)}" for i in self.ids)

    @property
    def etcd_endpoints(self):
        """The client addresses of the current nodes' members (a --no-member
        node's ports stay unused)."""
        return ",".join(f"127.0.0.1:{self.client_port(i)}" for i in self.ids
                        if i not in self.no_member)

    def node_dir(self, node_id):
        """DIR/node-ID: kgw's data dir, with kgw.log, kgw.pid and etcd's files."""
        return os.path.join(self.dir, f"node-{node_id}")

    def data_dir(self, node_id):
        """kgw's data dir (its etcd member's data, log and pid file inside)."""
        return self.node_dir(node_id)

    # -- lifecycle ----------------------------------------------------------

    def _run(self, *args, timeout=START_TIMEOUT + 60):
        env = dict(os.environ)
        env["KGW"] = kgw_harness.kgw_path()
        env["KGW_CLUSTER_TIMEOUT"] = str(START_TIMEOUT)
        r = subprocess.run([SCRIPT, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=timeout)
        self.output = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise ClusterError(f"run-cluster.sh {' '.join(args)} exited {r.returncode}:\n"
                               f"{self.output}\n{self.logs_tail()}")
        return self.output

    def start(self):
        """Starts the cluster (again, on the same dir and ports, after stop())."""
        if self.base_port is None:
            self.base_port = free_port_range(3 * (self.n + self.spare))
        args = [str(self.n), "--base-port", str(self.base_port), "--data", self.dir,
                "--wait", self.wait]
        if self.racks:
            args += ["--racks", ",".join(self.racks)]
        for s in self.sets:
            args += ["--set", s]
        self._run(*args)
        return self.bootstrap

    def stop(self):
        """run-cluster.sh --stop: SIGTERM to every node."""
        if os.path.isdir(self.dir):
            self._run("--stop", self.dir)

    def start_node(self, node_id):
        self._run("--start-node", str(node_id), self.dir, "--wait", self.wait)

    def add_node(self, rack=None, member=True):
        """run-cluster.sh --add-node DIR [--rack R] [--no-member]: the next
        node id joins the running cluster (its etcd member added first,
        unless member=False); returns the id once every node's Metadata
        lists all current brokers."""
        if len(self.ever) >= self.n + self.spare:
            raise ClusterError(f"no ports reserved for another node (spare={self.spare})")
        args = ["--add-node", self.dir, "--wait", self.wait]
        if rack is not None:
            args += ["--rack", rack]
        if not member:
            args.append("--no-member")
        self._run(*args)
        node_id = self.ever[-1] + 1
        self.ever.append(node_id)
        self.ids.append(node_id)
        if not member:
            self.no_member.add(node_id)
        return node_id

    def remove_node(self, node_id, force=False, move=True):
        """run-cluster.sh --remove-node ID DIR [--force] [--no-move];
        ClusterError (with the script's message) when it refuses."""
        args = ["--remove-node", str(node_id), self.dir]
        if force:
            args.append("--force")
        if not move:
            args.append("--no-move")
        self._run(*args)
        self.ids.remove(node_id)

    def kill_node(self, node_id, sig=signal.SIGKILL, wait=True):
        """Sends `sig` to node_id's kgw and (wait) waits until it is gone."""
        pid = self.kgw_pid(node_id)
        os.kill(pid, sig)
        if wait:
            self._wait_gone(pid, f"node {node_id}'s kgw")
        return pid

    def kill_etcd(self, node_id, sig=signal.SIGKILL):
        """Sends `sig` to node_id's etcd member (kgw restarts it)."""
        pid = self.etcd_pid(node_id)
        os.kill(pid, sig)
        return pid

    def close(self):
        try:
            self.stop()
        except (ClusterError, subprocess.TimeoutExpired):
            # Leave nothing running, whatever the script said.
            for i in self.ever:
                for pid in (self._read_pid(i, "kgw.pid"), self._read_pid(i, "etcd.pid")):
                    if pid and _alive(pid) and self._ours(pid):
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- inspection ---------------------------------------------------------

    def nodes(self):
        """DIR/nodes.tsv as dicts: node_id, kgw_pid, kafka_port, etcd_pid (ints;
        None for a pid not there, e.g. the etcd_pid of a --no-member node)."""
        with open(os.path.join(self.dir, "nodes.tsv")) as f:
            lines = f.read().splitlines()
        header = lines[0].split("\t")
        return [{k: int(v) if v else None for k, v in zip(header, line.split("\t"))}
                for line in lines[1:]]

    def _read_pid(self, node_id, name):
        where = self.data_dir(node_id) if name == "etcd.pid" else self.node_dir(node_id)
        try:
            with open(os.path.join(where, name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _ours(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return self.dir.encode() in f.read()
        except OSError:
            return False

    def kgw_pid(self, node_id):
        return self._read_pid(node_id, "kgw.pid")

    def etcd_pid(self, node_id):
        """The pid of node_id's etcd member now (kgw rewrites etcd.pid on restarts)."""
        return self._read_pid(node_id, "etcd.pid")

    def kgw_alive(self, node_id):
        pid = self.kgw_pid(node_id)
        return pid is not None and _alive(pid) and self._ours(pid)

    def etcd_alive(self, node_id):
        pid = self.etcd_pid(node_id)
        return pid is not None and _alive(pid) and self._ours(pid)

    def _wait_gone(self, pid, what):
        deadline = time.monotonic() + EXIT_TIMEOUT
        while _alive(pid):
            if time.monotonic() > deadline:
                raise ClusterError(f"{what} (pid {pid}) still runs {EXIT_TIMEOUT}s after the signal")
            time.sleep(0.05)

    def etcdctl(self, *args, endpoints=None, timeout=30):
        """Runs etcdctl (API v3) against the members; returns its stdout."""
        cmd = [ETCDCTL, f"--endpoints={endpoints or self.etcd_endpoints}",
               "--command-timeout=5s", *args]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env={**os.environ, "ETCDCTL_API": "3"}, timeout=timeout)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} exited {r.returncode}:\n{out}")
        return out

    def kgw_log(self, node_id):
        try:
            with open(os.path.join(self.node_dir(node_id), "kgw.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def logs_tail(self, lines=30):
        out = []
        for i in self.ever:
            tail = self.kgw_log(i).splitlines()[-lines:]
            out.append(f"---- last {len(tail)} lines of node {i}'s kgw.log ----\n" +
                       "\n".join(tail))
        return "\n".join(out)


class ClusterTestCase(unittest.TestCase):
    """A test class whose tests share one cluster of NODES nodes started
    with SETS (run-cluster.sh --set each), as `self.cluster`."""

    NODES = 3
    SETS = ()

    @classmethod
    def setUpClass(cls):
        cls.cluster = KgwCluster(cls.NODES, sets=cls.SETS)
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def bootstrap(self, nodes=None):
        """The bootstrap list of `nodes` (default: every current node)."""
        return ",".join(f"127.0.0.1:{self.cluster.port(n)}" for n in (nodes or self.cluster.ids))


def _cleanup():
    for c in _clusters:
        c.close()


atexit.register(_cleanup)
