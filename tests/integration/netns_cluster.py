"""An N-node kgw cluster whose nodes live in network namespaces of their
own, so a test can cut one off the network (a partition) and heal it.

Root only (exit 77 otherwise, or when `ip netns` does not work). A test does:

    import netns_cluster
    netns_cluster.require_netns()                    # exit 77 (meson: SKIP)
    with netns_cluster.NetnsCluster(3) as cluster:
        cluster.addr(2)                              # "10.77.X.2:9092", reachable from here
        cluster.isolate(1)                           # node 1's link down: it reaches no one
        cluster.heal(1)
        netns_cluster.in_netns(cluster.ns(1), fn)    # fn() in a thread inside node 1's namespace

Layout (names carry the test's pid, so parallel tests never collide;
"kgwp<pid>" is the prefix of every name): a bridge kgwp<pid>b in the root
namespace with the address 10.77.X.254/24 (clients run here, through the
bridge), and per node a namespace kgwp<pid>-<id> holding one end of a veth
pair (renamed eth0, address 10.77.X.<id>/24) whose other end,
kgwp<pid>v<id>, is a port of the bridge. Each node is the kgw command
tools/dev/run-cluster.sh runs (the same settings: node.id, the initial
cluster, its token, the member's ports, every member's endpoint), with
every address its namespace's instead of 127.0.0.1: Kafka on
10.77.X.<id>:9092, its etcd member on 10.77.X.<id>:2379 (client) and
:2380 (peer); run with `ip netns exec`, in a session of its own.

A partition takes the node's bridge port down (`ip link set kgwp<pid>v<id>
down`): its packets go nowhere, nothing is refused, connections already
open go silent (what a cut cable or a blackholed host does). heal() takes
it up again.

Failure modes: setting up the network fails (NetnsError with the command's
output) or a node does not serve Metadata listing all N brokers within
START_TIMEOUT (NetnsError with the tail of every kgw.log). Whatever
happens, close() (also at exit, on SIGTERM from meson's timeout) kills the
nodes (SIGTERM, SIGKILL after EXIT_TIMEOUT) and deletes the namespaces, the
veths and the bridge; KGW_NETNS_KEEP_LOGS=DIR keeps a copy of every node's kgw.log and etcd.log
there. cleanup_leftovers() deletes what a harness killed
with SIGKILL left behind (namespaces and links with the "kgwp" prefix whose
pid no longer runs).
"""

import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import kgw_cluster
import kgw_harness

PREFIX = "kgwp"
KAFKA_PORT = 9092
CLIENT_PORT = 2379
PEER_PORT = 2380
START_TIMEOUT = 90.0
EXIT_TIMEOUT = 30.0
CLONE_NEWNET = 0x40000000


class NetnsError(Exception):
    pass


def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    if check and r.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)} exited {r.returncode}: {out.strip()}")
    return out


def require_netns():
    """Exit 77 (meson SKIP) unless we are root, etcd is installed and a
    network namespace can be made and removed."""
    kgw_cluster.require_etcd()
    if os.geteuid() != 0:
        kgw_harness.skip_all("network namespaces need root (run the test as root)")
    if shutil.which("ip") is None:
        kgw_harness.skip_all("the ip command (iproute2) is not installed")
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "exec", probe, "ip", "link", "set", "lo", "up")
    except (NetnsError, OSError, subprocess.TimeoutExpired) as e:
        kgw_harness.skip_all(f"`ip netns` does not work here: {e}")
    finally:
        _ip("netns", "delete", probe, check=False)


def _pid_alive(pid):
    return os.path.exists(f"/proc/{pid}")


def cleanup_leftovers():
    """Deletes namespaces and links named kgwp<pid>... whose pid is gone
    (a harness killed before its close())."""
    names = re.findall(r"^(\S+)", _ip("netns", "list", check=False), re.M)
    names += re.findall(r"^\d+: ([^:@\s]+)", _ip("-o", "link", "show", check=False), re.M)
    for name in names:
        m = re.match(rf"{PREFIX}(\d+)", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        if name.startswith(f"{PREFIX}{m.group(1)}-"):
            _kill_netns_processes(name)
            _ip("netns", "delete", name, check=False)
        else:
            _ip("link", "delete", name, check=False)


def _kill_netns_processes(ns):
    out = _ip("netns", "pids", ns, check=False)
    for pid in out.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ValueError, OSError):
            pass


def in_netns(ns, fn, timeout=120):
    """Runs fn() in a thread that entered network namespace `ns` (a
    namespace is per thread; sockets keep the one they were made in) and
    returns what it returned or raises what it raised."""
    libc = ctypes.CDLL(None, use_errno=True)
    result = {}

    def run():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as e:  # handed to the caller
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"{fn} in {ns} still runs after {timeout} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


_clusters = []


class NetnsCluster:
    def __init__(self, n=3, sets=()):
        self.n = n
        self.sets = list(sets)
        self.tag = f"{PREFIX}{os.getpid()}"
        self.subnet = None  # "10.77.X"
        self.root = tempfile.mkdtemp(prefix="kgw-netns-")
        self.procs = {}  # node id -> Popen
        self.isolated = set()
        self.bridge = f"{self.tag}b"
        _clusters.append(self)

    # -- names and addresses ------------------------------------------------

    def ns(self, node_id):
        return f"{self.tag}-{node_id}"

    def port_link(self, node_id):
        """The node's bridge port (the root namespace's end of its veth)."""
        return f"{self.tag}v{node_id}"

    def ip(self, node_id):
        return f"{self.subnet}.{node_id}"

    def addr(self, node_id):
        return f"{self.ip(node_id)}:{KAFKA_PORT}"

    @property
    def bootstrap(self):
        return ",".join(self.addr(i) for i in range(1, self.n + 1))

    def node_dir(self, node_id):
        return os.path.join(self.root, f"node-{node_id}")

    # kgw.log under node_dir(), as KgwCluster keeps it.
    kgw_log = kgw_cluster.KgwCluster.kgw_log
    logs_tail = kgw_cluster.KgwCluster.logs_tail

    # -- the network ----------------------------------------------------------

    def _pick_subnet(self):
        used = _ip("-o", "-4", "addr", "show", check=False)
        start = os.getpid() % 250
        for k in range(250):
            subnet = f"10.77.{(start + k) % 250 + 1}"
            if f" {subnet}." not in used:
                return subnet
        raise NetnsError("no free 10.77.X.0/24 subnet")

    def _make_network(self):
        cleanup_leftovers()
        self.subnet = self._pick_subnet()
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(1, self.n + 1):
            ns, port = self.ns(i), self.port_link(i)
            _ip("netns", "add", ns)
            _ip("link", "add", port, "type", "veth", "peer", "name", f"{self.tag}p{i}")
            _ip("link", "set", f"{self.tag}p{i}", "netns", ns)
            _ip("link", "set", port, "master", self.bridge)
            _ip("link", "set", port, "up")
            inside = ["netns", "exec", ns, "ip"]
            _ip(*inside, "link", "set", f"{self.tag}p{i}", "name", "eth0")
            _ip(*inside, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")
            _ip(*inside, "link", "set", "lo", "up")

    def isolate(self, node_id):
        """Cuts node_id off: its bridge port goes down, its packets are lost."""
        _ip("link", "set", self.port_link(node_id), "down")
        self.isolated.add(node_id)

    def heal(self, node_id):
        _ip("link", "set", self.port_link(node_id), "up")
        self.isolated.discard(node_id)

    # -- nodes --------------------------------------------------------------

    def node_command(self, node_id):
        """tools/dev/run-cluster.sh's node_command, on the namespace's address."""
        initial = ",".join(f"kgw-{i}=http://{self.ip(i)}:{PEER_PORT}" for i in range(1, self.n + 1))
        endpoints = ",".join(f"{self.ip(i)}:{CLIENT_PORT}" for i in range(1, self.n + 1))
        cmd = [kgw_harness.kgw_path(), "--listen", self.addr(node_id),
               "--data-dir", self.node_dir(node_id),
               "--set", f"node.id={node_id}",
               "--set", f"metadata.etcd.initial.cluster={initial}",
               "--set", f"metadata.etcd.initial.cluster.token=kgw-{self.tag}",
               "--set", f"metadata.etcd.member.host={self.ip(node_id)}",
               "--set", f"metadata.etcd.member.client.port={CLIENT_PORT}",
               "--set", f"metadata.etcd.member.peer.port={PEER_PORT}",
               "--set", f"metadata.etcd.endpoints={endpoints}"]
        for s in self.sets:
            cmd += ["--set", s]
        return cmd

    def start_node(self, node_id):
        os.makedirs(self.node_dir(node_id), exist_ok=True)
        log = open(os.path.join(self.node_dir(node_id), "kgw.log"), "ab")
        try:
            self.procs[node_id] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(node_id), *self.node_command(node_id)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            log.close()

    def start(self):
        try:
            self._make_network()
            for i in range(1, self.n + 1):
                self.start_node(i)
            self.wait_serving(range(1, self.n + 1))
        except BaseException:
            self.close()
            raise
        return self.bootstrap

    def missing(self, node_id):
        """"" when node_id's Metadata lists every broker, else what is wrong."""
        from cluster_checks import broker_metadata
        try:
            md = broker_metadata(self.addr(node_id), timeout=3)
        except (OSError, ValueError) as e:
            return f"Metadata failed ({e})"
        want = set(range(1, self.n + 1))
        got = set(md["brokers"])
        return "" if got == want else f"lists brokers {sorted(got)}, not {sorted(want)}"

    def wait_serving(self, ids, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            for i in ids:
                if self.procs[i].poll() is not None:
                    raise NetnsError(f"node {i}'s kgw exited {self.procs[i].returncode}\n"
                                     f"{self.logs_tail()}")
            bad = {i: m for i in ids if (m := self.missing(i))}
            if not bad:
                return
            if time.monotonic() > deadline:
                raise NetnsError(f"after {timeout} s: {bad}\n{self.logs_tail()}")
            time.sleep(0.3)

    def kgw_pid(self, node_id):
        return self.procs[node_id].pid

    def stop_node(self, node_id, sig=signal.SIGTERM):
        p = self.procs.get(node_id)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(EXIT_TIMEOUT)

    def close(self):
        if self in _clusters:
            _clusters.remove(self)
        for i in list(self.procs):
            try:
                self.stop_node(i)
            except (OSError, subprocess.TimeoutExpired) as e:
                print(f"netns_cluster: stopping node {i}: {e}", file=sys.stderr)
        for i in range(1, self.n + 1):
            # Anything left in the namespace (an etcd member kgw could not stop).
            _kill_netns_processes(self.ns(i))
            _ip("netns", "delete", self.ns(i), check=False)
            _ip("link", "delete", self.port_link(i), check=False)
        _ip("link", "delete", self.bridge, check=False)
        keep = os.environ.get("KGW_NETNS_KEEP_LOGS")
        if keep:
            for i in range(1, self.n + 1):
                for name in ("kgw.log", "etcd.log"):
                    src = os.path.join(self.node_dir(i), name)
                    if os.path.exists(src):
                        os.makedirs(keep, exist_ok=True)
                        shutil.copy(src, os.path.join(keep, f"node-{i}-{name}"))
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _cleanup():
    for c in list(_clusters):
        c.close()


# kgw_harness turns meson's SIGTERM into an exit, so this runs then too.
atexit.register(_cleanup)

